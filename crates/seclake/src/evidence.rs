//! What a pair's records show beyond the pair itself: when it was seen and one representative
//! connection. The scorer never looks at it; a finding needs it (First/LastObservedAt, the
//! network facts an analyst starts from).
//!
//! Kept compact while extracting (one [`FactsAcc`] per distinct pair, merged across rows and
//! row groups) and turned into [`PairFacts`] at the end. The representative record is the
//! earliest one, ties broken by the smaller port, so the result does not depend on the order in
//! which rows or row groups are read.

use std::net::Ipv4Addr;

use serde::Serialize;

/// The facts of a pair's records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PairFacts {
    /// Earliest record `time` (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_ms: Option<i64>,
    /// Latest record `time` (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ms: Option<i64>,
    /// The instance's own address in the representative record (flows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_ip: Option<Ipv4Addr>,
    /// The responder's port in the representative record (flows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The IP protocol number of the representative record (flows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u8>,
}

impl PairFacts {
    /// Folds another object's facts of the same pair in.
    pub fn merge(&mut self, other: &PairFacts) {
        let mut a = FactsAcc::from_facts(self);
        a.absorb(&FactsAcc::from_facts(other));
        *self = a.facts();
    }
}

const NO_TIME_FIRST: i64 = i64::MAX;
const NO_TIME_LAST: i64 = i64::MIN;
const NO_PORT: u32 = u32::MAX;
const NO_PROTOCOL: u16 = u16::MAX;

/// [`PairFacts`] while extracting: plain integers with sentinels, cheap to update per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FactsAcc {
    first: i64,
    last: i64,
    local_ip: Option<u32>,
    port: u32,
    protocol: u16,
}

impl Default for FactsAcc {
    fn default() -> Self {
        FactsAcc {
            first: NO_TIME_FIRST,
            last: NO_TIME_LAST,
            local_ip: None,
            port: NO_PORT,
            protocol: NO_PROTOCOL,
        }
    }
}

impl FactsAcc {
    /// One record's facts; `None` where the record does not say.
    #[inline]
    pub(crate) fn row(
        time: Option<i64>,
        local_ip: Option<u32>,
        port: Option<u64>,
        protocol: Option<u64>,
    ) -> Self {
        FactsAcc {
            first: time.unwrap_or(NO_TIME_FIRST),
            last: time.unwrap_or(NO_TIME_LAST),
            local_ip,
            port: port
                .and_then(|p| u16::try_from(p).ok())
                .map_or(NO_PORT, u32::from),
            protocol: protocol
                .and_then(|p| u8::try_from(p).ok())
                .map_or(NO_PROTOCOL, u16::from),
        }
    }

    /// Takes in another record (or set of records) of the same pair.
    #[inline]
    pub(crate) fn absorb(&mut self, other: &FactsAcc) {
        if (other.first, other.port) < (self.first, self.port) {
            self.local_ip = other.local_ip;
            self.port = other.port;
            self.protocol = other.protocol;
        }
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }

    fn from_facts(f: &PairFacts) -> Self {
        FactsAcc {
            first: f.first_ms.unwrap_or(NO_TIME_FIRST),
            last: f.last_ms.unwrap_or(NO_TIME_LAST),
            local_ip: f.local_ip.map(u32::from),
            port: f.port.map_or(NO_PORT, u32::from),
            protocol: f.protocol.map_or(NO_PROTOCOL, u16::from),
        }
    }

    pub(crate) fn facts(&self) -> PairFacts {
        PairFacts {
            first_ms: (self.first != NO_TIME_FIRST).then_some(self.first),
            last_ms: (self.last != NO_TIME_LAST).then_some(self.last),
            local_ip: self.local_ip.map(Ipv4Addr::from),
            port: u16::try_from(self.port).ok(),
            protocol: u8::try_from(self.protocol).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_record_represents_the_pair_in_any_order() {
        let a = FactsAcc::row(Some(200), Some(1), Some(443), Some(6));
        let b = FactsAcc::row(Some(100), Some(2), Some(8443), Some(6));
        let c = FactsAcc::row(Some(100), Some(3), Some(22), Some(6));
        let d = FactsAcc::row(None, None, None, None);
        let orders = [[a, b, c, d], [d, c, b, a], [b, d, a, c]];
        let results: Vec<PairFacts> = orders
            .iter()
            .map(|rows| {
                let mut acc = FactsAcc::default();
                for r in rows {
                    acc.absorb(r);
                }
                acc.facts()
            })
            .collect();
        assert!(results.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(
            results[0],
            PairFacts {
                first_ms: Some(100),
                last_ms: Some(200),
                local_ip: Some(Ipv4Addr::from(3)),
                port: Some(22),
                protocol: Some(6),
            }
        );
    }

    #[test]
    fn nothing_known_stays_unknown() {
        let mut acc = FactsAcc::default();
        acc.absorb(&FactsAcc::row(None, None, Some(70_000), Some(300)));
        assert_eq!(acc.facts(), PairFacts::default());
        let mut f = PairFacts {
            first_ms: Some(5),
            ..Default::default()
        };
        f.merge(&PairFacts {
            last_ms: Some(9),
            port: Some(53),
            ..Default::default()
        });
        assert_eq!((f.first_ms, f.last_ms, f.port), (Some(5), Some(9), None));
    }
}
