//! A small `ipinsights demo` and `ipinsights evaluate`: simulate a realistic estate, prepare,
//! fit, calibrate, then the Lambda's handler on the attack days, reported against the ground
//! truth beside the three rules.

use std::path::Path;
use std::process::Command;

const SMALL: &[&str] = &[
    "--days",
    "4",
    "--accounts",
    "1",
    "--instances",
    "30",
    "--rows-per-object",
    "4000",
    "--attacks",
    "6",
    "--epochs",
    "4",
    "--vector-dim",
    "16",
];

fn run(args: &[&str], out: &Path) -> String {
    let result = Command::new(env!("CARGO_BIN_EXE_ipinsights"))
        .args(args)
        .arg("--out")
        .arg(out)
        .args(SMALL)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr).to_string();
    assert!(result.status.success(), "{stderr}");
    stderr + &String::from_utf8_lossy(&result.stdout)
}

/// `evaluate --lake LAKE --out OUT` with the small model's settings and `extra`.
fn evaluate_lake(lake: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ipinsights"))
        .args(["evaluate", "--lake"])
        .arg(lake)
        .arg("--out")
        .arg(out)
        .args(&SMALL[SMALL.len() - 4..])
        .args(extra)
        .output()
        .unwrap()
}

fn records(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What every report must hold, whatever the model's quality on a tiny estate.
fn check_report(out: &Path) -> serde_json::Value {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("evaluation.json")).unwrap())
            .unwrap();
    let scorers = report["scorers"].as_array().unwrap();
    assert_eq!(scorers.len(), 4, "the model and three rules: {report}");
    let kinds = report["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 6, "six attack kinds: {report}");
    let attack_pairs: u64 = kinds.iter().map(|k| k["pairs"].as_u64().unwrap()).sum();
    assert_eq!(attack_pairs, report["attack_pairs"].as_u64().unwrap());
    // A /16 never seen is a /24 never seen is a pair never seen.
    let alerts = |i: usize| scorers[i]["alerts"].as_u64().unwrap();
    assert!(alerts(1) >= alerts(2) && alerts(2) >= alerts(3), "{report}");
    // Every attack pair is new to its instance, and C2 to a never-seen network is new to
    // every entity at /16: the rules catch them.
    assert_eq!(
        scorers[1]["recall"]["c2_unseen_network"].as_f64(),
        Some(1.0),
        "{report}"
    );
    report
}

#[test]
fn small_demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let text = run(&["demo"], &out);

    // Records as the Lambda logs them, in records.jsonl.
    let recs = records(&out);
    let scored = recs
        .iter()
        .filter(|r| r["record"] == "object_scored")
        .count();
    // Two attack days, one account, VPC Flow and Route 53.
    assert_eq!(scored, 4, "one object_scored per object of the attack days");
    for a in recs.iter().filter(|r| r["record"] == "anomaly") {
        assert!(a["dot_product"].as_f64().unwrap() < a["threshold"].as_f64().unwrap());
        assert!(
            ["instance", "group"].contains(&a["entity_scope"].as_str().unwrap()),
            "{a}"
        );
    }
    assert!(
        !recs.iter().any(|r| r["record"] == "unseen_entity"),
        "no per-pair unseen records"
    );

    // The terminal: summary, the evaluation table and the alerts.
    for part in [
        "== summary",
        "0 messages to retry",
        "== evaluation against the ground truth",
        "rule: pair never seen",
        "== alerts",
    ] {
        assert!(text.contains(part), "{part}:\n{text}");
    }
    assert!(
        !text.contains("\"record\""),
        "no JSON records in the terminal"
    );
    check_report(&out);
    assert!(out.join("model.safetensors").is_file());
    assert!(out.join("training/train.csv").is_file());
    assert!(out.join("training/entities.txt").is_file());
}

#[test]
fn evaluate_reads_a_lake_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eval");
    let text = run(&["evaluate"], &out);
    assert!(text.contains("model (threshold"), "{text}");
    let report = check_report(&out);
    // The table counts one alert per (day, instance, address).
    let model = &report["scorers"][0];
    let per_day = model["alerts_per_day"].as_f64().unwrap();
    let days = report["days"].as_f64().unwrap();
    assert!((per_day * days - model["alerts"].as_f64().unwrap()).abs() < 1e-9);

    // The same lake again, given with --lake, gives the same report.
    let again = dir.path().join("again");
    let result = evaluate_lake(&out.join("lake"), &again, &[]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let second: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(again.join("evaluation.json")).unwrap())
            .unwrap();
    assert_eq!(report, second, "deterministic from simulate to report");
    assert_eq!(report["fanout_threshold"], serde_json::Value::Null);

    // An alert budget below the 1% threshold turns the fan-out rule on; the Lambda's records
    // and the report count the same alerts.
    let budget = dir.path().join("budget");
    let result = evaluate_lake(&out.join("lake"), &budget, &["--alert-budget", "1"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert!(stderr.contains("fan-out: "), "{stderr}");
    let report = check_report(&budget);
    let fanout_threshold = report["fanout_threshold"].as_f64().unwrap();
    let min = report["fanout_min_addresses"].as_u64().unwrap();
    assert!(min >= 10, "the floor: {report}");
    assert!(fanout_threshold > report["threshold"].as_f64().unwrap());
    assert!(
        report["scorers"][0]["scorer"]
            .as_str()
            .unwrap()
            .contains(&format!("{min}+ below")),
        "{report}"
    );
    let mut units = std::collections::BTreeSet::new();
    for a in records(&budget).iter().filter(|r| r["record"] == "anomaly") {
        assert!(a["dot_product"].as_f64().unwrap() < a["threshold"].as_f64().unwrap());
        let n = a["fanout_addresses"].as_u64().unwrap();
        if n > 0 {
            assert!(n >= min, "{a}");
            assert_eq!(a["threshold"].as_f64(), Some(fanout_threshold), "{a}");
        }
        let day = a["key"]
            .as_str()
            .unwrap()
            .split("eventDay=")
            .nth(1)
            .unwrap()[..8]
            .to_string();
        units.insert((
            day,
            a["entity"].as_str().unwrap().to_string(),
            a["ip"].as_str().unwrap().to_string(),
        ));
    }
    assert_eq!(
        units.len() as u64,
        report["scorers"][0]["alerts"].as_u64().unwrap(),
        "the Lambda's anomalies are the report's alerts"
    );
}
