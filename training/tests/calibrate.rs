//! `ipinsights calibrate` with a model file and with an endpoint (`ipinsights::server` on
//! 127.0.0.1): the printed threshold keeps the false-positive rate, and both agree.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Arc;

use ipinsights::login_data::{self, LoginConfig};
use ipinsights::server::{Server, ServerConfig};
use ipinsights::train::{self, TrainOptions};
use ipinsights::{Hyperparameters, Model};

fn ipinsights() -> Command {
    e2e_tests::command(env!("CARGO_BIN_EXE_ipinsights"))
}

fn run(cmd: &mut Command) -> String {
    e2e_tests::run_ok(cmd).0
}

fn threshold_of(stdout: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("ANOMALY_THRESHOLD="))
        .expect("ANOMALY_THRESHOLD line")
        .parse()
        .unwrap()
}

#[test]
fn calibrate_with_a_model_and_an_endpoint() {
    let data = login_data::generate(&LoginConfig {
        num_users: 40,
        max_events_per_user: 200,
        seed: 2,
        ..Default::default()
    });
    let mut hp = Hyperparameters::new(80, 8);
    hp.epochs = 2;
    hp.mini_batch_size = 200;
    let model = train::train(
        &hp,
        &data.train,
        None,
        &TrainOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("model.ipim");
    model.save(&model_path).unwrap();
    let normal: Vec<(String, Ipv4Addr)> = data.test.into_iter().take(2000).collect();
    let csv: String = normal.iter().map(|(e, ip)| format!("{e},{ip}\n")).collect();
    let normal_path = dir.path().join("heldout.csv");
    std::fs::write(&normal_path, csv).unwrap();
    let png = dir.path().join("scores.png");

    let stdout = run(ipinsights()
        .args(["calibrate", "--model"])
        .arg(&model_path)
        .arg("--normal")
        .arg(&normal_path)
        .args(["--max-fpr", "0.05", "--attacks", "500", "--plot"])
        .arg(&png));
    assert!(stdout.contains("ROC AUC: 0."), "{stdout}");
    assert!(stdout.contains("recall there: random"), "{stdout}");
    let threshold = threshold_of(&stdout);
    // At most 5% of the normal pairs fall below the printed threshold.
    let pairs: Vec<(&str, Ipv4Addr)> = normal.iter().map(|(e, ip)| (e.as_str(), *ip)).collect();
    let below = Model::load(&model_path)
        .unwrap()
        .score_pairs(&pairs)
        .iter()
        .filter(|s| s.dot_product < threshold)
        .count();
    assert!(below as f64 <= 0.05 * pairs.len() as f64, "{below}");
    let image = std::fs::read(&png).unwrap();
    assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"));

    // The same through an endpoint: the threshold agrees with the model file's.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::new(Arc::new(model), ServerConfig::default());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            server
                .serve(listener, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        addr
    });
    let stdout = run(ipinsights()
        .env(
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
            format!("http://{addr}"),
        )
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["calibrate", "--endpoint", "ip-insights-test", "--normal"])
        .arg(&normal_path)
        .args(["--max-fpr", "0.05", "--attacks", "500"]));
    let remote = threshold_of(&stdout);
    assert!(
        (remote - threshold).abs() <= 1e-5 * threshold.abs().max(1.0),
        "{remote} vs {threshold}"
    );
    let _ = tx.send(());

    // An alert budget below the false-positive rate's threshold prints the fan-out rule too
    // (at its floor here: login data has no instances), before the last line.
    let with_budget = |extra: &[&str]| {
        run(ipinsights()
            .args(["calibrate", "--model"])
            .arg(&model_path)
            .arg("--normal")
            .arg(&normal_path)
            .args([
                "--max-fpr",
                "0.05",
                "--attacks",
                "500",
                "--alert-budget",
                "2",
            ])
            .args(extra))
    };
    let stdout = with_budget(&[]);
    let budget_threshold = threshold_of(&stdout);
    assert!(budget_threshold < threshold, "{stdout}");
    assert!(
        stdout.contains(&format!("FANOUT_THRESHOLD={threshold}\n")),
        "{stdout}"
    );
    assert!(stdout.contains("FANOUT_MIN_ADDRESSES=10\n"), "{stdout}");
    assert!(
        stdout
            .trim_end()
            .ends_with(&format!("ANOMALY_THRESHOLD={budget_threshold}"))
    );
    let stdout = with_budget(&["--no-fanout"]);
    assert!(!stdout.contains("FANOUT_"), "{stdout}");

    // Out-of-range settings say what to do.
    let out = ipinsights()
        .args(["calibrate", "--model"])
        .arg(&model_path)
        .arg("--normal")
        .arg(&normal_path)
        .args(["--max-fpr", "5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("between 0 and 1"));
}
