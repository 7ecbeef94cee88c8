//! The analysts' verdicts in the CLI: `suppressions check` (a local file and one in moto's
//! S3), `prepare --labels` (false positives become training rows and move the model) and
//! `calibrate --labels` (they count as normal traffic; confirmed attacks give a recall).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use findings::labels::{DAY_MS, Label, Verdict, format_rfc3339_ms, write_labels};
use ipinsights::Model;

fn ipinsights() -> Command {
    e2e_tests::command(env!("CARGO_BIN_EXE_ipinsights"))
}

fn run(cmd: &mut Command) -> (String, String) {
    e2e_tests::run_ok(cmd)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn suppressions_check_lists_rules_and_refuses_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let day = |offset: i64| format_rfc3339_ms(now_ms() + offset * DAY_MS)[..10].to_string();
    let text = format!(
        r#"suppressions:
  - id: nightly-backup
    account: "1111*"
    entity: "i-0abc*"
    cidr: [203.0.113.0/24, 198.51.100.7]
    port: [443, "8000-8100"]
    reason: backup to partner
    owner: netops@example.com
    expires: {}
  - entity: "i-0def*"
    reason: patch mirror
    owner: ops@example.com
    expires: {}
  - group: "subnet-0db*"
    pairing: initiator
    reason: load test
    owner: qa@example.com
    expires: {}
"#,
        day(300),
        day(5),
        day(-3)
    );
    let file = dir.path().join("suppressions.yaml");
    std::fs::write(&file, &text).unwrap();
    let (stdout, _) = run(ipinsights().args(["suppressions", "check"]).arg(&file));
    assert!(stdout.contains("valid, 3 rules"), "{stdout}");
    assert!(
        stdout.contains("  nightly-backup: account=1111* entity=i-0abc* cidr=203.0.113.0/24,198.51.100.7/32 port=443,8000-8100 | owner netops@example.com | until "),
        "{stdout}"
    );
    assert!(
        stdout.contains("  rule-2: entity=i-0def* | owner ops@example.com"),
        "{stdout}"
    );
    assert!(stdout.contains("(EXPIRED) | load test"), "{stdout}");
    assert!(
        stdout.contains("expired (1, they match nothing): rule-3 (owner qa@example.com)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("expiring within 14 days (1): rule-2 (owner ops@example.com)"),
        "{stdout}"
    );
    let (stdout, _) = run(ipinsights()
        .args(["suppressions", "check", "--within-days", "2"])
        .arg(&file));
    assert!(
        stdout.contains("expiring within 2 days (0): none"),
        "{stdout}"
    );

    // A typo is an error that names the rule and the field, and the exit status says so.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, text.replace("    cidr:", "    cdir:")).unwrap();
    let out = ipinsights()
        .args(["suppressions", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rule \"nightly-backup\" (#1), field `cdir`: unknown field"),
        "{stderr}"
    );
    let missing = ipinsights()
        .args(["suppressions", "check"])
        .arg(dir.path().join("none.yaml"))
        .output()
        .unwrap();
    assert!(!missing.status.success());

    // From S3.
    let Some(endpoint) = e2e_tests::moto_endpoint() else {
        return;
    };
    let s3 = e2e_tests::s3_client(&endpoint);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(e2e_tests::put_object(
            &s3,
            "suppressions-config",
            "ipinsights/suppressions.yaml",
            text.into_bytes(),
        ));
    let (stdout, _) = run(ipinsights().args([
        "suppressions",
        "check",
        "s3://suppressions-config/ipinsights/suppressions.yaml",
    ]));
    assert!(stdout.contains("valid, 3 rules"), "{stdout}");
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

fn prepare(lake: &Path, out: &Path, extra: &[&str]) -> String {
    let (_, stderr) = run(ipinsights()
        .arg("prepare")
        .arg("--lake")
        .arg(lake)
        .args([
            "--since", "20260105", "--until", "20260108", "--quiet", "--out",
        ])
        .arg(out)
        .args(extra));
    stderr
}

fn fit(data: &Path, model: &Path) {
    run(ipinsights()
        .arg("fit")
        .arg("--train")
        .arg(data.join("train.csv"))
        .arg("--out")
        .arg(model)
        .args([
            "--num_entity_vectors",
            "200",
            "--vector_dim",
            "64",
            "--epochs",
            "15",
            "--learning_rate",
            "0.01",
            "--mini_batch_size",
            "1000",
            "--quiet",
        ]));
}

fn rows(path: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        *counts.entry(line.to_string()).or_default() += 1;
    }
    counts
}

fn label(entity: &str, address: Ipv4Addr, group: Option<&str>, verdict: Verdict) -> Label {
    Label {
        entity: entity.into(),
        address,
        group: group.map(String::from),
        verdict,
        when_ms: 20_462 * DAY_MS,
        who: "ana".into(),
        finding_id: format!("f-{entity}-{address}"),
        note: "checked, with the owner".into(),
    }
}

fn score(model: &Model, entity: &str, ip: Ipv4Addr) -> f64 {
    model.score_pairs(&[(entity, ip)])[0].dot_product
}

fn value_after<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in\n{stdout}"));
    line[prefix.len()..].split_whitespace().next().unwrap()
}

