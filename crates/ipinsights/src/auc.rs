//! ROC AUC as the Mann-Whitney statistic, with tied scores counted as half.

/// The probability that a random positive scores higher than a random negative, ties
/// counting one half: `(Σ rank(pos) − n_p(n_p+1)/2) / (n_p·n_n)` with average ranks.
///
/// Higher scores mean "more positive". Returns `None` when either side is empty or a score
/// is NaN.
pub fn roc_auc(positives: &[f64], negatives: &[f64]) -> Option<f64> {
    let (np, nn) = (positives.len(), negatives.len());
    if np == 0 || nn == 0 || positives.iter().chain(negatives).any(|x| x.is_nan()) {
        return None;
    }
    let mut all: Vec<(f64, bool)> = positives
        .iter()
        .map(|&s| (s, true))
        .chain(negatives.iter().map(|&s| (s, false)))
        .collect();
    all.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        // -0.0 and 0.0 are equal scores even though total_cmp orders them.
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        let pos_in_group = all[i..j].iter().filter(|x| x.1).count();
        rank_sum += avg_rank * pos_in_group as f64;
        i = j;
    }
    let (np, nn) = (np as f64, nn as f64);
    Some((rank_sum - np * (np + 1.0) / 2.0) / (np * nn))
}

/// [`roc_auc`] over labelled scores (`true` = positive).
pub fn roc_auc_labeled(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pos: Vec<f64> = scores
        .iter()
        .zip(labels)
        .filter(|(_, l)| **l)
        .map(|(s, _)| *s)
        .collect();
    let neg: Vec<f64> = scores
        .iter()
        .zip(labels)
        .filter(|(_, l)| !**l)
        .map(|(s, _)| *s)
        .collect();
    roc_auc(&pos, &neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        assert_eq!(roc_auc(&[3.0, 4.0], &[1.0, 2.0]), Some(1.0));
        assert_eq!(roc_auc(&[1.0, 2.0], &[3.0, 4.0]), Some(0.0));
        // Pairs (p, n): (2,1) win, (2,3) loss, (4,1) win, (4,3) win -> 3/4.
        assert_eq!(roc_auc(&[2.0, 4.0], &[1.0, 3.0]), Some(0.75));
        // All tied -> 1/2.
        assert_eq!(roc_auc(&[1.0, 1.0], &[1.0, 1.0, 1.0]), Some(0.5));
        // p=[0.8, 0.5], n=[0.5, 0.2]: (0.8,0.5) 1, (0.8,0.2) 1, (0.5,0.5) 0.5, (0.5,0.2) 1 -> 3.5/4.
        assert_eq!(roc_auc(&[0.8, 0.5], &[0.5, 0.2]), Some(0.875));
        // sklearn.metrics.roc_auc_score([1,1,0,0,1,0], [0.1,0.4,0.35,0.8,0.9,0.1]) = 0.611...
        let s = [0.1, 0.4, 0.35, 0.8, 0.9, 0.1];
        let l = [true, true, false, false, true, false];
        let auc = roc_auc_labeled(&s, &l).unwrap();
        assert!((auc - 5.5 / 9.0).abs() < 1e-12, "{auc}");
        assert_eq!(roc_auc(&[0.0], &[-0.0]), Some(0.5));
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(roc_auc(&[], &[1.0]), None);
        assert_eq!(roc_auc(&[1.0], &[]), None);
        assert_eq!(roc_auc(&[f64::NAN], &[1.0]), None);
    }
}
