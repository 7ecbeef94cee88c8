//! A bounded walk over a parquet footer (thrift compact protocol) before the parquet crate
//! parses it.
//!
//! parquet 60's thrift skipper trusts the element counts it reads: a 16-byte footer declaring
//! a list of billions of booleans (which it skips without consuming a byte each) kept it busy
//! past the fuzzer's 10 s timeout, and a Lambda would spend its whole timeout on that object
//! on every delivery until the message reached the dead-letter queue.
//! Every element of a container takes at least one byte on the wire, so a container that
//! declares more elements than bytes remain is corrupt. This walk checks that for every
//! container, consumes at least one byte per element, and bounds the nesting depth, so it
//! ends in time linear in the footer's length.
//!
//! It follows the types the footer declares. parquet reads the fields it knows by id,
//! whatever type their header declares, so a footer whose declared types disagree with the
//! parquet schema is read along another path, which this walk cannot follow
//! (`fuzz/regressions/parquet_footer/thrift-skip-typed-read-bool-map-hang`). That one is fixed
//! in the vendored parquet crate (`vendor/README.md`), whose skipper now consumes a byte per
//! boolean element; this walk stays as a first, cheap refusal that does not depend on it.

use std::fmt;

/// Why a footer was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FooterCorrupt {
    /// Byte offset in the footer where the walk stopped.
    pub offset: usize,
    pub reason: &'static str,
}

impl fmt::Display for FooterCorrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at footer byte {}", self.reason, self.offset)
    }
}

/// Deeper than any parquet schema's metadata (FileMetaData > RowGroup > ColumnChunk >
/// ColumnMetaData > Statistics is five levels).
const MAX_DEPTH: u32 = 64;

const STOP: u8 = 0;
const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;
const UUID: u8 = 13;

/// Checks that `footer` (the thrift `FileMetaData`, without the length and magic) is one
/// struct whose containers fit in its bytes.
pub fn check_footer(footer: &[u8]) -> Result<(), FooterCorrupt> {
    let mut w = Walk {
        bytes: footer,
        at: 0,
    };
    w.structure(0)
}

struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Walk<'_> {
    fn corrupt(&self, reason: &'static str) -> FooterCorrupt {
        FooterCorrupt {
            offset: self.at,
            reason,
        }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn byte(&mut self) -> Result<u8, FooterCorrupt> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| self.corrupt("footer ends inside a value"))?;
        self.at += 1;
        Ok(b)
    }

    fn skip(&mut self, n: usize) -> Result<(), FooterCorrupt> {
        if n > self.remaining() {
            return Err(self.corrupt("a value runs past the footer's end"));
        }
        self.at += n;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, FooterCorrupt> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift.min(63);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.corrupt("a varint longer than 10 bytes"))
    }

    /// A count that must fit: each element takes at least `min_bytes` bytes.
    fn count(&self, n: u64, min_bytes: u64) -> Result<usize, FooterCorrupt> {
        if n.saturating_mul(min_bytes) > self.remaining() as u64 {
            return Err(self.corrupt("a container declares more elements than bytes remain"));
        }
        Ok(n as usize)
    }

    fn structure(&mut self, depth: u32) -> Result<(), FooterCorrupt> {
        if depth > MAX_DEPTH {
            return Err(self.corrupt("structs nested too deeply"));
        }
        loop {
            let header = self.byte()?;
            let kind = header & 0x0f;
            if kind == STOP {
                return Ok(());
            }
            if header >> 4 == 0 {
                // A full field id follows (zigzag i16).
                self.varint()?;
            }
            match kind {
                // A boolean field carries its value in the header.
                BOOL_TRUE | BOOL_FALSE => {}
                _ => self.value(kind, depth)?,
            }
        }
    }

    fn value(&mut self, kind: u8, depth: u32) -> Result<(), FooterCorrupt> {
        match kind {
            // Inside containers, booleans are one byte each.
            BOOL_TRUE | BOOL_FALSE | BYTE => self.skip(1),
            I16 | I32 | I64 => self.varint().map(|_| ()),
            DOUBLE => self.skip(8),
            UUID => self.skip(16),
            BINARY => {
                let n = self.varint()?;
                let n = self.count(n, 1)?;
                self.skip(n)
            }
            LIST | SET => {
                let header = self.byte()?;
                let element = header & 0x0f;
                let n = match header >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                let n = self.count(n, 1)?;
                for _ in 0..n {
                    self.element(element, depth)?;
                }
                Ok(())
            }
            MAP => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                let types = self.byte()?;
                let n = self.count(n, 2)?;
                for _ in 0..n {
                    self.element(types >> 4, depth)?;
                    self.element(types & 0x0f, depth)?;
                }
                Ok(())
            }
            STRUCT => self.structure(depth + 1),
            _ => Err(self.corrupt("an unknown thrift type")),
        }
    }

    /// A container element: like a value, but never empty on the wire.
    fn element(&mut self, kind: u8, depth: u32) -> Result<(), FooterCorrupt> {
        if kind == STOP {
            return Err(self.corrupt("a container of an unknown thrift type"));
        }
        let before = self.at;
        self.value(kind, depth + 1)?;
        debug_assert!(self.at > before, "every element consumes a byte");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footer_of(path: &std::path::Path) -> Vec<u8> {
        let data = std::fs::read(path).unwrap();
        let n = data.len();
        let len = u32::from_le_bytes(data[n - 8..n - 4].try_into().unwrap()) as usize;
        data[n - 8 - len..n - 8].to_vec()
    }

    #[test]
    fn real_footers_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/security-lake-samples");
        let mut checked = 0;
        for entry in walk(&dir) {
            if entry.extension().is_some_and(|e| e == "parquet") {
                let footer = footer_of(&entry);
                assert_eq!(check_footer(&footer), Ok(()), "{}", entry.display());
                checked += 1;
            }
        }
        assert!(checked > 0, "no sample objects under {}", dir.display());
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    out.extend(walk(&p));
                } else {
                    out.push(p);
                }
            }
        }
        out
    }

    #[test]
    fn a_list_longer_than_the_footer_is_refused_at_once() {
        // The fuzzer's first hang (fuzz/regressions/parquet_footer): field 1 a list (0x19), a
        // varint size of about 2^31 booleans (0xf1), then almost nothing.
        let footer = [0x19, 0xf1, 0xff, 0xff, 0xff, 0x07, 0x00];
        let e = check_footer(&footer).unwrap_err();
        assert_eq!(
            e.reason,
            "a container declares more elements than bytes remain"
        );
        // As many booleans as bytes: fine.
        assert_eq!(check_footer(&[0x19, 0x31, 1, 2, 1, 0x00]), Ok(()));
    }

    #[test]
    fn truncated_unknown_and_deep_footers_are_refused() {
        assert!(check_footer(&[]).is_err());
        // A binary field whose length runs past the end.
        assert!(check_footer(&[0x18, 0x20, b'a']).is_err());
        // Type 14 does not exist.
        assert!(check_footer(&[0x1e, 0x00]).is_err());
        // 100 nested structs.
        let mut deep = vec![0x1c; 100];
        deep.extend(vec![0x00; 101]);
        assert_eq!(
            check_footer(&deep).unwrap_err().reason,
            "structs nested too deeply"
        );
        // A map of 3 entries in 4 bytes.
        assert!(check_footer(&[0x1b, 0x03, 0x55, 0x00]).is_err());
        // A field with a full id (zigzag varint), an i32, a double, stop.
        let ok = [0x05, 0x04, 0x2a, 0x17, 0, 0, 0, 0, 0, 0, 0, 0, 0x00];
        assert_eq!(check_footer(&ok), Ok(()));
    }

    /// An input of the `parquet_footer` target framed as the target frames it: the body of a
    /// real object, the footer (the input without its first byte), its length and `PAR1`.
    fn framed_footer(file: &str) -> (Vec<u8>, Vec<u8>) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let input = std::fs::read(root.join("regressions/parquet_footer").join(file)).unwrap();
        let footer = input[1..].to_vec();
        let mut object = std::fs::read(root.join("seeds/vpc_flow_1.0.body")).unwrap();
        object.extend_from_slice(&footer);
        object.extend_from_slice(&(footer.len() as u32).to_le_bytes());
        object.extend_from_slice(b"PAR1");
        (footer, object)
    }

    fn extract_vpc(object: Vec<u8>) -> crate::ExtractError {
        crate::extract_bytes(
            bytes::Bytes::from(object),
            &crate::Source::VpcFlow,
            &crate::ExtractOptions::default(),
            &crate::ReadOptions::default(),
        )
        .unwrap_err()
    }

    /// Found by fuzz/parquet_footer: a 16-byte footer that kept parquet 60's thrift skipper
    /// busy past the fuzzer's 10 s timeout (fuzz/regressions/parquet_footer).
    #[test]
    fn the_fuzzers_footer_hang_is_a_corrupt_object() {
        let (footer, object) = framed_footer("thrift-skip-bool-list-hang");
        assert!(check_footer(&footer).is_err());
        let e = extract_vpc(object);
        assert!(!e.is_retryable(), "{e}");
        assert!(e.to_string().contains("footer byte"), "{e}");
    }

    /// Found by fuzz/parquet_footer: a 27-byte footer whose declared types pass this walk, but
    /// which parquet reads by field id into a map of maps of booleans. The vendored parquet
    /// crate's skipper now consumes a byte per boolean element, so it ends at the footer's end
    /// instead of spinning for about a minute.
    #[test]
    fn the_fuzzers_typed_read_hang_is_a_corrupt_object() {
        let (footer, object) = framed_footer("thrift-skip-typed-read-bool-map-hang");
        assert_eq!(check_footer(&footer), Ok(()));
        let e = extract_vpc(object);
        assert!(!e.is_retryable(), "{e}");
        assert_eq!(e.reason(), "not_parquet", "{e}");
    }
}
