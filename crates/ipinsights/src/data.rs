//! Pairs of (entity, IPv4 address): the CSV format SageMaker IP Insights trains on, and the
//! interned [`Dataset`] the trainer uses.
//!
//! CSV rules (the same for training files, `score` input and `text/csv` requests):
//!
//! - Two columns, `entity,ipv4`, no header; spaces and tabs around a field are ignored
//!   (SageMaker's own example is `entity_id_1, 192.168.1.2`).
//! - A field may be double-quoted (RFC 4180, `""` for a quote inside), so entities may
//!   contain commas.
//! - Blank lines and `\r\n` line ends are accepted.
//! - For files only: a first line whose second column contains no digit (such as
//!   `entity,ip`) is taken to be a header and skipped. Requests have no such exception.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::net::Ipv4Addr;

use crate::ip::parse_ipv4;

/// A row that is not `entity,ipv4`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A malformed row; `line` is 1-based.
    #[error("line {line}: {reason}")]
    BadRow {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The input is not UTF-8.
    #[error("the input is not UTF-8 text (first bad byte at offset {0})")]
    NotUtf8(usize),
    /// Reading failed.
    #[error("reading pairs: {0}")]
    Io(#[from] std::io::Error),
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Splits one CSV line into exactly two trimmed fields.
pub(crate) fn split_pair(line: &str) -> Result<(Cow<'_, str>, Cow<'_, str>), String> {
    if !line.contains('"') {
        let mut it = line.split(',');
        let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) else {
            let n = line.split(',').count();
            return Err(format!(
                "expected 2 columns (entity, IPv4 address), found {n}"
            ));
        };
        return Ok((Cow::Borrowed(trim(a)), Cow::Borrowed(trim(b))));
    }
    // Quoted fields: walk the line once.
    let mut fields: Vec<Cow<'_, str>> = Vec::with_capacity(2);
    let bytes = line.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'"' {
            let mut out = String::new();
            i += 1;
            let mut closed = false;
            while i < bytes.len() {
                if bytes[i] == b'"' {
                    if bytes.get(i + 1) == Some(&b'"') {
                        out.push('"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    closed = true;
                    break;
                }
                // Copy a whole UTF-8 character; `i` is always on a char boundary here.
                let ch = line[i..].chars().next().unwrap_or('\u{fffd}');
                out.push(ch);
                i += ch.len_utf8();
            }
            if !closed {
                return Err("unterminated quoted field".into());
            }
            while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
                i += 1;
            }
            fields.push(Cow::Owned(out));
            if i < bytes.len() && bytes[i] != b',' {
                return Err("unexpected text after a quoted field".into());
            }
        } else {
            let start = i;
            while i < bytes.len() && bytes[i] != b',' {
                if bytes[i] == b'"' {
                    return Err("a quote inside an unquoted field".into());
                }
                i += 1;
            }
            fields.push(Cow::Borrowed(trim(&line[start..i])));
        }
        if i >= bytes.len() {
            break;
        }
        i += 1; // the comma
    }
    if fields.len() != 2 {
        return Err(format!(
            "expected 2 columns (entity, IPv4 address), found {}",
            fields.len()
        ));
    }
    let b = fields.pop().unwrap_or_default();
    let a = fields.pop().unwrap_or_default();
    Ok((a, b))
}

/// Parses one `entity,ipv4` row (without line terminator).
pub(crate) fn parse_pair(line: &str) -> Result<(Cow<'_, str>, Ipv4Addr), String> {
    let (entity, ip) = split_pair(line)?;
    if entity.is_empty() {
        return Err("empty entity".into());
    }
    let ip = parse_ipv4(&ip).map_err(|e| e.to_string())?;
    Ok((entity, ip))
}

/// Interned (entity, address) pairs, in input order.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    entities: Vec<String>,
    index: HashMap<String, u32>,
    pair_entity: Vec<u32>,
    pair_ip: Vec<u32>,
}

impl Dataset {
    /// An empty dataset.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a dataset from pairs.
    pub fn from_pairs<I, S>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (S, Ipv4Addr)>,
        S: AsRef<str>,
    {
        let mut d = Self::new();
        for (e, ip) in pairs {
            d.push(e.as_ref(), ip);
        }
        d
    }

    /// Appends a pair.
    pub fn push(&mut self, entity: &str, ip: Ipv4Addr) {
        let id = match self.index.get(entity) {
            Some(&id) => id,
            None => {
                let id = self.entities.len() as u32;
                self.entities.push(entity.to_string());
                self.index.insert(entity.to_string(), id);
                id
            }
        };
        self.pair_entity.push(id);
        self.pair_ip.push(u32::from(ip));
    }

