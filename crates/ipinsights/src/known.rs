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

/// Prefixes up to this length are kept as a bitmap (2 MiB at /24): one load per lookup, and
/// it stays in cache where a hash set of the same prefixes would not.
const BITMAP_MAX_LEN: u8 = 24;

/// The trained prefixes of one level.
#[derive(Debug, Clone, PartialEq)]
enum Level {
    /// A directly indexed level: every prefix has its own row, trained or at its small
    /// initial value, and is always used.
    Direct,
    /// One bit per prefix value.
    Bits(Vec<u64>),
    Set(PrefixSet),
}

impl Level {
    fn empty(len: u8) -> Self {
        if len <= BITMAP_MAX_LEN {
            Level::Bits(vec![0; (1usize << len).div_ceil(64)])
        } else {
            Level::Set(PrefixSet::default())
        }
    }

    fn insert(&mut self, prefix: u32) {
        match self {
            Level::Direct => {}
            Level::Bits(w) => {
                if let Some(word) = w.get_mut(prefix as usize / 64) {
                    *word |= 1 << (prefix % 64);
                }
            }
            Level::Set(s) => {
                s.insert(prefix);
            }
        }
    }

    #[inline]
    fn contains(&self, prefix: u32) -> bool {
        match self {
            Level::Direct => true,
            Level::Bits(w) => w
                .get(prefix as usize / 64)
                .is_some_and(|word| word >> (prefix % 64) & 1 == 1),
            Level::Set(s) => s.contains(&prefix),
        }
    }

    fn sorted(&self) -> Option<Vec<u32>> {
        match self {
            Level::Direct => None,
            Level::Bits(w) => Some(
                w.iter()
                    .enumerate()
                    .flat_map(|(i, &word)| {
                        (0..64u32)
                            .filter(move |b| word >> b & 1 == 1)
                            .map(move |b| i as u32 * 64 + b)
                    })
                    .collect(),
            ),
            Level::Set(s) => {
                let mut v: Vec<u32> = s.iter().copied().collect();
                v.sort_unstable();
                Some(v)
            }
        }
    }
}

/// Per level of the encoder: nothing for a directly indexed level, else the prefix values
/// seen in training.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KnownPrefixes {
    levels: Vec<Level>,
    lens: Vec<u8>,
    /// Every trained prefix of a hashed level lies in a trained prefix of the previous hashed
    /// level (always so when built from addresses), so an untrained prefix means untrained
    /// longer prefixes too and their lookups are skipped.
    nested: bool,
}

/// The prefix value of `ip` at `len` bits.
#[inline]
pub(crate) fn prefix_of(ip: u32, len: u8) -> u32 {
    if len >= 32 { ip } else { ip >> (32 - len) }
}

impl KnownPrefixes {
    /// The prefixes of `ips` at every hashed level of `enc`.
    pub fn from_addresses(enc: &PrefixEncoding, ips: impl IntoIterator<Item = u32>) -> Self {
        let mut levels: Vec<Level> = enc
            .levels
            .iter()
            .map(|l| {
                if l.is_direct() {
                    Level::Direct
                } else {
                    Level::empty(l.prefix_len)
                }
            })
            .collect();
        for ip in ips {
            for (level, l) in levels.iter_mut().zip(&enc.levels) {
                level.insert(prefix_of(ip, l.prefix_len));
            }
        }
        let lens = enc.levels.iter().map(|l| l.prefix_len).collect();
        Self {
            levels,
            lens,
            nested: true,
        }
    }

    /// From the sorted lists of a model file (`None` for direct levels) and the encoder's
    /// prefix lengths.
    pub fn from_lists(enc: &PrefixEncoding, lists: Vec<Option<Vec<u32>>>) -> Self {
        let lens: Vec<u8> = enc.levels.iter().map(|l| l.prefix_len).collect();
        let levels: Vec<Level> = lists
            .into_iter()
            .zip(&lens)
            .map(|(list, &len)| match list {
                None => Level::Direct,
                Some(v) => {
                    let mut level = Level::empty(len);
                    for p in v {
                        level.insert(p);
                    }
                    level
                }
            })
            .collect();
        let mut known = Self {
            levels,
            lens,
            nested: false,
        };
        known.nested = known.check_nested();
        known
    }

    /// Whether each hashed level's prefixes lie in the previous hashed level's.
    fn check_nested(&self) -> bool {
        let mut parent: Option<usize> = None;
        for (l, level) in self.levels.iter().enumerate() {
            if matches!(level, Level::Direct) {
                continue;
            }
            if let Some(p) = parent {
                let shift = self.lens[l].saturating_sub(self.lens[p]);
                let all_inside = level.sorted().unwrap_or_default().iter().all(|&v| {
                    self.levels[p].contains(v.checked_shr(u32::from(shift)).unwrap_or(0))
                });
                if !all_inside {
                    return false;
                }
            }
            parent = Some(l);
        }
        true
    }

    /// The sorted prefix values of `level`, `None` for a direct level.
    pub fn sorted(&self, level: usize) -> Option<Vec<u32>> {
        self.levels.get(level)?.sorted()
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
        self.levels
            .get(level)
            .is_none_or(|l| l.contains(prefix_of(ip, len)))
    }

    /// The levels whose rows of `ip` are used, as bits (bit `l` for level `l`): [`Self::uses`]
    /// for every level, with the lookups of a nested set's longer prefixes skipped once one
    /// is untrained.
    #[inline]
    pub fn used_levels(&self, ip: u32) -> u32 {
        let mut mask = 0u32;
        let mut untrained = false;
        for (l, (level, &len)) in self.levels.iter().zip(&self.lens).enumerate() {
            let used = match level {
                Level::Direct => true,
                _ if untrained => false,
                _ => {
                    let used = level.contains(prefix_of(ip, len));
                    untrained = !used && self.nested;
                    used
                }
            };
            mask |= u32::from(used) << l;
        }
        mask
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
        assert_eq!(KnownPrefixes::from_lists(&enc, lists), known);
    }

    /// `used_levels` answers as `uses` does level by level, nested or not: a file whose /32
    /// list holds an address outside its /24 list is not nested, and its lookups are not cut.
    #[test]
    fn used_levels_agree_with_uses_nested_or_not() {
        let enc = PrefixEncoding::with_hashed_rows(4096, 7);
        let ip = |a, b, c, d| u32::from(std::net::Ipv4Addr::new(a, b, c, d));
        let trained = [ip(52, 217, 10, 5), ip(10, 1, 2, 3)];
        let odd = ip(10, 9, 9, 9);
        let nested = KnownPrefixes::from_addresses(&enc, trained);
        let mut lists: Vec<_> = (0..nested.len()).map(|l| nested.sorted(l)).collect();
        if let Some(Some(v)) = lists.get_mut(3) {
            v.push(odd);
            v.sort_unstable();
        }
        let not_nested = KnownPrefixes::from_lists(&enc, lists);
        assert!(nested.nested && !not_nested.nested);
        let probes = [
            trained[0],
            trained[1],
            odd,
            ip(52, 217, 10, 6),
            ip(8, 8, 8, 8),
        ];
        for known in [&nested, &not_nested] {
            for &a in &probes {
                let expected = enc.levels.iter().enumerate().fold(0u32, |m, (l, lvl)| {
                    m | u32::from(known.uses(l, lvl.prefix_len, a)) << l
                });
                assert_eq!(known.used_levels(a), expected, "{a:x}");
            }
        }
        // The odd /32 is used although its /24 is not.
        assert_eq!(not_nested.used_levels(odd), 0b1011);
        assert_eq!(nested.used_levels(odd), 0b0011);
    }
}
