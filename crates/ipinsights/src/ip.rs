//! IPv4 parsing and the prefix-structure encoding of addresses.
//!
//! An address is represented by the embedding rows of its prefixes: with the default levels
//! `/8, /16, /24, /32`, `203.0.113.7` uses one row for `203/8`, one for `203.0/16`, one for
//! `203.0.113/24` and one for the address itself, and its base vector is the sum of the four.
//! Addresses that share a network therefore share most of their representation, which is
//! what lets an unseen address in a familiar network score close to normal. Short prefixes
//! index their table directly (`2^len` rows); long ones are hashed into a fixed number of
//! rows, so every one of the 2^32 addresses has a representation of bounded size.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::hash::{mix64, reduce};

/// A string that is not a dotted-decimal IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a dotted-decimal IPv4 address")]
pub struct IpParseError(pub String);

/// Parses a dotted-decimal IPv4 address, ignoring surrounding spaces and tabs (SageMaker's
/// examples put a space after the comma). Leading zeros, as in `010.0.0.1`, are rejected
/// because they are ambiguous (octal in some parsers).
pub fn parse_ipv4(s: &str) -> Result<Ipv4Addr, IpParseError> {
    let t = s.trim_matches(|c| c == ' ' || c == '\t');
    t.parse::<Ipv4Addr>()
        .map_err(|_| IpParseError(s.to_string()))
}

/// How one prefix length is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixLevel {
    /// Prefix length in bits, 1..=32.
    pub prefix_len: u8,
    /// Rows of this level's table. Equal to `2^prefix_len` means direct indexing; fewer
    /// means the prefix is hashed into that many rows.
    pub rows: u32,
}

impl PrefixLevel {
    /// Whether this level indexes its table directly by the prefix value.
    pub fn is_direct(&self) -> bool {
        u64::from(self.rows) == 1u64 << self.prefix_len
    }
}

/// The prefix levels of an IP encoder and the seed of its hashed levels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixEncoding {
    /// Levels, from the shortest prefix to the longest.
    pub levels: Vec<PrefixLevel>,
    /// Seed mixed into the hash of hashed levels.
    pub seed: u64,
}

/// Default prefix lengths.
pub const DEFAULT_PREFIX_LENS: [u8; 4] = [8, 16, 24, 32];
/// Prefixes up to this length are indexed directly.
pub const MAX_DIRECT_PREFIX_LEN: u8 = 16;

impl PrefixEncoding {
    /// The default levels with `hashed_rows` rows for every level longer than /16.
    pub fn with_hashed_rows(hashed_rows: u32, seed: u64) -> Self {
        let levels = DEFAULT_PREFIX_LENS
            .iter()
            .map(|&len| PrefixLevel {
                prefix_len: len,
                rows: if len <= MAX_DIRECT_PREFIX_LEN {
                    1u32 << len
                } else {
                    hashed_rows
                },
            })
            .collect();
        Self { levels, seed }
    }

    /// The table row of `ip` at `level`: the prefix value itself for direct levels, else
    /// `reduce(mix64(prefix | len << 32 ^ seed), rows)`.
    #[inline]
    pub fn row(&self, level: usize, ip: u32) -> u32 {
        let l = self.levels[level];
        row_of(l, self.seed, ip)
    }

    /// Checks that the levels make sense (used when loading a file).
    pub fn validate(&self) -> Result<(), String> {
        if self.levels.is_empty() {
            return Err("the IP encoder has no prefix levels".into());
        }
        let mut last = 0u8;
        for l in &self.levels {
            if l.prefix_len == 0 || l.prefix_len > 32 || l.prefix_len <= last {
                return Err(format!(
                    "prefix lengths must be increasing within 1..=32, got /{}",
                    l.prefix_len
                ));
            }
            last = l.prefix_len;
            if l.rows == 0 || u64::from(l.rows) > 1u64 << l.prefix_len {
                return Err(format!(
                    "/{} level has {} rows; it needs 1..=2^{}",
                    l.prefix_len, l.rows, l.prefix_len
                ));
            }
        }
        Ok(())
    }
}

#[inline]
pub(crate) fn row_of(l: PrefixLevel, seed: u64, ip: u32) -> u32 {
    let prefix = if l.prefix_len >= 32 {
        u64::from(ip)
    } else {
        u64::from(ip >> (32 - l.prefix_len))
    };
    if l.is_direct() {
        prefix as u32
    } else {
        let key = prefix | (u64::from(l.prefix_len) << 32);
        reduce(mix64(key ^ seed), u64::from(l.rows)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_the_sagemaker_examples() {
        assert_eq!(
            parse_ipv4(" 192.168.1.2").unwrap(),
            Ipv4Addr::new(192, 168, 1, 2)
        );
        assert_eq!(
            parse_ipv4("10.0.2.125\t").unwrap(),
            Ipv4Addr::new(10, 0, 2, 125)
        );
        for bad in [
            "",
            "1.2.3",
            "1.2.3.256",
            "1.2.3.4.5",
            "::1",
            "a.b.c.d",
            "010.0.0.1",
            "1.2.3.-4",
        ] {
            assert!(parse_ipv4(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn neighbours_share_prefix_rows() {
        let enc = PrefixEncoding::with_hashed_rows(1 << 12, 99);
        let a = u32::from(Ipv4Addr::new(203, 0, 113, 7));
        let b = u32::from(Ipv4Addr::new(203, 0, 113, 200));
        let c = u32::from(Ipv4Addr::new(203, 0, 200, 7));
        assert_eq!(enc.row(0, a), 203);
        assert_eq!(enc.row(1, a), 203 * 256);
        assert_eq!(enc.row(2, a), enc.row(2, b));
        assert_ne!(enc.row(3, a), enc.row(3, b));
        assert_eq!(enc.row(1, a), enc.row(1, c));
        assert_ne!(enc.row(2, a), enc.row(2, c));
        for lvl in 0..4 {
            assert!(enc.row(lvl, u32::MAX) < enc.levels[lvl].rows);
        }
        assert!(enc.validate().is_ok());
    }
}
