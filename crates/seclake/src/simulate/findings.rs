//! Security Hub findings (`SH_FINDINGS`, source versions 1.0 and 2.0) with known daily series:
//! a growing and a shrinking series, an outlier day and level shifts up and down, on a noisy
//! baseline; what was planted is returned as [`FindingsTruth`] for `findings-ground-truth.json`.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{SimError, io_err};
use crate::SourceVersion;
use crate::findings::{Finding, write_findings};

/// What to write.
#[derive(Debug, Clone)]
pub struct FindingsSimConfig {
    /// Seed of the noise.
    pub seed: u64,
    /// First day, in days since 1970-01-01.
    pub first_day: i64,
    /// Number of days (at least 28, so every planted shape has room).
    pub days: u32,
    /// The account partition and `cloud` account.
    pub account: String,
    /// The region partition and `cloud.region`.
    pub region: String,
}

/// One planted series, keyed as `ipinsights trends` keys by default (`product | first type`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlantedSeries {
    /// `product | type`.
    pub key: String,
    /// `growing`, `shrinking`, `outlier`, `shift-up`, `shift-down`.
    pub kind: String,
    /// Expected findings/day per day for trends (0 otherwise).
    pub slope: f64,
    /// Outlier days, `YYYY-MM-DD`.
    pub outlier_days: Vec<String>,
    /// For level shifts: the last day at the old level, `YYYY-MM-DD`.
    pub shift_day: Option<String>,
    /// Daily level before and after a shift.
    pub levels: Option<(f64, f64)>,
    /// Findings written per day.
    pub counts: Vec<u32>,
}

/// Everything planted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingsTruth {
    /// First day, `YYYY-MM-DD`.
    pub first_day: String,
    /// Number of days.
    pub days: u32,
    /// The planted series.
    pub series: Vec<PlantedSeries>,
}

fn ymd(day: i64) -> (i64, u32, u32) {
    // Howard Hinnant's civil_from_days.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn iso(day: i64) -> String {
    let (y, m, d) = ymd(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Writes the findings objects under `bucket_dir` (`aws/SH_FINDINGS/<version>/region=…/
/// accountId=…/eventDay=…/`), alternating findings between source versions 1.0 and 2.0.
pub fn simulate_findings(
    cfg: &FindingsSimConfig,
    bucket_dir: &Path,
) -> Result<FindingsTruth, SimError> {
    if cfg.days < 28 {
        return Err(SimError::InvalidConfig(format!(
            "Security Hub findings need at least 28 days, got {}",
            cfg.days
        )));
    }
    let n = cfg.days as i64;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5348_4649_4e44);
    let shift_up = n / 2 - 1;
    let shift_down = (2 * n) / 3;
    let spike = n / 3 + 1;
    // (product, type, kind, slope, level(t) without noise)
    type Shape = Box<dyn Fn(i64) -> f64>;
    let shapes: Vec<(&str, &str, &str, f64, Shape)> = vec![
        (
            "Inspector",
            "Software and Configuration Checks/Vulnerabilities/CVE",
            "growing",
            1.0,
            Box::new(|t| 3.0 + t as f64),
        ),
        (
            "Config",
            "Software and Configuration Checks/AWS Config Analysis",
            "shrinking",
            -0.75,
            Box::new(move |t| 5.0 + 0.75 * (n - 1 - t) as f64),
        ),
        (
            "Macie",
            "Sensitive Data Identifications/PII",
            "outlier",
            0.0,
            Box::new(move |t| if t == spike { 45.0 } else { 10.0 }),
        ),
        (
            "GuardDuty",
            "TTPs/Discovery",
            "shift-up",
            0.0,
            Box::new(move |t| if t <= shift_up { 10.0 } else { 30.0 }),
        ),
        (
            "Security Hub",
            "Software and Configuration Checks/Industry and Regulatory Standards/AWS-Foundational-Security-Best-Practices",
            "shift-down",
            0.0,
            Box::new(move |t| if t <= shift_down { 40.0 } else { 15.0 }),
        ),
    ];
    let mut per_day: Vec<[Vec<Finding>; 2]> = (0..n).map(|_| [Vec::new(), Vec::new()]).collect();
    let mut series = Vec::new();
    for (product, ty, kind, slope, level) in &shapes {
        let mut counts = Vec::with_capacity(cfg.days as usize);
        for t in 0..n {
            // Noise of ±2 findings, so that the IQR of the residual is not zero. The spike is
            // kept moderate: the 7-day moving average spreads spike/7 onto its neighbours.
            let c = (level(t) + f64::from(rng.random_range(0..=4u8)) - 2.0).max(0.0) as u32;
            counts.push(c);
            for k in 0..c {
                let f = Finding {
                    time_ms: (cfg.first_day + t) * 86_400_000
                        + i64::from(rng.random_range(0..86_400u32)) * 1000,
                    product_feature: Some((*product).to_string()),
                    first_type: Some((*ty).to_string()),
                    severity: Some(["Low", "Medium", "High"][(k % 3) as usize].to_string()),
                    account: Some(cfg.account.clone()),
                    region: Some(cfg.region.clone()),
                };
                per_day[t as usize][(k % 2) as usize].push(f);
            }
        }
        let (shift_day, levels, outlier_days) = match *kind {
            "shift-up" => (
                Some(iso(cfg.first_day + shift_up)),
                Some((10.0, 30.0)),
                vec![],
            ),
            "shift-down" => (
                Some(iso(cfg.first_day + shift_down)),
                Some((40.0, 15.0)),
                vec![],
            ),
            "outlier" => (None, None, vec![iso(cfg.first_day + spike)]),
            _ => (None, None, vec![]),
        };
        series.push(PlantedSeries {
            key: format!("{product} | {ty}"),
            kind: (*kind).to_string(),
            slope: *slope,
            outlier_days,
            shift_day,
            levels,
            counts,
        });
    }
    for (t, rows) in per_day.iter().enumerate() {
        let (y, m, d) = ymd(cfg.first_day + t as i64);
        for (rows, version) in rows.iter().zip([SourceVersion::V1, SourceVersion::V2]) {
            let dir = bucket_dir.join(format!(
                "aws/SH_FINDINGS/{}/region={}/accountId={}/eventDay={y:04}{m:02}{d:02}",
                version.as_str(),
                cfg.region,
                cfg.account
            ));
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            let bytes =
                write_findings(rows, version).map_err(|e| SimError::Internal(e.to_string()))?;
            let path = dir.join("sh-findings-0.gz.parquet");
            std::fs::write(&path, bytes).map_err(io_err(&path))?;
        }
    }
    Ok(FindingsTruth {
        first_day: iso(cfg.first_day),
        days: cfg.days,
        series,
    })
}
