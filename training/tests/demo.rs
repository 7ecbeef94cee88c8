//! A small `ipinsights demo`: simulate, prepare, fit, calibrate, then the Lambda's handler on
//! the later days, with the records on stdout and the report on stderr.

use std::process::Command;

#[test]
fn small_demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let result = Command::new(env!("CARGO_BIN_EXE_ipinsights"))
        .args(["demo", "--out"])
        .arg(&out)
        .args(["--days", "3", "--accounts", "2", "--instances", "20"])
        .args([
            "--rows-per-object",
            "3000",
            "--anomalies",
            "6",
            "--epochs",
            "6",
        ])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");

    // Records as the Lambda logs them: JSON lines with a `record` field.
    let stdout = String::from_utf8_lossy(&result.stdout);
    let records: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let scored = records
        .iter()
        .filter(|r| r["record"] == "object_scored")
        .count();
    assert_eq!(
        scored, 4,
        "one object_scored per object of the last day:\n{stdout}"
    );
    let anomalies: Vec<_> = records
        .iter()
        .filter(|r| r["record"] == "anomaly")
        .collect();
    for a in &anomalies {
        assert!(a["dot_product"].as_f64().unwrap() < a["threshold"].as_f64().unwrap());
    }

    // The report, against the ground truth.
    assert!(stderr.contains("== summary"), "{stderr}");
    assert!(stderr.contains("0 messages to retry"), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("precision / recall"))
        .unwrap();
    let recall: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(recall > 0.0, "{line}");
    assert!(out.join("scores.png").is_file());
    assert!(out.join("model.safetensors").is_file());
    assert!(out.join("training/train.csv").is_file());
}
