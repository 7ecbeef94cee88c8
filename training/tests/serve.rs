//! The SageMaker-compatible server over real HTTP: the AWS SDK's sagemakerruntime client
//! against `ipinsights::server` on 127.0.0.1:0, and the `fit` → `serve` → `score` commands
//! end to end.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sagemakerruntime::config::retry::RetryConfig;
use aws_sdk_sagemakerruntime::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sagemakerruntime::error::SdkError;
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::primitives::Blob;
use ipinsights::login_data::{self, LoginConfig};
use ipinsights::server::{InjectedError, Server, ServerConfig};
use ipinsights::train::{self, TrainOptions};
use ipinsights::{Hyperparameters, Model, wire};

fn small_data() -> login_data::LoginData {
    login_data::generate(&LoginConfig {
        num_users: 40,
        max_events_per_user: 200,
        seed: 2,
        ..Default::default()
    })
}

fn small_model() -> Model {
    let data = small_data();
    let mut hp = Hyperparameters::new(80, 8);
    hp.epochs = 1;
    hp.mini_batch_size = 200;
    train::train(
        &hp,
        &data.train,
        None,
        &TrainOptions::default(),
        &mut |_| {},
    )
    .unwrap()
}

async fn start(cfg: ServerConfig) -> (SocketAddr, Arc<Server>, tokio::sync::oneshot::Sender<()>) {
    let server = Server::new(Arc::new(small_model()), cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let s = Arc::clone(&server);
    tokio::spawn(async move {
        s.serve(listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (addr, server, tx)
}

fn client(addr: SocketAddr, attempts: u32) -> aws_sdk_sagemakerruntime::Client {
    let conf = aws_sdk_sagemakerruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(format!("http://{addr}"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(attempts)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .build();
    aws_sdk_sagemakerruntime::Client::from_conf(conf)
}

/// One raw HTTP/1.1 request; returns the status line and the body.
fn raw(addr: SocketAddr, request: &[u8]) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.lines().next().unwrap_or("").to_string();
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_talks_to_the_server() {
    let (addr, server, stop) = start(ServerConfig::default()).await;
    let sm = client(addr, 1);
    let resp = sm
        .invoke_endpoint()
        .endpoint_name("ip-insights-prod")
        .content_type("text/csv")
        .body(Blob::new(
            "user_1, 10.1.0.1\nuser_1,203.0.113.9\nnobody,10.0.0.1\n",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.content_type(), Some("application/json"));
    assert_eq!(resp.invoked_production_variant(), Some("AllTraffic"));
    let body = resp.body().unwrap().as_ref();
    let dots = wire::parse_predictions("application/json", body).unwrap();
    assert_eq!(dots.len(), 3);
    let text = std::str::from_utf8(body).unwrap();
    assert!(
        text.starts_with("{\"predictions\": [{\"dot_product\": "),
        "{text}"
    );

    // JSON in, verbose JSON Lines out.
    let resp = sm
        .invoke_endpoint()
        .endpoint_name("ip-insights-prod")
        .content_type("application/json")
        .accept("application/jsonlines; verbose=True")
        .body(Blob::new(
            r#"{"instances": [{"data": {"features": {"values": ["user_1", "10.1.0.1"]}}}, {"features": ["user_2", "10.2.0.1"]}]}"#,
        ))
        .send()
        .await
        .unwrap();
    let body = std::str::from_utf8(resp.body().unwrap().as_ref())
        .unwrap()
        .to_string();
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["entity_embedding"].as_array().unwrap().len(), 8);
    assert_eq!(lines[0]["ip_embedding"].as_array().unwrap().len(), 8);
    assert_eq!(lines[0]["dot_product"].as_f64().unwrap(), dots[0]);

    // A bad row: a 400 ValidationError naming the row, not retried.
    let err = sm
        .invoke_endpoint()
        .endpoint_name("ip-insights-prod")
        .content_type("text/csv")
        .body(Blob::new("user_1,10.1.0.1\nuser_2,10.2.0\n"))
        .send()
        .await
        .unwrap_err();
    match err.into_service_error() {
        InvokeEndpointError::ValidationError(e) => {
            assert!(e.message().unwrap_or_default().contains("row 2"), "{e:?}")
        }
        other => panic!("expected ValidationError, got {other:?}"),
    }

    // The container contract.
    let (status, _) = raw(
        addr,
        b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(status.contains(" 200 "), "{status}");
    let body = "user_1,10.1.0.1\n";
    let req = format!(
        "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, body) = raw(addr, req.as_bytes());
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(
        wire::parse_predictions("", body.as_bytes()).unwrap(),
        vec![dots[0]]
    );

    // Over the 6 MiB limit: 413, without reading the body.
    let req = format!(
        "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        7 * 1024 * 1024
    );
    let (status, _) = raw(addr, req.as_bytes());
    assert!(status.contains(" 413 "), "{status}");
    assert!(server.invocations() >= 4);
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_are_classified_like_sagemakers() {
    for (injected, retried) in [
        (InjectedError::from_status(503), true),
        (
            InjectedError::from_type("ThrottlingException").unwrap(),
            true,
        ),
        (InjectedError::from_type("ModelError").unwrap(), false),
    ] {
        let (addr, server, stop) = start(ServerConfig {
            fail_first: 2,
            fail_with: injected.clone(),
            ..Default::default()
        })
        .await;
        let result = client(addr, 3)
            .invoke_endpoint()
            .endpoint_name("e")
            .content_type("text/csv")
            .body(Blob::new("user_1,10.1.0.1\n"))
            .send()
            .await;
        if retried {
            // Two failures, then the third attempt succeeds.
            assert!(result.is_ok(), "{injected:?}: {result:?}");
            assert_eq!(server.invocations(), 3);
        } else {
            let err = result.unwrap_err();
            assert!(matches!(&err, SdkError::ServiceError(_)), "{err:?}");
            assert!(matches!(
                err.into_service_error(),
                InvokeEndpointError::ModelError(_)
            ));
            assert_eq!(server.invocations(), 1);
        }
        let _ = stop.send(());
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ipinsights")
}

fn write_csv(path: &Path, pairs: impl Iterator<Item = (String, Ipv4Addr)>) {
    let mut f = std::fs::File::create(path).unwrap();
    for (e, ip) in pairs {
        writeln!(f, "{e},{ip}").unwrap();
    }
}

#[test]
fn fit_serve_and_score_agree() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_data();
    let train_csv = dir.path().join("train.csv");
    let test_csv = dir.path().join("test.csv");
    write_csv(
        &train_csv,
        data.train.pairs().map(|(e, ip)| (e.to_string(), ip)),
    );
    write_csv(&test_csv, data.test.iter().take(300).cloned());
    let model = dir.path().join("model.safetensors");
    let status = Command::new(bin())
        .args(["fit", "--train"])
        .arg(&train_csv)
        .arg("--out")
        .arg(&model)
        .args([
            "--num_entity_vectors",
            "80",
            "--vector_dim",
            "8",
            "--epochs",
            "1",
            "--mini_batch_size",
            "200",
            "--quiet",
        ])
        .status()
        .unwrap();
    assert!(status.success());

    let local = Command::new(bin())
        .args(["score", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&test_csv)
        .output()
        .unwrap();
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    let local = String::from_utf8(local.stdout).unwrap();
    assert_eq!(
        local.lines().next(),
        Some("entity,ip,dot_product,entity_seen")
    );
    assert_eq!(local.lines().count(), 301);

    let mut server = Command::new(bin())
        .args([
            "serve",
            "--port",
            "0",
            "--fail-first",
            "1",
            "--fail-status",
            "503",
            "--model",
        ])
        .arg(&model)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");

    let remote = Command::new(bin())
        .args([
            "score",
            "--endpoint",
            "ip-insights-local",
            "--max-request-rows",
            "70",
            "--input",
        ])
        .arg(&test_csv)
        .env("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", &url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    // 300 rows at 70 a request: 5 requests, the first answered 503 once and retried.
    let stderr = String::from_utf8_lossy(&remote.stderr);
    assert!(
        stderr.contains("1 of 6 calls failed and were retried"),
        "{stderr}"
    );
    let remote = String::from_utf8(remote.stdout).unwrap();
    // Same scores through the wire, bit for bit; only entity_seen is unknown remotely.
    for (l, r) in local.lines().zip(remote.lines()).skip(1) {
        let l = l.rsplit_once(',').unwrap().0;
        let r = r.strip_suffix(',').unwrap();
        assert_eq!(l, r);
    }
    assert_eq!(remote.lines().count(), 301);
}
