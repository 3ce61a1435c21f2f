//! A strict cursor over lib0-encoded bytes.
//!
//! yrs' own reader accepts 11-byte varints with silent wrap-around and reports every shortage as
//! `EndOfBuffer`, which its `MessageReader` then treats as "no more messages". We need to tell a
//! cut frame from a finished one and must check each length prefix against what is left before
//! anything allocates, so framing is walked with this cursor first.

use crate::error::ProtocolError;

/// The longest lib0 varint that can hold a u64 (10 × 7 bits ≥ 64).
const MAX_VARINT_BYTES: usize = 10;

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Reads an unsigned lib0 varint: 7 bits per byte, least significant group first.
    pub(crate) fn read_varuint(&mut self) -> Result<u64, ProtocolError> {
        let mut value: u64 = 0;
        for i in 0..MAX_VARINT_BYTES {
            let byte = *self.buf.get(self.pos).ok_or(ProtocolError::Truncated)?;
            self.pos += 1;
            // The 10th byte holds bit 63 only; anything more would overflow a u64.
            if i == MAX_VARINT_BYTES - 1 && byte > 1 {
                return Err(ProtocolError::InvalidVarint);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        // Unreachable in practice: a 10th byte with the continuation bit is > 1 and was rejected.
        Err(ProtocolError::InvalidVarint)
    }

    /// Reads a length-prefixed byte string, checking the prefix against the remaining bytes
    /// before slicing, so a forged prefix can neither allocate nor read out of bounds.
    pub(crate) fn read_len_prefixed(&mut self) -> Result<&'a [u8], ProtocolError> {
        let declared = self.read_varuint()?;
        let available = self.remaining();
        let len = usize::try_from(declared)
            .ok()
            .filter(|&len| len <= available)
            .ok_or(ProtocolError::LengthOverflow {
                declared,
                available,
            })?;
        let bytes = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::encoding::write::Write;

    #[test]
    fn varints_match_yrs_encoding() {
        for v in [0u64, 1, 127, 128, 300, 1 << 32, (1 << 53) - 1, u64::MAX] {
            let mut buf = Vec::new();
            buf.write_var(v);
            let mut r = Reader::new(&buf);
            assert_eq!(r.read_varuint(), Ok(v));
            assert!(r.is_empty());
        }
    }

    #[test]
    fn rejects_overlong_and_overflowing_varints() {
        assert_eq!(
            Reader::new(&[0xff; 11]).read_varuint(),
            Err(ProtocolError::InvalidVarint)
        );
        // Ten bytes whose last one sets bit 64.
        let mut overflow = vec![0xff; 9];
        overflow.push(0x02);
        assert_eq!(
            Reader::new(&overflow).read_varuint(),
            Err(ProtocolError::InvalidVarint)
        );
        assert_eq!(
            Reader::new(&[0x80, 0x80]).read_varuint(),
            Err(ProtocolError::Truncated)
        );
    }

    #[test]
    fn length_prefix_is_checked_before_slicing() {
        let mut r = Reader::new(&[0x05, 1, 2]);
        assert_eq!(
            r.read_len_prefixed(),
            Err(ProtocolError::LengthOverflow {
                declared: 5,
                available: 2
            })
        );
        let mut r = Reader::new(&[0x02, 1, 2, 9]);
        assert_eq!(r.read_len_prefixed(), Ok(&[1u8, 2][..]));
        assert_eq!(r.remaining(), 1);
    }
}
