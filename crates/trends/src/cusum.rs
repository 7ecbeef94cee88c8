//! Change points with the semantics of Kats 0.1 `CUSUMDetector.detector()` (univariate, no
//! interest window): for each direction an iterated CUSUM change point, a likelihood-ratio test
//! of "two means" against "one mean", and the magnitude checks.

use serde::Serialize;

use crate::stats::{argmax, argmin, mean, std};

/// Direction of a level shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The mean after the change is higher.
    Increase,
    /// The mean after the change is lower.
    Decrease,
}

/// Settings of [`detect_change_points`]; the defaults are Kats' `CUSUM_DEFAULT_ARGS`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CusumConfig {
    /// Significance level of the likelihood-ratio test (χ² with 2 degrees of freedom).
    pub threshold: f64,
    /// Iterations of the change-point search before it is called unstable.
    pub max_iter: usize,
    /// |μ1 − μ0| must exceed this many standard deviations of the days before the change.
    pub delta_std_ratio: f64,
    /// |μ1 − μ0| must exceed this absolute amount, in the direction searched.
    pub min_abs_change: f64,
    /// Directions searched, in order.
    pub directions: Vec<Direction>,
    /// Also return change points that failed the tests (Kats' `return_all_changepoints`).
    pub return_all: bool,
}

impl Default for CusumConfig {
    fn default() -> Self {
        Self {
            threshold: 0.01,
            max_iter: 10,
            delta_std_ratio: 1.0,
            min_abs_change: 0.0,
            directions: vec![Direction::Increase, Direction::Decrease],
            return_all: false,
        }
    }
}

/// A change point and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangePoint {
    /// Index of the last day of the "before" segment (Kats reports `time[changepoint]`).
    pub index: usize,
    /// Direction searched.
    pub direction: Direction,
    /// Mean up to and including `index`.
    pub mu0: f64,
    /// Mean after `index`.
    pub mu1: f64,
    /// μ1 − μ0.
    pub delta: f64,
    /// Log-likelihood ratio statistic.
    pub llr: f64,
    /// P(χ²₂ > llr).
    pub p_value: f64,
    /// 1 − p.
    pub confidence: f64,
    /// Whether the search converged before `max_iter`.
    pub stable: bool,
    /// Whether every test passed.
    pub regression_detected: bool,
}

/// Runs the CUSUM detector on `x`. Series shorter than 3 points have no change point to test.
pub fn detect_change_points(x: &[f64], cfg: &CusumConfig) -> Vec<ChangePoint> {
    let n = x.len();
    if n < 3 {
        return Vec::new();
    }
    // χ²₂ quantile in closed form: F⁻¹(1 − α) = −2 ln α.
    let critical = -2.0 * cfg.threshold.ln();
    let mut out = Vec::new();
    for &direction in &cfg.directions {
        let pick = match direction {
            Direction::Increase => argmin,
            Direction::Decrease => argmax,
        };
        let m = mean(x);
        let mut cp = pick(&cumsum(x, m)).min(n - 2);
        let mut iter = 0;
        while iter < cfg.max_iter {
            iter += 1;
            let mid = (mean(&x[..=cp]) + mean(&x[cp + 1..])) / 2.0;
            let next = pick(&cumsum(x, mid)).min(n - 2).max(1);
            if next == cp {
                break;
            }
            cp = next;
        }
        // Kats compares the counter, so converging on the last pass still counts as unstable.
        let stable = iter != cfg.max_iter;
        let mu0 = mean(&x[..=cp]);
        let mu1 = mean(&x[cp + 1..]);
        let delta = mu1 - mu0;
        let llr = llr(x, cp, mu0, mu1);
        let p_value = if llr.is_nan() {
            f64::NAN
        } else if llr >= 0.0 {
            (-llr / 2.0).exp()
        } else {
            1.0
        };
        let significant = llr > critical;
        let direction_ok = match direction {
            Direction::Increase => mu0 + cfg.min_abs_change < mu1,
            Direction::Decrease => mu0 > mu1 + cfg.min_abs_change,
        };
        // Kats takes the std of x[:cp], excluding the change day itself.
        let larger_than_std = delta.abs() > std(&x[..cp]) * cfg.delta_std_ratio;
        let regression_detected = significant && direction_ok && larger_than_std;
        if regression_detected || cfg.return_all {
            out.push(ChangePoint {
                index: cp,
                direction,
                mu0,
                mu1,
                delta,
                llr,
                p_value,
                confidence: 1.0 - p_value,
                stable,
                regression_detected,
            });
        }
    }
    out
}

fn cumsum(x: &[f64], centre: f64) -> Vec<f64> {
    let mut acc = 0.0;
    x.iter()
        .map(|v| {
            acc += v - centre;
            acc
        })
        .collect()
}

/// Kats 0.1 `_get_llr`, in closed form: with σ̂² the pooled within-segment variance over n − 2
/// and σ̃² the population variance, the Gaussian log-likelihood ratio is 2 + n ln(σ̃²/σ̂²).
/// Kats 0.1 replaces σ̂ = 0 by σ̃, which makes the ratio exactly n. A constant series (σ̃ = 0)
/// gives NaN, which fails every test as in Kats.
fn llr(x: &[f64], cp: usize, mu0: f64, mu1: f64) -> f64 {
    let n = x.len() as f64;
    let ss: f64 = x[..=cp].iter().map(|v| (v - mu0) * (v - mu0)).sum::<f64>()
        + x[cp + 1..]
            .iter()
            .map(|v| (v - mu1) * (v - mu1))
            .sum::<f64>();
    let pooled = ss / (n - 2.0);
    let global = std(x).powi(2);
    if global == 0.0 {
        return f64::NAN;
    }
    if pooled == 0.0 {
        return n;
    }
    2.0 + n * (global / pooled).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_up_is_found_at_the_last_day_before() {
        let mut x = vec![10.0, 11.0, 9.0, 10.0, 12.0, 8.0, 10.0, 11.0, 9.0, 10.0];
        x.extend([20.0, 21.0, 19.0, 20.0, 22.0, 18.0, 20.0, 21.0, 19.0, 20.0]);
        let cps = detect_change_points(&x, &CusumConfig::default());
        assert_eq!(cps.len(), 1);
        assert_eq!(cps[0].index, 9);
        assert_eq!(cps[0].direction, Direction::Increase);
        assert!((cps[0].mu0 - 10.0).abs() < 1e-12 && (cps[0].mu1 - 20.0).abs() < 1e-12);
        assert!(cps[0].confidence > 0.99);
    }

    #[test]
    fn constant_series_has_no_change_point() {
        assert!(detect_change_points(&[3.0; 20], &CusumConfig::default()).is_empty());
    }

    #[test]
    fn zero_variance_step_uses_the_kats_01_fallback() {
        let x: Vec<f64> = (0..20).map(|t| if t < 10 { 1.0 } else { 2.0 }).collect();
        let cfg = CusumConfig {
            return_all: true,
            ..CusumConfig::default()
        };
        let cps = detect_change_points(&x, &cfg);
        assert_eq!(cps[0].llr, 20.0);
        assert!(cps[0].regression_detected);
    }
}
