//! Trend over the day index: the sample's least-squares slope (`np.polyfit(t, y, 1)[0]`), and
//! Mann-Kendall with Sen's slope (as `pymannkendall.original_test`) as a significance-tested
//! alternative that is robust to outlier days.

use serde::Serialize;

use crate::stats::{median, normal_sf};

/// Least-squares slope of `y` over t = 0..n-1, in findings/day per day; `None` below 2 points.
pub fn ols_slope(y: &[f64]) -> Option<f64> {
    let n = y.len();
    if n < 2 {
        return None;
    }
    let tm = (n - 1) as f64 / 2.0;
    let ym = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in y.iter().enumerate() {
        let dt = t as f64 - tm;
        sxy += dt * (v - ym);
        sxx += dt * dt;
    }
    Some(sxy / sxx)
}

/// Direction reported by the Mann-Kendall test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrendDirection {
    /// Significant upward trend.
    Increasing,
    /// Significant downward trend.
    Decreasing,
    /// Not significant at the chosen level.
    #[serde(rename = "no trend")]
    NoTrend,
}

/// Result of the Mann-Kendall test with Sen's slope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MannKendall {
    /// S = Σ_{i<j} sgn(x_j - x_i).
    pub s: f64,
    /// Var(S) with the tie correction.
    pub var_s: f64,
    /// Continuity-corrected normal score.
    pub z: f64,
    /// Two-sided p-value from the normal approximation.
    pub p: f64,
    /// Kendall's tau, S / (n(n-1)/2).
    pub tau: f64,
    /// Direction at significance level `alpha`.
    pub trend: TrendDirection,
    /// Sen's slope: the median of pairwise slopes.
    pub sen_slope: f64,
    /// Intercept: median(x) - median(t) · slope.
    pub intercept: f64,
}

/// Mann-Kendall trend test on `x` (NaNs dropped) at level `alpha`; `None` below 3 points,
/// where the statistic has no spread to test against.
pub fn mann_kendall(x: &[f64], alpha: f64) -> Option<MannKendall> {
    let idx: Vec<f64> = (0..x.len())
        .filter(|&i| !x[i].is_nan())
        .map(|i| i as f64)
        .collect();
    let x: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
    let n = x.len();
    if n < 3 {
        return None;
    }
    let mut s = 0.0;
    for k in 0..n - 1 {
        for j in k + 1..n {
            s += sign(x[j] - x[k]);
        }
    }
    let mut sorted = x.clone();
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && sorted[j] == sorted[i] {
            j += 1;
        }
        let t = (j - i) as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        i = j;
    }
    let nf = n as f64;
    let var_s = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    let z = if s > 0.0 {
        (s - 1.0) / var_s.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var_s.sqrt()
    } else {
        0.0
    };
    let p = 2.0 * normal_sf(z.abs());
    // |z| > Φ⁻¹(1 - α/2) is the same event as p < α.
    let h = p < alpha;
    let trend = match (h, z > 0.0, z < 0.0) {
        (true, true, _) => TrendDirection::Increasing,
        (true, _, true) => TrendDirection::Decreasing,
        _ => TrendDirection::NoTrend,
    };
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n - 1 {
        for j in i + 1..n {
            // pymannkendall divides by index distance in the NaN-dropped array.
            slopes.push((x[j] - x[i]) / (j - i) as f64);
        }
    }
    let sen_slope = median(&slopes);
    let intercept = median(&x) - median(&idx) * sen_slope;
    Some(MannKendall {
        s,
        var_s,
        z,
        p,
        tau: s / (0.5 * nf * (nf - 1.0)),
        trend,
        sen_slope,
        intercept,
    })
}

fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line() {
        let y: Vec<f64> = (0..10).map(|t| 3.0 + 0.5 * t as f64).collect();
        assert!((ols_slope(&y).unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(ols_slope(&[1.0]), None);
    }

    #[test]
    fn mk_on_monotone_series() {
        let y: Vec<f64> = (0..20).map(|t| t as f64).collect();
        let mk = mann_kendall(&y, 0.05).unwrap();
        assert_eq!(mk.s, 190.0);
        assert_eq!(mk.tau, 1.0);
        assert_eq!(mk.trend, TrendDirection::Increasing);
        assert!((mk.sen_slope - 1.0).abs() < 1e-12);
        let flat = mann_kendall(&[2.0; 10], 0.05).unwrap();
        assert_eq!(flat.trend, TrendDirection::NoTrend);
        assert_eq!(flat.z, 0.0);
    }
}
