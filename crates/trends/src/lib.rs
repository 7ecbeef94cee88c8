//! Detectors for daily count series, as used by `ipinsights trends` on Security Hub findings.
//!
//! The crate is pure arithmetic over `&[f64]`: it knows nothing about AWS, parquet or Athena.
//! The pipeline is [`series`] (bucket events into zero-filled daily series per key) ->
//! [`trend`] (least-squares slope; Mann-Kendall with Sen's slope) -> [`decompose`] (additive
//! seasonal decomposition with statsmodels semantics) -> [`outliers`] (interquartile rules on the
//! residual) and [`cusum`] (Kats 0.1 `CUSUMDetector` semantics).
//!
//! Every detector is checked against reference values from numpy, statsmodels, scipy,
//! pymannkendall and a Python port of Kats 0.1's CUSUM detector (see
//! `tests/reference/make_reference.py`).

pub mod cusum;
pub mod decompose;
pub mod outliers;
pub mod series;
pub mod stats;
pub mod trend;

pub use cusum::{ChangePoint, CusumConfig, Direction, detect_change_points};
pub use decompose::{DecomposeError, Decomposition, seasonal_decompose};
pub use outliers::{Outlier, OutlierConfig, OutlierReport, OutlierRule, detect_outliers};
pub use series::{DailySeries, MIN_SERIES_DAYS, civil_from_days, days_from_civil, group_daily};
pub use trend::{MannKendall, TrendDirection, mann_kendall, ols_slope};
