//! Quality measures: attack generation, ROC AUC of normal pairs against attacks, and
//! SageMaker's `validation:discriminator_auc`.
//!
//! AUCs here are the probability that a normal pair has a *higher* `dot_product` than an
//! attack, which equals the AUC of the anomaly score `−dot_product` at detecting attacks.

use std::net::Ipv4Addr;

use crate::auc::roc_auc;
use crate::model::Model;
use crate::rng;

/// `n` attacks of type (a): an entity drawn uniformly (with replacement) from `entities`,
/// paired with a uniformly random IPv4 address (every octet uniform on 0..=255), as the
/// tutorial's attack generator and SageMaker's random negatives.
pub fn random_ip_attacks(entities: &[&str], n: usize, seed: u64) -> Vec<(String, Ipv4Addr)> {
    if entities.is_empty() {
        return Vec::new();
    }
    let mut r = rng::rng(seed, 0xA77A);
    (0..n)
        .map(|_| {
            let e = entities[rng::below(&mut r, entities.len() as u64) as usize];
            (e.to_string(), Ipv4Addr::from(rng::u32(&mut r)))
        })
        .collect()
}

/// Attacks of type (b), one per normal pair: the pair's entity with the address of another
/// normal pair whose entity differs (a known entity using another entity's address).
pub fn shuffled_attacks(normal: &[(String, Ipv4Addr)], seed: u64) -> Vec<(String, Ipv4Addr)> {
    let mut r = rng::rng(seed, 0x5A5A);
    let n = normal.len() as u64;
    let mut out = Vec::with_capacity(normal.len());
    for (e, _) in normal {
        // A bounded number of tries: with a single entity there is no other address.
        for _ in 0..64 {
            let j = rng::below(&mut r, n) as usize;
            if normal[j].0 != *e {
                out.push((e.clone(), normal[j].1));
                break;
            }
        }
    }
    out
}

/// SageMaker's `validation:discriminator_auc`: every pair against the same entity with one
/// uniformly random address (random rate 1, shuffled rate 0).
pub fn discriminator_auc(model: &Model, pairs: &[(&str, Ipv4Addr)], seed: u64) -> Option<f64> {
    let neg = discriminator_negatives(pairs, seed);
    let p = dots(model, pairs);
    let n = dots(model, &neg);
    roc_auc(&p, &n)
}

/// The negatives of [`discriminator_auc`]: each pair's entity with a uniform address.
fn discriminator_negatives<'a>(
    pairs: &[(&'a str, Ipv4Addr)],
    seed: u64,
) -> Vec<(&'a str, Ipv4Addr)> {
    let mut r = rng::rng(seed, 0xD15C);
    pairs
        .iter()
        .map(|(e, _)| (*e, Ipv4Addr::from(rng::u32(&mut r))))
        .collect()
}

fn dots(model: &Model, pairs: &[(&str, Ipv4Addr)]) -> Vec<f64> {
    model
        .score_pairs(pairs)
        .into_iter()
        .map(|s| s.dot_product)
        .collect()
}

fn borrow(v: &[(String, Ipv4Addr)]) -> Vec<(&str, Ipv4Addr)> {
    v.iter().map(|(e, ip)| (e.as_str(), *ip)).collect()
}

/// The quality report of a model on held-out normal pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Held-out normal pairs scored.
    pub normal_pairs: usize,
    /// Of those, pairs whose entity was not seen in training (excluded from the AUCs).
    pub unseen_entity_pairs: usize,
    /// AUC of normal pairs against random-IP attacks (a).
    pub auc_random_ip: Option<f64>,
    /// AUC of normal pairs against shuffled attacks (b).
    pub auc_shuffled: Option<f64>,
    /// SageMaker's discriminator AUC on the normal pairs.
    pub discriminator_auc: Option<f64>,
}

/// Scores `normal` against as many random-IP attacks and as many shuffled attacks.
/// Pairs of entities the model has not seen are left out, as the tutorial does.
pub fn evaluate(model: &Model, normal: &[(String, Ipv4Addr)], seed: u64) -> Evaluation {
    evaluate_with(normal, seed, &|e| model.is_seen(e), &|pairs| {
        dots(model, pairs)
    })
}

/// Scores a slice of pairs.
type PairScorer<'a> = dyn Fn(&[(&str, Ipv4Addr)]) -> Vec<f64> + 'a;

/// [`evaluate`] for any scorer: `seen` says which entities it knows, `score` scores pairs.
fn evaluate_with(
    normal: &[(String, Ipv4Addr)],
    seed: u64,
    seen: &dyn Fn(&str) -> bool,
    score: &PairScorer<'_>,
) -> Evaluation {
    let seen: Vec<(String, Ipv4Addr)> = normal.iter().filter(|(e, _)| seen(e)).cloned().collect();
    let mut entities: Vec<&str> = seen.iter().map(|(e, _)| e.as_str()).collect();
    entities.sort_unstable();
    entities.dedup();
    let random = random_ip_attacks(&entities, seen.len(), seed);
    let shuffled = shuffled_attacks(&seen, seed);
    let seen_pairs = borrow(&seen);
    let normal_scores = score(&seen_pairs);
    let disc = discriminator_negatives(&seen_pairs, seed);
    Evaluation {
        normal_pairs: normal.len(),
        unseen_entity_pairs: normal.len() - seen.len(),
        auc_random_ip: roc_auc(&normal_scores, &score(&borrow(&random))),
        auc_shuffled: roc_auc(&normal_scores, &score(&borrow(&shuffled))),
        discriminator_auc: roc_auc(&normal_scores, &score(&disc)),
    }
}