#[test]
fn labels_move_prepare_and_calibrate() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = simulated_lake(tmp.path());
    let plain = tmp.path().join("plain");
    prepare(&lake, &plain, &[]);
    let train = rows(&plain.join("train.csv"));
    // The busiest instance and a subnet of the training data.
    let mut per_entity: HashMap<&str, usize> = HashMap::new();
    for (row, n) in &train {
        *per_entity
            .entry(row.split(',').next().unwrap())
            .or_default() += n;
    }
    let entity = per_entity
        .iter()
        .filter(|(e, _)| e.starts_with("i-"))
        .max_by_key(|(e, n)| (**n, **e))
        .map(|(e, _)| e.to_string())
        .unwrap();
    let group = per_entity
        .keys()
        .filter(|e| e.starts_with("subnet-"))
        .min()
        .unwrap()
        .to_string();
    let m0 = tmp.path().join("m0.ipim");
    fit(&plain, &m0);
    let model0 = Model::load(&m0).unwrap();
    let calibrated = |model: &Path| -> f64 {
        let (stdout, _) = run(ipinsights()
            .arg("calibrate")
            .arg("--model")
            .arg(model)
            .arg("--normal")
            .arg(plain.join("validation.csv"))
            .args(["--max-fpr", "0.01"]));
        value_after(&stdout, "ANOMALY_THRESHOLD=").parse().unwrap()
    };
    let t0 = calibrated(&m0);
    // The analysts' false positive: the new address of the busiest instance that alerts most.
    let fp_ip = (1..=60u8)
        .map(|k| Ipv4Addr::new(198, 51, 100, 100 + k))
        .min_by(|a, b| score(&model0, &entity, *a).total_cmp(&score(&model0, &entity, *b)))
        .unwrap();
    let tp_ip = Ipv4Addr::new(192, 0, 2, 66);
    // The same pair twice (two findings): it counts once.
    let mut again = label(&entity, fp_ip, Some(&group), Verdict::FalsePositive);
    again.finding_id = "f-again".into();
    let labels = vec![
        label(&entity, fp_ip, Some(&group), Verdict::FalsePositive),
        again,
        label(&entity, tp_ip, None, Verdict::TruePositive),
    ];
    let labels_path = tmp.path().join("labels.csv");
    let mut bytes = Vec::new();
    write_labels(&mut bytes, &labels).unwrap();
    std::fs::write(&labels_path, bytes).unwrap();

    let labelled = tmp.path().join("labelled");
    let stderr = prepare(
        &lake,
        &labelled,
        &["--labels", labels_path.to_str().unwrap()],
    );
    assert!(
        stderr.contains("3 labels; 1 false-positive pairs added as 50 training rows (50 per pair) and 50 group rows; 1 true-positive pairs not trained on"),
        "{stderr}"
    );
    // Exactly the false positive's rows were added, to training only.
    let mut want = train.clone();
    *want.entry(format!("{entity},{fp_ip}")).or_default() += 50;
    *want.entry(format!("{group},{fp_ip}")).or_default() += 50;
    assert_eq!(rows(&labelled.join("train.csv")), want);
    assert!(!want.contains_key(&format!("{entity},{tp_ip}")));
    assert_eq!(
        rows(&labelled.join("validation.csv")),
        rows(&plain.join("validation.csv"))
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(labelled.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["labels"]["rows"], 50);
    assert_eq!(manifest["labels"]["false_positive_pairs"], 1);

    // The false positive moves the model: from an alert to normal.
    let m1 = tmp.path().join("m1.ipim");
    fit(&labelled, &m1);
    let model1 = Model::load(&m1).unwrap();
    let t1 = calibrated(&m1);
    let (before, after) = (
        score(&model0, &entity, fp_ip),
        score(&model1, &entity, fp_ip),
    );
    eprintln!(
        "false positive {entity},{fp_ip}: {before:.3} (threshold {t0:.3}) -> {after:.3} (threshold {t1:.3})"
    );
    assert!(before < t0, "the pair alerted before: {before} vs {t0}");
    assert!(after > t1, "and is normal after: {after} vs {t1}");
    // The group learnt it too (a new instance of the subnet is scored as its group).
    assert!(score(&model1, &group, fp_ip) > score(&model0, &group, fp_ip));

    // calibrate --labels with the model trained without them: twenty false positives of the
    // busiest instance count as normal, ten confirmed attacks give the recall.
    let mut labels = Vec::new();
    for k in 1..=20u8 {
        labels.push(label(
            &entity,
            Ipv4Addr::new(198, 51, 100, k),
            None,
            Verdict::FalsePositive,
        ));
    }
    for k in 1..=10u8 {
        labels.push(label(
            &entity,
            Ipv4Addr::new(192, 0, 2, k),
            None,
            Verdict::TruePositive,
        ));
    }
    // An entity the model never saw, without a group: left out.
    labels.push(label("i-0unknown", fp_ip, None, Verdict::FalsePositive));
    let mut bytes = Vec::new();
    write_labels(&mut bytes, &labels).unwrap();
    std::fs::write(&labels_path, bytes).unwrap();
    let (stdout, _) = run(ipinsights()
        .arg("calibrate")
        .arg("--model")
        .arg(&m0)
        .arg("--normal")
        .arg(plain.join("validation.csv"))
        .args(["--max-fpr", "0.01", "--labels"])
        .arg(&labels_path));
    assert!(
        stdout.contains("31 labels, 20 false-positive pairs (counted as normal), 10 confirmed-attack pairs, 1 pairs left out"),
        "{stdout}"
    );
    let before: f64 = value_after(&stdout, "threshold before labels: ")
        .parse()
        .unwrap();
    let with: f64 = value_after(&stdout, "threshold with labels: ")
        .parse()
        .unwrap();
    let chosen: f64 = value_after(&stdout, "ANOMALY_THRESHOLD=").parse().unwrap();
    assert_eq!(chosen, with);
    assert_eq!(
        before, t0,
        "without labels the threshold is calibrate's usual one"
    );

    // The same choice computed here: held-out pairs of known entities plus the false positives.
    let validation = std::fs::read_to_string(plain.join("validation.csv")).unwrap();
    let pairs: Vec<(&str, Ipv4Addr)> = validation
        .lines()
        .map(|l| {
            let (e, ip) = l.split_once(',').unwrap();
            (e, ip.parse().unwrap())
        })
        .collect();
    let mut normal: Vec<f64> = model0
        .score_pairs(&pairs)
        .iter()
        .filter(|s| s.entity_seen)
        .map(|s| s.dot_product)
        .collect();
    let fp: Vec<f64> = (1..=20u8)
        .map(|k| score(&model0, &entity, Ipv4Addr::new(198, 51, 100, k)))
        .collect();
    let tp: Vec<f64> = (1..=10u8)
        .map(|k| score(&model0, &entity, Ipv4Addr::new(192, 0, 2, k)))
        .collect();
    normal.extend(&fp);
    normal.sort_by(f64::total_cmp);
    let expected = normal[(0.01 * normal.len() as f64).floor() as usize];
    assert_eq!(with, expected);
    let below = |s: &[f64], t: f64| s.iter().filter(|x| **x < t).count();
    // Most of these new addresses alerted: counting them as normal lowers the threshold.
    assert!(below(&fp, before) > 10, "{fp:?} vs {before}");
    assert!(with < before, "{with} vs {before}");
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap()
            .to_string()
    };
    for (prefix, t) in [
        ("threshold before labels: ", before),
        ("threshold with labels: ", with),
    ] {
        let l = line(prefix);
        assert!(
            l.contains(&format!(
                "{} of 20 labelled false positives still alert",
                below(&fp, t)
            )),
            "{l}"
        );
        let caught = below(&tp, t);
        assert!(
            l.contains(&format!(
                "recall on confirmed attacks {:.4} ({caught} of 10)",
                caught as f64 / 10.0
            )),
            "{l}"
        );
    }
}
