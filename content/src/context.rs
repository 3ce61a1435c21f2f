//! What one rendering needs: the caller's read transaction, and the marked copy of the document
//! built once, the first time a text needs it.

use std::cell::OnceCell;

use yrs::ReadTxn;

use crate::shadow::Shadow;

pub(crate) struct Ctx<'a, T: ReadTxn> {
    pub txn: &'a T,
    /// Built on first use: only a text with a chunk under two or more attributes needs it, and
    /// building it costs about as much as loading the document once more.
    shadow: OnceCell<Option<Shadow>>,
}

impl<'a, T: ReadTxn> Ctx<'a, T> {
    pub(crate) fn new(txn: &'a T) -> Self {
        Ctx {
            txn,
            shadow: OnceCell::new(),
        }
    }

    pub(crate) fn shadow(&self) -> Option<&Shadow> {
        self.shadow.get_or_init(|| Shadow::build(self.txn)).as_ref()
    }
}