/// A baseline scorer without a model: how many of the entity's training pairs share the
/// address's /32, /24 and /16 prefixes.
///
/// The score is `c₃₂ + c₂₄ + c₁₆` (a pair sharing the /32 also shares the /24 and the /16, so
/// closer matches weigh more). It is what a model must beat to be worth its keep: on the
/// login-style data it separates normal pairs from attacks almost as well as a model, because
/// most normal logins come from a few networks per user.
#[derive(Debug, Clone, Default)]
pub struct PrefixCounts {
    /// `(entity, prefix key)` → count; the key is the prefix with its length in the top bits.
    counts: std::collections::HashMap<(u32, u64), u32>,
    entities: std::collections::HashMap<String, u32>,
}

/// Prefix lengths the baseline counts.
const COUNTED_PREFIXES: [u8; 3] = [16, 24, 32];

fn prefix_key(ip: u32, len: u8) -> u64 {
    (u64::from(len) << 32) | u64::from(ip >> (32 - u32::from(len)) << (32 - u32::from(len)))
}

impl PrefixCounts {
    /// Counts the training pairs of `train` (repeated pairs count every time).
    pub fn new(train: &crate::Dataset) -> Self {
        let mut counts = std::collections::HashMap::new();
        for (&e, &ip) in train.entity_ids().iter().zip(train.ips()) {
            for len in COUNTED_PREFIXES {
                *counts.entry((e, prefix_key(ip, len))).or_insert(0u32) += 1;
            }
        }
        let entities = train
            .entities()
            .iter()
            .enumerate()
            .map(|(i, e)| (e.clone(), i as u32))
            .collect();
        Self { counts, entities }
    }

    /// `c₃₂ + c₂₄ + c₁₆` of `(entity, ip)`; 0 for an unseen entity.
    pub fn score(&self, entity: &str, ip: Ipv4Addr) -> f64 {
        let Some(&e) = self.entities.get(entity) else {
            return 0.0;
        };
        let ip = u32::from(ip);
        COUNTED_PREFIXES
            .iter()
            .map(|&len| {
                f64::from(
                    self.counts
                        .get(&(e, prefix_key(ip, len)))
                        .copied()
                        .unwrap_or(0),
                )
            })
            .sum()
    }

    /// Whether `entity` has training pairs.
    pub fn is_seen(&self, entity: &str) -> bool {
        self.entities.contains_key(entity)
    }

    /// The same report as [`evaluate`], with this scorer in place of a model (the same
    /// attacks for the same seed and the same seen entities).
    pub fn evaluate(&self, normal: &[(String, Ipv4Addr)], seed: u64) -> Evaluation {
        evaluate_with(normal, seed, &|e| self.is_seen(e), &|pairs| {
            pairs.iter().map(|(e, ip)| self.score(e, *ip)).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attacks_have_the_documented_shape() {
        let normal: Vec<(String, Ipv4Addr)> = (0..100)
            .map(|i| (format!("u{}", i % 7), Ipv4Addr::from(i as u32)))
            .collect();
        let s = shuffled_attacks(&normal, 1);
        assert_eq!(s.len(), normal.len());
        for ((e, _), (ae, aip)) in normal.iter().zip(&s) {
            assert_eq!(e, ae);
            let owner = &normal[u32::from(*aip) as usize].0;
            assert_ne!(owner, e, "the address must come from another entity");
        }
        let r = random_ip_attacks(&["a", "b"], 1000, 1);
        assert_eq!(r.len(), 1000);
        let first_octets: std::collections::HashSet<u8> =
            r.iter().map(|(_, ip)| ip.octets()[0]).collect();
        assert!(
            first_octets.len() > 200,
            "octets should be uniform on 0..=255"
        );
    }

    #[test]
    fn prefix_counts_count_shared_prefixes() {
        let train = crate::Dataset::from_pairs([
            ("a", Ipv4Addr::new(10, 1, 2, 3)),
            ("a", Ipv4Addr::new(10, 1, 2, 3)),
            ("a", Ipv4Addr::new(10, 1, 9, 9)),
            ("b", Ipv4Addr::new(10, 1, 2, 4)),
        ]);
        let c = PrefixCounts::new(&train);
        // /32: 2, /24: 2, /16: 3.
        assert_eq!(c.score("a", Ipv4Addr::new(10, 1, 2, 3)), 7.0);
        // /24: 2, /16: 3.
        assert_eq!(c.score("a", Ipv4Addr::new(10, 1, 2, 200)), 5.0);
        assert_eq!(c.score("a", Ipv4Addr::new(10, 2, 0, 0)), 0.0);
        assert_eq!(c.score("b", Ipv4Addr::new(10, 1, 2, 3)), 2.0);
        assert_eq!(c.score("nobody", Ipv4Addr::new(10, 1, 2, 3)), 0.0);
        assert!(c.is_seen("b") && !c.is_seen("nobody"));
        let normal = vec![("a".to_string(), Ipv4Addr::new(10, 1, 2, 9)); 50];
        let ev = c.evaluate(&normal, 1);
        assert_eq!(ev.unseen_entity_pairs, 0);
        assert!(ev.auc_random_ip.unwrap() > 0.99, "{ev:?}");
    }
}
