//! Which scored pairs are alerts.
//!
//! A pair is an alert when its score is below the threshold. With a fan-out rule, a pair
//! whose score is below a second, looser threshold is an alert too when its entity reached at
//! least `min_addresses` distinct addresses below that looser threshold in the same object: an
//! internal scan touches dozens of hosts that are each only a little unusual (new /24s of a
//! network the entity already uses), while a normal instance's unusual addresses are few. The
//! Lambda applies it per object; `evaluate` applies the same function to the same objects.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::Ipv4Addr;

/// The fan-out rule: `min_addresses` distinct addresses below `threshold` from one entity in
/// one object make all of them alerts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fanout {
    pub threshold: f64,
    pub min_addresses: usize,
}

/// The thresholds an alert is judged by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertRule {
    pub threshold: f64,
    pub fanout: Option<Fanout>,
}

/// Why a pair is an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// Its score is below the threshold.
    Below,
    /// Its score is below the fan-out threshold, and its entity reached `addresses` distinct
    /// addresses below it in the object.
    Fanout { addresses: usize },
}

impl AlertRule {
    /// A rule without fan-out.
    pub fn threshold(threshold: f64) -> Self {
        Self {
            threshold,
            fanout: None,
        }
    }

    /// The alert, if any, for each of one object's scored pairs `(entity, address, score)`,
    /// in their order. A pair's entity is the instance it came from (not the entity that
    /// scored it), so that a scan is counted per instance.
    pub fn alerts<K: Eq + Hash>(
        &self,
        pairs: impl IntoIterator<Item = (K, Ipv4Addr, f64)> + Clone,
    ) -> Vec<Option<Alert>> {
        let wide = match self.fanout {
            Some(f) => fanout_counts(pairs.clone(), f.threshold),
            None => HashMap::new(),
        };
        pairs
            .into_iter()
            .map(|(entity, _, score)| {
                if score < self.threshold {
                    return Some(Alert::Below);
                }
                let f = self.fanout?;
                if score >= f.threshold {
                    return None;
                }
                let addresses = wide.get(&entity).copied().unwrap_or(0);
                (addresses >= f.min_addresses).then_some(Alert::Fanout { addresses })
            })
            .collect()
    }
}

/// Distinct addresses below `threshold` per entity.
pub fn fanout_counts<K: Eq + Hash>(
    pairs: impl IntoIterator<Item = (K, Ipv4Addr, f64)>,
    threshold: f64,
) -> HashMap<K, usize> {
    let mut seen: HashMap<K, Vec<Ipv4Addr>> = HashMap::new();
    for (entity, ip, score) in pairs {
        if score < threshold {
            seen.entry(entity).or_default().push(ip);
        }
    }
    seen.into_iter()
        .map(|(k, mut ips)| {
            ips.sort_unstable();
            ips.dedup();
            (k, ips.len())
        })
        .collect()
}

/// The fan-out size to alert at, from normal traffic: one more than the most distinct
/// addresses below `threshold` that any entity reached in any group of `normal` (an object, or
/// a day when objects are not known), and never below `floor`. Each group is a list of
/// `(entity, address, score)`.
pub fn fanout_min_addresses<K: Eq + Hash, G: IntoIterator<Item = (K, Ipv4Addr, f64)>>(
    normal: impl IntoIterator<Item = G>,
    threshold: f64,
    floor: usize,
) -> usize {
    let most = normal
        .into_iter()
        .flat_map(|group| fanout_counts(group, threshold).into_values())
        .max()
        .unwrap_or(0);
    (most + 1).max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 2, last, 7)
    }

    #[test]
    fn without_fanout_only_pairs_below_the_threshold_are_alerts() {
        let rule = AlertRule::threshold(0.0);
        let got = rule.alerts([("a", ip(1), -1.0), ("a", ip(2), 0.5), ("b", ip(3), 0.0)]);
        assert_eq!(got, vec![Some(Alert::Below), None, None]);
    }

    #[test]
    fn many_slightly_unusual_addresses_from_one_entity_are_alerts() {
        let rule = AlertRule {
            threshold: 0.0,
            fanout: Some(Fanout {
                threshold: 1.0,
                min_addresses: 3,
            }),
        };
        // "a" reaches three addresses below 1.0 (one of them twice, one below 0.0); "b" two.
        let pairs = [
            ("a", ip(1), 0.5),
            ("a", ip(1), 0.6),
            ("a", ip(2), 0.9),
            ("a", ip(3), -2.0),
            ("a", ip(4), 1.5),
            ("b", ip(5), 0.5),
            ("b", ip(6), 0.5),
        ];
        let got = rule.alerts(pairs);
        let fan = Some(Alert::Fanout { addresses: 3 });
        assert_eq!(
            got,
            vec![fan, fan, fan, Some(Alert::Below), None, None, None]
        );
    }

    #[test]
    fn the_fanout_size_is_one_above_what_normal_traffic_reaches() {
        let day1 = vec![("a", ip(1), 0.5), ("a", ip(2), 0.5), ("b", ip(1), 0.5)];
        let day2 = vec![
            ("a", ip(1), 0.5),
            ("a", ip(2), 0.5),
            ("a", ip(3), 0.5),
            ("a", ip(4), 2.0),
        ];
        assert_eq!(fanout_min_addresses([day1.clone(), day2], 1.0, 2), 4);
        assert_eq!(fanout_min_addresses([day1], 1.0, 10), 10);
        assert_eq!(
            fanout_min_addresses(Vec::<Vec<(&str, Ipv4Addr, f64)>>::new(), 1.0, 5),
            5
        );
    }
}
