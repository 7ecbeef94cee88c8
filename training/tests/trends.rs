//! `ipinsights trends` on a small lake of Security Hub findings (both source versions) with
//! planted trends, an outlier day and a level shift: the report must find what was planted.

use std::process::Command;

use seclake::SourceVersion;
use seclake::findings::{Finding, write_findings};
use serde_json::Value;

const DAY_MS: i64 = 86_400_000;
/// 2026-01-05.
const FIRST_DAY: i64 = 20458;
const DAYS: i64 = 56;

/// (product, type, findings on day t).
type Planted = (&'static str, &'static str, fn(i64) -> i64);

fn planted() -> Vec<Planted> {
    vec![
        // Level shift up after day 27.
        ("GuardDuty", "TTPs/Discovery", |t| {
            if t < 28 { 10 + t % 3 } else { 30 + t % 3 }
        }),
        // Growing.
        (
            "Inspector",
            "Software and Configuration Checks/Vulnerabilities/CVE",
            |t| 2 + t + t % 2,
        ),
        // Flat with one outlier day (day 20).
        ("Macie", "Sensitive Data Identifications/PII", |t| {
            if t == 20 { 80 } else { 8 + t * 37 % 11 }
        }),
        // Shrinking.
        (
            "Config",
            "Software and Configuration Checks/AWS Config Analysis",
            |t| 45 - (t * 3) / 4,
        ),
    ]
}

