//! Additive seasonal decomposition with the semantics of statsmodels
//! `seasonal_decompose(x, model="additive", period=m, two_sided=True)`: a centred moving-average
//! trend (undefined, NaN, at the ends unless extrapolated), seasonal phase means counted from the
//! first day and centred, and the residual.

use std::fmt;

use serde::Serialize;

use crate::stats::nanvar;

/// Why a series cannot be decomposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecomposeError {
    /// Fewer than two complete cycles (statsmodels raises the same way).
    TooShort {
        /// Observations needed (2 · period).
        needed: usize,
        /// Observations given.
        got: usize,
    },
    /// A period below 2 has no seasonality to estimate.
    BadPeriod(usize),
}

impl fmt::Display for DecomposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { needed, got } => write!(
                f,
                "seasonal decomposition needs two complete cycles ({needed} observations), got {got}"
            ),
            Self::BadPeriod(p) => write!(f, "seasonal period must be at least 2, got {p}"),
        }
    }
}

impl std::error::Error for DecomposeError {}

/// Trend, seasonal and residual components; `y = trend + seasonal + resid` where defined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decomposition {
    /// Centred moving average; NaN at the ends unless extrapolated.
    pub trend: Vec<f64>,
    /// Periodic component, phase 0 at the first observation.
    pub seasonal: Vec<f64>,
    /// `y - trend - seasonal`.
    pub resid: Vec<f64>,
}

impl Decomposition {
    /// Seasonality strength F = 1 - var(resid) / var(y - trend) (population variances over the
    /// defined points), as Kats' outlier detector computes it; NaN when `y - trend` is constant.
    pub fn seasonal_strength(&self, y: &[f64]) -> f64 {
        let detrended: Vec<f64> = y.iter().zip(&self.trend).map(|(a, t)| a - t).collect();
        1.0 - nanvar(&self.resid) / nanvar(&detrended)
    }
}

/// Decomposes `y` with seasonal period `period`.
///
/// `extrapolate` = `Some(k)` fills the undefined trend ends with a least-squares line through the
/// `k + 1` nearest defined trend points (statsmodels' `extrapolate_trend=k`; `"freq"` and
/// `"period"` mean `k = period - 1`), so that the latest days get a residual too.
pub fn seasonal_decompose(
    y: &[f64],
    period: usize,
    extrapolate: Option<usize>,
) -> Result<Decomposition, DecomposeError> {
    if period < 2 {
        return Err(DecomposeError::BadPeriod(period));
    }
    let n = y.len();
    if n < 2 * period {
        return Err(DecomposeError::TooShort {
            needed: 2 * period,
            got: n,
        });
    }
    // statsmodels' filter: ones(m)/m for odd m, [1/2, 1, ..., 1, 1/2]/m for even m, centred.
    let filt: Vec<f64> = if period.is_multiple_of(2) {
        let mut f = vec![1.0 / period as f64; period + 1];
        f[0] = 0.5 / period as f64;
        f[period] = 0.5 / period as f64;
        f
    } else {
        vec![1.0 / period as f64; period]
    };
    let half = filt.len() / 2;
    let mut trend = vec![f64::NAN; n];
    for (t, out) in trend.iter_mut().enumerate().take(n - half).skip(half) {
        *out = filt
            .iter()
            .enumerate()
            .map(|(j, w)| w * y[t + j - half])
            .sum();
    }
    if let Some(k) = extrapolate.filter(|&k| k > 0) {
        extrapolate_trend(&mut trend, k + 1);
    }
    let detrended: Vec<f64> = y.iter().zip(&trend).map(|(a, t)| a - t).collect();
    let mut phase = vec![0.0; period];
    for (i, p) in phase.iter_mut().enumerate() {
        let vals: Vec<f64> = detrended
            .iter()
            .skip(i)
            .step_by(period)
            .copied()
            .filter(|v| !v.is_nan())
            .collect();
        *p = vals.iter().sum::<f64>() / vals.len() as f64;
    }
    let centre = phase.iter().sum::<f64>() / period as f64;
    for p in &mut phase {
        *p -= centre;
    }
    let seasonal: Vec<f64> = (0..n).map(|t| phase[t % period]).collect();
    let resid = detrended
        .iter()
        .zip(&seasonal)
        .map(|(d, s)| d - s)
        .collect();
    Ok(Decomposition {
        trend,
        seasonal,
        resid,
    })
}

/// statsmodels `_extrapolate_trend(trend, k)`: a line fitted to the first `k` defined points from the
/// front, and to the `k` points before the last defined one (which is itself left out) at the
/// back.
fn extrapolate_trend(trend: &mut [f64], k: usize) {
    let Some(front) = trend.iter().position(|v| !v.is_nan()) else {
        return;
    };
    let Some(back) = trend.iter().rposition(|v| !v.is_nan()) else {
        return;
    };
    // statsmodels clamps both windows to the defined stretch.
    let front_last = (front + k).min(back);
    let back_first = front.max(back.saturating_sub(k));
    if front_last <= front || back <= back_first {
        return;
    }
    let (a, b) = line_fit(front, &trend[front..front_last]);
    for (t, v) in trend.iter_mut().enumerate().take(front) {
        *v = a * t as f64 + b;
    }
    let (a, b) = line_fit(back_first, &trend[back_first..back]);
    for (t, v) in trend.iter_mut().enumerate().skip(back + 1) {
        *v = a * t as f64 + b;
    }
}

/// Least-squares (slope, intercept) of `ys` over x = start, start+1, ...
fn line_fit(start: usize, ys: &[f64]) -> (f64, f64) {
    let k = ys.len() as f64;
    let xm = start as f64 + (k - 1.0) / 2.0;
    let ym = ys.iter().sum::<f64>() / k;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, y) in ys.iter().enumerate() {
        let dx = (start + i) as f64 - xm;
        sxy += dx * (y - ym);
        sxx += dx * dx;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (slope, ym - slope * xm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_weekly_pattern_is_all_seasonal() {
        let pat = [1.0, 5.0, 2.0, 0.0, 3.0, 3.0, 7.0];
        let y: Vec<f64> = (0..28).map(|t| pat[t % 7]).collect();
        let d = seasonal_decompose(&y, 7, None).unwrap();
        assert!(d.trend[..3].iter().all(|v| v.is_nan()));
        assert!(d.trend[25..].iter().all(|v| v.is_nan()));
        for t in 3..25 {
            assert!((d.trend[t] - 3.0).abs() < 1e-12);
            assert!(d.resid[t].abs() < 1e-12);
        }
        assert!((d.seasonal_strength(&y) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn too_short() {
        assert_eq!(
            seasonal_decompose(&[1.0; 13], 7, None),
            Err(DecomposeError::TooShort {
                needed: 14,
                got: 13
            })
        );
    }

    #[test]
    fn extrapolated_line_is_exact_on_a_line() {
        let y: Vec<f64> = (0..21).map(|t| 2.0 * t as f64).collect();
        let d = seasonal_decompose(&y, 7, Some(6)).unwrap();
        for (t, v) in d.trend.iter().enumerate() {
            assert!((v - 2.0 * t as f64).abs() < 1e-9, "{t}: {v}");
        }
    }
}
