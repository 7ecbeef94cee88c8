//! `ipinsights simulate` then `ipinsights pairs`, as an engineer runs them.

use std::process::Command;

use e2e_tests::run_ok as run;

fn ipinsights() -> Command {
    e2e_tests::command(env!("CARGO_BIN_EXE_ipinsights"))
}

#[test]
fn simulate_then_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    run(ipinsights().args(["simulate", "--out"]).arg(&lake).args([
        "--estate",
        "basic",
        "--days",
        "3",
        "--rows-per-object",
        "2000",
        "--anomalies",
        "4",
    ]));

    // A whole directory: CSV `entity,ip,count`, statistics on stderr. The basic estate's
    // anomalies sit in src_endpoint, as AWS's sample pairs.
    let (csv, stats) = run(ipinsights()
        .arg("pairs")
        .arg(&lake)
        .args(["--pairing", "src"]));
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(r[0].starts_with("i-"), "{r:?}");
        assert!(r[1].parse::<std::net::Ipv4Addr>().is_ok(), "{r:?}");
        assert!(r[2].parse::<u64>().unwrap() >= 1);
    }
    assert!(stats.contains("objects 12"), "{stats}");
    assert!(stats.contains("unique pairs"), "{stats}");

    // Every injected anomaly is among the pairs src pairing sees.
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lake.join("ground-truth.json")).unwrap()).unwrap();
    for a in truth["anomalies"].as_array().unwrap() {
        let (e, ip) = (a["entity"].as_str().unwrap(), a["ip"].as_str().unwrap());
        assert!(
            rows.iter().any(|r| r[0] == e && r[1] == ip),
            "{e} {ip} missing"
        );
    }

    // JSON, another pairing, and dropped examples.
    let (json, stats) = run(ipinsights().arg("pairs").arg(&lake).args([
        "--pairing",
        "endpoint",
        "--format",
        "json",
        "--dropped",
        "2",
    ]));
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["objects"], 12);
    assert!(doc["pairs"].as_array().unwrap().len() >= rows.len());
    assert!(doc["stats"]["dropped"]["entity_null"].as_u64().is_some());
    assert!(
        stats.lines().filter(|l| l.starts_with("  ")).count() <= 2,
        "{stats}"
    );

    // A file outside the layout needs --source.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lake.join("manifest.json")).unwrap()).unwrap();
    let first = lake.join(manifest["objects"][0]["path"].as_str().unwrap());
    let copy = dir.path().join("export.parquet");
    std::fs::copy(&first, &copy).unwrap();
    let out = ipinsights().arg("pairs").arg(&copy).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--source"));
    let (from_copy, _) = run(ipinsights()
        .arg("pairs")
        .arg(&copy)
        .args(["--source", "VPC_FLOW"]));
    let (from_lake, _) = run(ipinsights().arg("pairs").arg(&first));
    assert_eq!(from_copy, from_lake);
}