fn write_lake(root: &std::path::Path) {
    for day in 0..DAYS {
        let mut by_version: [Vec<Finding>; 2] = [Vec::new(), Vec::new()];
        for (i, (product, ty, count)) in planted().into_iter().enumerate() {
            for k in 0..count(day) {
                let f = Finding {
                    time_ms: (FIRST_DAY + day) * DAY_MS + 3_600_000 + k * 1000,
                    product_feature: Some(product.into()),
                    first_type: Some(ty.into()),
                    severity: Some("High".into()),
                    account: Some("111122223333".into()),
                    region: Some("us-east-1".into()),
                };
                // Spread every series over both source versions.
                by_version[((k + i as i64) % 2) as usize].push(f);
            }
        }
        let (y, m, d) = trends::civil_from_days(FIRST_DAY + day);
        for (rows, version) in by_version
            .iter()
            .zip([SourceVersion::V1, SourceVersion::V2])
        {
            let dir = root.join(format!(
                "aws/SH_FINDINGS/{}/region=us-east-1/accountId=111122223333/eventDay={y:04}{m:02}{d:02}",
                version.as_str()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("part-0.gz.parquet"),
                write_findings(rows, version).unwrap(),
            )
            .unwrap();
        }
    }
}

fn trends(root: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ipinsights"))
        .args(["trends", "--lake"])
        .arg(root)
        .args(["--since", "2026-01-05"])
        .args(if extra.contains(&"--until") {
            &[][..]
        } else {
            &["--until", "2026-03-01"][..]
        })
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn finds_the_planted_trends_outlier_and_shift() {
    let tmp = tempfile::tempdir().unwrap();
    write_lake(tmp.path());
    let out = trends(tmp.path(), &["--format", "json", "--top", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let total: i64 = planted()
        .iter()
        .map(|(_, _, c)| (0..DAYS).map(c).sum::<i64>())
        .sum();
    assert_eq!(r["findings_in_window"], total);
    assert_eq!(r["objects"], 2 * DAYS);
    assert_eq!(r["series"].as_array().unwrap().len(), 4);
    assert_eq!(
        r["top_growing"][0],
        "Inspector | Software and Configuration Checks/Vulnerabilities/CVE"
    );
    assert_eq!(
        r["top_shrinking"][0],
        "Config | Software and Configuration Checks/AWS Config Analysis"
    );
    let series = |key: &str| {
        r["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("no series {key}"))
            .clone()
    };
    let macie = series("Macie | Sensitive Data Identifications/PII");
    assert_eq!(macie["outlier_days"], serde_json::json!(["2026-01-25"]));
    let gd = series("GuardDuty | TTPs/Discovery");
    let ups: Vec<&Value> = gd["change_points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["direction"] == "increase")
        .collect();
    assert_eq!(ups.len(), 1, "{gd}");
    // Day 27 (2026-02-01) is the last day at the old level.
    assert_eq!(ups[0]["day"], "2026-02-01");
    assert_eq!(ups[0]["index"], 27);
    assert!(ups[0]["confidence"].as_f64().unwrap() > 0.99);

    let plots = tmp.path().join("plots");
    let with_plots = trends(
        tmp.path(),
        &["--format", "json", "--plots", plots.to_str().unwrap()],
    );
    assert!(
        with_plots.status.success(),
        "{}",
        String::from_utf8_lossy(&with_plots.stderr)
    );
    let pngs: Vec<_> = std::fs::read_dir(&plots)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(pngs.len() >= 2, "{pngs:?}");
    for p in &pngs {
        let bytes = std::fs::read(p).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{}", p.display());
    }

    let table = trends(tmp.path(), &[]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("2026-01-25  Macie"), "{text}");
    assert!(
        text.contains("2026-02-01  GuardDuty | TTPs/Discovery  Increase"),
        "{text}"
    );
}

#[test]
fn bad_window_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ipinsights"))
        .args(["trends", "--lake"])
        .arg(tmp.path())
        .args(["--since", "2026-03-01", "--until", "2026-01-01"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("after"));
}

/// The simulator's Security Hub findings: everything in its ground truth is found.
#[test]
fn finds_what_the_simulator_planted() {
    for seed in 1..=5 {
        planted_and_found(seed);
    }
}

fn planted_and_found(seed: u64) {
    use seclake::simulate::findings::{FindingsSimConfig, simulate_findings};
    let tmp = tempfile::tempdir().unwrap();
    let truth = simulate_findings(
        &FindingsSimConfig {
            seed,
            first_day: FIRST_DAY,
            days: 60,
            account: "444455556666".into(),
            region: "eu-west-1".into(),
        },
        tmp.path(),
    )
    .unwrap();
    let out = trends(
        tmp.path(),
        &["--until", "2026-03-05", "--format", "json", "--top", "1"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let total: u32 = truth.series.iter().flat_map(|s| &s.counts).sum();
    assert_eq!(r["findings_in_window"], total);
    for planted in &truth.series {
        let found = r["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == planted.key.as_str())
            .unwrap_or_else(|| panic!("no series {}", planted.key));
        match planted.kind.as_str() {
            "growing" => assert_eq!(r["top_growing"][0], planted.key.as_str()),
            "shrinking" => assert_eq!(r["top_shrinking"][0], planted.key.as_str()),
            "outlier" => assert_eq!(
                found["outlier_days"],
                serde_json::json!(planted.outlier_days)
            ),
            kind => {
                let direction = if kind == "shift-up" {
                    "increase"
                } else {
                    "decrease"
                };
                let cps: Vec<&Value> = found["change_points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["direction"] == direction)
                    .collect();
                assert_eq!(cps.len(), 1, "{kind}: {found}");
                assert_eq!(
                    cps[0]["day"],
                    planted.shift_day.as_deref().unwrap(),
                    "{kind}"
                );
            }
        }
    }
}

/// `ipinsights simulate --sh-findings-days` writes findings that `trends` reads back.
#[test]
fn simulate_writes_findings_for_trends() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Command::new(env!("CARGO_BIN_EXE_ipinsights"))
        .args(["simulate", "--out"])
        .arg(tmp.path())
        .args([
            "--estate",
            "basic",
            "--days",
            "1",
            "--rows-per-object",
            "50",
            "--sh-findings-days",
            "35",
        ])
        .output()
        .unwrap();
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let truth: Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join("sh-findings-ground-truth.json")).unwrap(),
    )
    .unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("manifest.json")).unwrap()).unwrap();
    let bucket = tmp.path().join(manifest["buckets"][0][1].as_str().unwrap());
    let out = trends(&bucket, &["--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&Value> = r["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["key"])
        .collect();
    for planted in truth["series"].as_array().unwrap() {
        assert!(
            keys.contains(&&planted["key"]),
            "{} not in {keys:?}",
            planted["key"]
        );
    }
}
