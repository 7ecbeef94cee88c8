//! `ipinsights simulate` then `ipinsights prepare`, from a directory and through moto's S3.

use e2e_tests::{moto_endpoint, run_ok as run, s3_client};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn ipinsights() -> Command {
    e2e_tests::command(env!("CARGO_BIN_EXE_ipinsights"))
}

/// A 4-day simulated lake; returns its bucket directory.
fn simulated_lake(dir: &Path) -> PathBuf {
    let lake = dir.join("lake");
    run(ipinsights().args(["simulate", "--out"]).arg(&lake).args([
        "--estate",
        "basic",
        "--days",
        "4",
        "--rows-per-object",
        "2000",
        "--anomalies",
        "0",
    ]));
    std::fs::read_dir(&lake)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("aws-"))
        .expect("bucket directory")
}

/// Distinct (instance, ip) of `entity,ip` lines, checking their form; the group rows (subnet or
/// VPC of each instance pair, `--group-by subnet`) are checked and left out.
fn pairs_of(csv: &str) -> BTreeSet<(String, String)> {
    let groups = csv
        .lines()
        .filter(|l| l.starts_with("subnet-") || l.starts_with("vpc-"))
        .count();
    assert!(groups > 0, "group rows beside the instance rows");
    csv.lines()
        .filter(|l| !l.starts_with("subnet-") && !l.starts_with("vpc-"))
        .map(|l| {
            let (e, ip) = l.split_once(',').expect("entity,ip");
            assert!(e.starts_with("i-"), "{l}");
            assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{l}");
            (e.to_string(), ip.to_string())
        })
        .collect()
}

/// What `ipinsights pairs` sees in the given files.
fn pairs_cli(inputs: &[PathBuf]) -> BTreeSet<(String, String)> {
    let (csv, _) = run(ipinsights().arg("pairs").args(inputs));
    csv.lines()
        .map(|l| {
            let mut f = l.split(',');
            (f.next().unwrap().to_string(), f.next().unwrap().to_string())
        })
        .collect()
}

fn day_dirs(bucket: &Path, day: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![bucket.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().unwrap() == format!("eventDay={day}").as_str() {
                    out.push(p);
                } else {
                    stack.push(p);
                }
            }
        }
    }
    out
}

#[test]
fn prepare_from_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = simulated_lake(dir.path());
    let out = dir.path().join("data");
    let (stdout, stderr) = run(ipinsights()
        .args(["prepare", "--lake"])
        .arg(&bucket)
        .args([
            "--since",
            "2026-01-05",
            "--until",
            "20260108",
            "--validation-days",
            "1",
        ])
        .args(["--shuffle-buckets", "3", "--out"])
        .arg(&out));
    assert!(stdout.contains("train.csv"), "{stdout}");
    assert!(stderr.contains("pairs/s"), "{stderr}");

    let train = std::fs::read_to_string(out.join("train.csv")).unwrap();
    let validation = std::fs::read_to_string(out.join("validation.csv")).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    // 4 days x (VPC_FLOW + ROUTE53) x 2 accounts.
    assert_eq!(manifest["objects"], 16, "{manifest}");
    assert_eq!(manifest["train"]["stats"]["objects"], 12);
    assert_eq!(manifest["validation"]["stats"]["objects"], 4);
    assert_eq!(
        manifest["train"]["stats"]["pairs"].as_u64().unwrap(),
        train.lines().count() as u64
    );
    let entities = manifest["distinct_entities"].as_u64().unwrap();
    assert!(entities > 0);
    assert_eq!(manifest["recommended_num_entity_vectors"], 2 * entities);

    // Out of time: validation holds exactly the pairs of the last day, training the others.
    let last = day_dirs(&bucket, "20260108");
    assert_eq!(pairs_of(&validation), pairs_cli(&last));
    let mut earlier = Vec::new();
    for d in ["20260105", "20260106", "20260107"] {
        earlier.extend(day_dirs(&bucket, d));
    }
    assert_eq!(pairs_of(&train), pairs_cli(&earlier));

    // The same seed writes the same files; a cap keeps a sample of that size.
    let again = dir.path().join("again");
    run(ipinsights()
        .args(["prepare", "--lake"])
        .arg(&bucket)
        .args([
            "--since",
            "20260105",
            "--until",
            "20260108",
            "--shuffle-buckets",
            "3",
        ])
        .arg("--out")
        .arg(&again));
    assert_eq!(
        std::fs::read_to_string(again.join("train.csv")).unwrap(),
        train
    );
    let capped = dir.path().join("capped");
    run(ipinsights()
        .args(["prepare", "--lake"])
        .arg(&bucket)
        .args([
            "--since",
            "20260105",
            "--until",
            "20260108",
            "--max-pairs",
            "10",
        ])
        .args(["--sources", "VPC_FLOW", "--validation-days", "0", "--out"])
        .arg(&capped));
    assert_eq!(
        std::fs::read_to_string(capped.join("train.csv"))
            .unwrap()
            .lines()
            .count(),
        10
    );
    assert!(!capped.join("validation.csv").exists());

    // Errors say what to do.
    let out = ipinsights()
        .args(["prepare", "--lake"])
        .arg(&bucket)
        .args(["--since", "20270101", "--until", "20270102", "--out"])
        .arg(dir.path().join("none"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no objects in the window"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn prepare_through_s3() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bucket_dir = simulated_lake(dir.path());
    let bucket = "prepare-lake-test";
    let prefix = "lake/";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = s3_client(&endpoint);
    rt.block_on(async {
        let _ = client.create_bucket().bucket(bucket).send().await;
        let mut stack = vec![bucket_dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(&bucket_dir).unwrap().to_string_lossy();
                    client
                        .put_object()
                        .bucket(bucket)
                        .key(format!("{prefix}{rel}"))
                        .body(std::fs::read(&p).unwrap().into())
                        .send()
                        .await
                        .unwrap();
                }
            }
        }
    });

    // The same window from the directory and from S3 gives the same pairs.
    let local = dir.path().join("local");
    run(ipinsights()
        .args(["prepare", "--lake"])
        .arg(&bucket_dir)
        .args([
            "--since",
            "20260105",
            "--until",
            "20260108",
            "--regions",
            "us-east-1",
        ])
        .arg("--out")
        .arg(&local));
    let (stdout, _) = run(ipinsights()
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["prepare", "--lake", &format!("s3://{bucket}/lake")])
        .args([
            "--since",
            "20260105",
            "--until",
            "20260108",
            "--regions",
            "us-east-1",
        ])
        .args(["--out", &format!("s3://{bucket}/data")]));
    assert!(
        stdout.contains(&format!("s3://{bucket}/data/train.csv")),
        "{stdout}"
    );
    let get = |key: &str| {
        rt.block_on(async {
            let o = client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{key}: {e:?}"));
            String::from_utf8(o.body.collect().await.unwrap().to_vec()).unwrap()
        })
    };
    for name in ["train.csv", "validation.csv"] {
        let from_s3 = get(&format!("data/{name}"));
        let from_dir = std::fs::read_to_string(local.join(name)).unwrap();
        assert_eq!(pairs_of(&from_s3), pairs_of(&from_dir), "{name}");
        assert_eq!(from_s3.lines().count(), from_dir.lines().count(), "{name}");
    }
    let manifest: serde_json::Value = serde_json::from_str(&get("data/manifest.json")).unwrap();
    assert_eq!(manifest["objects"], 16);
    assert_eq!(
        manifest["train"]["url"],
        format!("s3://{bucket}/data/train.csv")
    );
}
