//! Outlier days: the residual of an additive weekly decomposition (Kats 0.1
//! `OutlierDetector.__clean_ts__`), judged by an interquartile rule.

use serde::Serialize;

use crate::decompose::seasonal_decompose;
use crate::stats::{nanpercentile, nanvar};

/// Which rule decides that a residual is an outlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutlierRule {
    /// Kats' rule: r ≥ Q3 + k·IQR or r ≤ Q1 − k·IQR (inclusive fences). When IQR = 0 the
    /// inclusive fences would flag every day, so they become strict there.
    IqrFences,
    /// The AWS sample's rule: |r| / IQR > k, with r not centred on the median.
    IqrRatio,
}

impl OutlierRule {
    /// Human-readable name used in reports.
    pub fn describe(self, mult: f64, extrapolated: bool) -> String {
        let base = match self {
            Self::IqrFences => format!("residual outside [Q1 - {mult}*IQR, Q3 + {mult}*IQR]"),
            Self::IqrRatio => format!("|residual| / IQR > {mult} (AWS sample rule)"),
        };
        let ends = if extrapolated {
            "trend extrapolated at the ends"
        } else {
            "first and last 3 days not judged"
        };
        format!("{base}; additive weekly decomposition, {ends}")
    }
}

/// Settings of [`detect_outliers`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OutlierConfig {
    /// The decision rule.
    pub rule: OutlierRule,
    /// The IQR multiplier k (Kats default 3; the sample's notebook passes 5).
    pub mult: f64,
    /// Seasonal period in days.
    pub period: usize,
    /// Extrapolate the moving-average trend at both ends (statsmodels `extrapolate_trend =
    /// period - 1`) so the latest days can be flagged.
    pub extrapolate_trend: bool,
    /// Seasonality strength from which the seasonal component is removed (Kats: 0.6).
    pub strength_threshold: f64,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            rule: OutlierRule::IqrFences,
            mult: 3.0,
            period: 7,
            extrapolate_trend: false,
            strength_threshold: 0.6,
        }
    }
}

/// One flagged day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outlier {
    /// Day index in the series.
    pub index: usize,
    /// The observed count.
    pub value: f64,
    /// The residual that was judged.
    pub residual: f64,
    /// For the fences rule, (r − L)/(U − L) with L, U the fences (Kats 0.2's score: > 1 above,
    /// < 0 below); for the ratio rule, |r| / IQR.
    pub score: f64,
}

/// Outcome of [`detect_outliers`] on one series, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutlierReport {
    /// The rule that ran, in words.
    pub rule: String,
    /// Why the series was not judged (too short to decompose), if so.
    pub skipped: Option<String>,
    /// Seasonality strength F.
    pub seasonal_strength: f64,
    /// Whether F ≥ threshold removed the weekly component.
    pub seasonal_removed: bool,
    /// First quartile of the residual.
    pub q1: f64,
    /// Third quartile of the residual.
    pub q3: f64,
    /// The residual per day (NaN where the trend is undefined).
    #[serde(skip)]
    pub residual: Vec<f64>,
    /// The trend per day (NaN where undefined).
    #[serde(skip)]
    pub trend: Vec<f64>,
    /// Flagged days in index order.
    pub outliers: Vec<Outlier>,
}

/// Finds outlier days in `y`.
pub fn detect_outliers(y: &[f64], cfg: &OutlierConfig) -> OutlierReport {
    let rule = cfg.rule.describe(cfg.mult, cfg.extrapolate_trend);
    let extrap = cfg.extrapolate_trend.then(|| cfg.period.saturating_sub(1));
    let d = match seasonal_decompose(y, cfg.period, extrap) {
        Ok(d) => d,
        Err(e) => {
            return OutlierReport {
                rule,
                skipped: Some(e.to_string()),
                seasonal_strength: f64::NAN,
                seasonal_removed: false,
                q1: f64::NAN,
                q3: f64::NAN,
                residual: vec![f64::NAN; y.len()],
                trend: vec![f64::NAN; y.len()],
                outliers: Vec::new(),
            };
        }
    };
    // Moving-average rounding noise (1e-16 on a flat series) is not a finding, but the IQR of
    // pure noise is tiny and |r| / IQR would flag every day: zero it below 1e-9 of the scale.
    let scale = y.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
    let eps = 1e-9 * scale;
    let snap = |v: f64| if v.abs() < eps { 0.0 } else { v };
    let detrended: Vec<f64> = y.iter().zip(&d.trend).map(|(a, t)| snap(a - t)).collect();
    let resid: Vec<f64> = d.resid.iter().map(|&v| snap(v)).collect();
    let strength = 1.0 - nanvar(&resid) / nanvar(&detrended);
    // NaN strength (constant detrended series) compares false and keeps the seasonal part.
    let removed = strength >= cfg.strength_threshold;
    let residual: Vec<f64> = (0..y.len())
        .map(|t| {
            let v = if removed { y[t] - d.seasonal[t] } else { y[t] };
            snap(v - d.trend[t])
        })
        .collect();
    let q1 = nanpercentile(&residual, 25.0);
    let q3 = nanpercentile(&residual, 75.0);
    let iqr = q3 - q1;
    let lo = q1 - cfg.mult * iqr;
    let hi = q3 + cfg.mult * iqr;
    let mut outliers = Vec::new();
    for (t, &r) in residual.iter().enumerate() {
        if r.is_nan() {
            continue;
        }
        let (flag, score) = match cfg.rule {
            OutlierRule::IqrFences => {
                let flag = if iqr > 0.0 {
                    r >= hi || r <= lo
                } else {
                    r > hi || r < lo
                };
                (flag, (r - lo) / (hi - lo))
            }
            OutlierRule::IqrRatio => {
                let ratio = r.abs() / iqr;
                (ratio > cfg.mult, ratio)
            }
        };
        if flag {
            outliers.push(Outlier {
                index: t,
                value: y[t],
                residual: r,
                score,
            });
        }
    }
    OutlierReport {
        rule,
        skipped: None,
        seasonal_strength: strength,
        seasonal_removed: removed,
        q1,
        q3,
        residual,
        trend: d.trend,
        outliers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spiky() -> Vec<f64> {
        let mut y: Vec<f64> = (0..35).map(|t| 10.0 + (t % 3) as f64).collect();
        y[17] = 60.0;
        y[33] = 80.0;
        y
    }

    #[test]
    fn spike_found_and_ends_not_judged() {
        let r = detect_outliers(&spiky(), &OutlierConfig::default());
        let idx: Vec<usize> = r.outliers.iter().map(|o| o.index).collect();
        assert_eq!(idx, vec![17]);
        assert!(r.rule.contains("not judged"));
    }

    #[test]
    fn extrapolation_reaches_the_latest_days() {
        let cfg = OutlierConfig {
            extrapolate_trend: true,
            ..OutlierConfig::default()
        };
        let r = detect_outliers(&spiky(), &cfg);
        let idx: Vec<usize> = r.outliers.iter().map(|o| o.index).collect();
        assert!(idx.contains(&17) && idx.contains(&33), "{idx:?}");
    }

    #[test]
    fn short_series_is_skipped_not_failed() {
        let r = detect_outliers(&[1.0; 10], &OutlierConfig::default());
        assert!(r.skipped.is_some());
        assert!(r.outliers.is_empty());
    }
}