    /// Parses headerless `entity,ipv4` CSV (see the module documentation for the rules).
    pub fn from_csv_bytes(bytes: &[u8]) -> Result<Self, DataError> {
        let text = std::str::from_utf8(bytes).map_err(|e| DataError::NotUtf8(e.valid_up_to()))?;
        let mut d = Self::new();
        let mut first = true;
        for (n, raw) in text.split('\n').enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                continue;
            }
            let is_first = std::mem::replace(&mut first, false);
            match parse_pair(line) {
                Ok((e, ip)) => d.push(&e, ip),
                Err(_) if is_first && looks_like_header(line) => {}
                Err(reason) => {
                    return Err(DataError::BadRow {
                        line: n + 1,
                        reason,
                    });
                }
            }
        }
        Ok(d)
    }

    /// Reads and parses CSV from a reader.
    pub fn from_csv_reader<R: Read>(mut r: R) -> Result<Self, DataError> {
        let mut buf = Vec::new();
        r.read_to_end(&mut buf)?;
        Self::from_csv_bytes(&buf)
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pair_ip.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pair_ip.is_empty()
    }

    /// Distinct entities, in order of first appearance.
    pub fn entities(&self) -> &[String] {
        &self.entities
    }

    /// Pair `i` as (entity, address).
    pub fn pair(&self, i: usize) -> (&str, Ipv4Addr) {
        (
            &self.entities[self.pair_entity[i] as usize],
            Ipv4Addr::from(self.pair_ip[i]),
        )
    }

    /// All pairs.
    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, Ipv4Addr)> + '_ {
        (0..self.len()).map(|i| self.pair(i))
    }

    /// Entity ids (indices into [`Dataset::entities`]) of the pairs.
    pub fn entity_ids(&self) -> &[u32] {
        &self.pair_entity
    }

    /// Addresses of the pairs as big-endian `u32`s.
    pub fn ips(&self) -> &[u32] {
        &self.pair_ip
    }

    /// Whether `entity` occurs in the dataset.
    pub fn contains_entity(&self, entity: &str) -> bool {
        self.index.contains_key(entity)
    }
}

fn looks_like_header(line: &str) -> bool {
    match split_pair(line) {
        Ok((_, ip)) => !ip.bytes().any(|b| b.is_ascii_digit()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sagemaker_csv() {
        let d = Dataset::from_csv_bytes(
            b"entity_id_1, 192.168.1.2\r\nentity_id_2,10.10.1.2\n\n\"a,b\" ,1.2.3.4\nentity_id_1,8.8.8.8",
        )
        .unwrap();
        assert_eq!(d.len(), 4);
        assert_eq!(d.entities(), ["entity_id_1", "entity_id_2", "a,b"]);
        assert_eq!(d.pair(0), ("entity_id_1", Ipv4Addr::new(192, 168, 1, 2)));
        assert_eq!(d.pair(2), ("a,b", Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(d.entity_ids(), [0, 1, 2, 0]);
    }

    #[test]
    fn skips_a_header_line_only_at_the_top() {
        let d = Dataset::from_csv_bytes(b"entity,ip\nu,1.2.3.4\n").unwrap();
        assert_eq!(d.len(), 1);
        let e = Dataset::from_csv_bytes(b"u,1.2.3.4\nentity,ip\n").unwrap_err();
        assert!(matches!(e, DataError::BadRow { line: 2, .. }), "{e}");
    }

    #[test]
    fn names_the_bad_line() {
        for (text, line) in [
            (&b"u,1.2.3.4\nv,1.2.3\n"[..], 2),
            (b"u,1.2.3.4\n\nv\n", 3),
            (b"u,1.2.3.4,x\n", 1),
            (b" ,1.2.3.4\n", 1),
            (b"\"u,1.2.3.4\n", 1),
        ] {
            match Dataset::from_csv_bytes(text) {
                Err(DataError::BadRow { line: l, .. }) => assert_eq!(l, line),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(text)),
            }
        }
        assert!(matches!(
            Dataset::from_csv_bytes(b"u,1.2.3.4\n\xff,1.2.3.4"),
            Err(DataError::NotUtf8(10))
        ));
    }

    #[test]
    fn quoted_fields() {
        assert_eq!(
            parse_pair(r#""say ""hi""", 10.0.0.1"#).unwrap(),
            (
                Cow::Owned::<str>("say \"hi\"".into()),
                Ipv4Addr::new(10, 0, 0, 1)
            )
        );
        assert!(parse_pair(r#""a" b,1.2.3.4"#).is_err());
        assert_eq!(
            parse_pair(r#"u,"1.2.3.4""#).unwrap().1,
            Ipv4Addr::new(1, 2, 3, 4)
        );
        assert!(parse_pair(r#"a"b,1.2.3.4"#).is_err());
    }
}
