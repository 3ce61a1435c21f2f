//! A list-like type's items (an array's values, an XML fragment's or element's children), read
//! without letting yrs loop forever.
//!
//! yrs 0.28 reads a sequence through `BlockIter::slice`, which never returns when the sequence
//! holds a string item whose characters are not one unit each in the document's offset kind
//! (any non-ASCII character with `OffsetKind::Bytes`, the server's; one outside the BMP with
//! UTF-16): it reads characters but counts units. A Yjs client never puts characters into an
//! array or an XML fragment, but a hostile update can (two updates naming the same root, one as
//! an array, one as a text), and rendering that document would hang the thread for good. Such a
//! sequence is not one this crate can render: it reads as empty. (A sequence whose characters
//! are all ASCII reads as before: one unit each in every offset kind.)

use yrs::branch::BranchPtr;
use yrs::{Array, ArrayRef, GetString, Out, ReadTxn, TextRef};

/// The visible items of the list-like `branch`; none if it also holds characters that are not
/// ASCII (see the module's doc: an ASCII character is one unit in every offset kind, and those
/// read as yrs always read them).
pub(crate) fn items<T: ReadTxn>(txn: &T, branch: BranchPtr) -> Vec<Out> {
    if !iterable(txn, branch) {
        return Vec::new();
    }
    ArrayRef::from(branch).iter(txn).collect()
}

/// Whether yrs' iterator returns on the list-like `branch`: it holds no character that is not
/// ASCII (see the module's doc).
pub(crate) fn iterable<T: ReadTxn>(txn: &T, branch: BranchPtr) -> bool {
    // `get_string` walks the items themselves, not through the iterator that hangs.
    TextRef::from(branch).get_string(txn).is_ascii()
}
