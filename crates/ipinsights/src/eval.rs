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
    let mut r = rng::rng(seed, 0xD15C);
    let neg: Vec<(&str, Ipv4Addr)> = pairs
        .iter()
        .map(|(e, _)| (*e, Ipv4Addr::from(rng::u32(&mut r))))
        .collect();
    let p = dots(model, pairs);
    let n = dots(model, &neg);
    roc_auc(&p, &n)
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
    let seen: Vec<(String, Ipv4Addr)> = normal
        .iter()
        .filter(|(e, _)| model.is_seen(e))
        .cloned()
        .collect();
    let mut entities: Vec<&str> = seen.iter().map(|(e, _)| e.as_str()).collect();
    entities.sort_unstable();
    entities.dedup();
    let random = random_ip_attacks(&entities, seen.len(), seed);
    let shuffled = shuffled_attacks(&seen, seed);
    let normal_scores = dots(model, &borrow(&seen));
    Evaluation {
        normal_pairs: normal.len(),
        unseen_entity_pairs: normal.len() - seen.len(),
        auc_random_ip: roc_auc(&normal_scores, &dots(model, &borrow(&random))),
        auc_shuffled: roc_auc(&normal_scores, &dots(model, &borrow(&shuffled))),
        discriminator_auc: discriminator_auc(model, &borrow(&seen), seed),
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
}
