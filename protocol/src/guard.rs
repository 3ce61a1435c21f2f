//! Last-resort panic guard around yrs calls that process client bytes.
//!
//! `decode_frame` validates everything it can before yrs sees a byte, and yrs itself returns
//! `Result` for malformed input. But yrs is a large CRDT engine and a panic on some crafted update
//! would otherwise take down the task (and, with `panic = "abort"`, the process) for every
//! document on the node. Catching it here turns it into one rejected client.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, turning a panic into `Err` with the panic message.
///
/// `AssertUnwindSafe` is acceptable because callers discard (or report as invalid) whatever the
/// closure was doing; a document left half-updated by a panicking apply is no worse than yrs' own
/// behaviour on a failed apply, which is not transactional either.
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic payload".to_owned());
        format!("yrs panicked: {detail}")
    })
}

#[cfg(test)]
mod tests {
    use super::guard;

    #[test]
    fn panic_becomes_error_with_message() {
        let r: Result<(), String> = guard(|| panic!("boom {}", 42));
        assert_eq!(r, Err("yrs panicked: boom 42".to_owned()));
        assert_eq!(guard(|| 7), Ok(7));
    }
}
