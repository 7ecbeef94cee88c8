//! The prefixes of the hashed levels that occurred in the training data.
//!
//! Long prefixes (/24, /32) are hashed into tables far smaller than their space, so the row of
//! a prefix the model never saw belongs to other prefixes that collide with it: its vector says
//! something about them, nothing about this address, and adds noise to the score. An address in
//! a familiar /16 but a new /24 (an S3 or SaaS address rotated inside its provider's range) then
//! scored as low as a never-seen network. With the set of trained prefixes at hand, the model
//! backs off instead: a level whose prefix was never trained contributes nothing, and the
//! address is judged by the prefixes the model does know.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use crate::hash::mix64;
use crate::ip::PrefixEncoding;

/// A hasher for integer keys (prefix values, packed pairs): one multiply-xorshift mix, no
/// SipHash.
#[derive(Default)]
pub(crate) struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        mix64(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = u64::from(i);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

type PrefixSet = HashSet<u32, BuildHasherDefault<PrefixHasher>>;

/// Per level of the encoder: `None` for a directly indexed level (every prefix has its own
/// row, trained or at its small initial value), else the prefix values seen in training.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KnownPrefixes {
    levels: Vec<Option<PrefixSet>>,
}

/// The prefix value of `ip` at `len` bits.
#[inline]
pub(crate) fn prefix_of(ip: u32, len: u8) -> u32 {
    if len >= 32 { ip } else { ip >> (32 - len) }
}

impl KnownPrefixes {
    /// The prefixes of `ips` at every hashed level of `enc`.
    pub fn from_addresses(enc: &PrefixEncoding, ips: impl IntoIterator<Item = u32>) -> Self {
        let mut levels: Vec<Option<PrefixSet>> = enc
            .levels
            .iter()
            .map(|l| (!l.is_direct()).then(PrefixSet::default))
            .collect();
        for ip in ips {
            for (set, l) in levels.iter_mut().zip(&enc.levels) {
                if let Some(s) = set {
                    s.insert(prefix_of(ip, l.prefix_len));
                }
            }
        }
        Self { levels }
    }

    /// From the sorted lists of a model file (`None` for direct levels).
    pub fn from_lists(levels: Vec<Option<Vec<u32>>>) -> Self {
        Self {
            levels: levels
                .into_iter()
                .map(|l| l.map(|v| v.into_iter().collect()))
                .collect(),
        }
    }

    /// The sorted prefix values of `level`, `None` for a direct level.
    pub fn sorted(&self, level: usize) -> Option<Vec<u32>> {
        self.levels.get(level)?.as_ref().map(|s| {
            let mut v: Vec<u32> = s.iter().copied().collect();
            v.sort_unstable();
            v
        })
    }

    /// Levels described (the encoder's).
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Whether level `level`'s row of `ip` is to be used: always for a direct level, else when
    /// its prefix (of `len` bits) was trained.
    #[inline]
    pub fn uses(&self, level: usize, len: u8, ip: u32) -> bool {
        match self.levels.get(level) {
            Some(Some(set)) => set.contains(&prefix_of(ip, len)),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_levels_know_only_the_trained_prefixes() {
        let enc = PrefixEncoding::with_hashed_rows(4096, 7);
        let a = u32::from(std::net::Ipv4Addr::new(52, 217, 10, 5));
        let known = KnownPrefixes::from_addresses(&enc, [a]);
        let same24 = u32::from(std::net::Ipv4Addr::new(52, 217, 10, 99));
        let new24 = u32::from(std::net::Ipv4Addr::new(52, 217, 63, 65));
        // /8 and /16 are direct: always used.
        assert!(known.uses(0, 8, new24) && known.uses(1, 16, new24));
        assert!(known.uses(2, 24, same24) && !known.uses(3, 32, same24));
        assert!(!known.uses(2, 24, new24));
        assert!(known.uses(3, 32, a));
        let lists: Vec<_> = (0..known.len()).map(|l| known.sorted(l)).collect();
        assert_eq!(lists[0], None);
        assert_eq!(lists[2], Some(vec![a >> 8]));
        assert_eq!(KnownPrefixes::from_lists(lists), known);
    }
}
