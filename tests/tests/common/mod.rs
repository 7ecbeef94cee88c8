//! What the handler's end-to-end tests share: captured log records, a simulated lake in moto
//! with a model trained on its clean days, SQS events, and the function's dependencies.
// Each test binary uses its own part of this module.
#![allow(dead_code, unused_imports)]

pub use std::collections::{BTreeSet, HashMap};
pub use std::io::Write;
pub use std::net::Ipv4Addr;
pub use std::path::PathBuf;
pub use std::sync::{Arc, Mutex, OnceLock};
pub use std::time::Duration;

pub use aws_lambda_events::event::sqs::SqsEvent;
pub use e2e_tests::{fault_proxy, moto_endpoint, put_object, s3_client};
pub use ipcheck::{
    Backoff, Config, Deps, EmbeddedScorer, EndpointScorer, Metrics, Scorer, handle_batch,
};
pub use ipinsights::server::{InjectedError, Server, ServerConfig};
pub use ipinsights::{Dataset, Hyperparameters, Model, TrainOptions};
pub use seclake::simulate::{Codec, Manifest, ObjectSpec, SimConfig};
pub use seclake::{
    ExtractOptions, ObjectReader, ReadOptions, Source, SourceVersion, extract_local,
};
pub use serde_json::{Value, json};

// ---- captured log records ------------------------------------------------------------------

#[derive(Clone)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The JSON log lines the handler wrote (the production subscriber, writing to memory).
pub fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        ipcheck::logging::init(true, move || Capture(writer.clone()));
        buf
    })
}

/// Records whose message id starts with `prefix` (every test uses its own prefix).
pub fn records(prefix: &str) -> Vec<Value> {
    let data = logs().lock().unwrap().clone();
    String::from_utf8_lossy(&data)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["message_id"]
                .as_str()
                .is_some_and(|m| m.starts_with(prefix))
        })
        .collect()
}

pub fn of_kind<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["record"] == kind).collect()
}

// ---- a simulated lake in moto, and a model trained on its clean days -----------------------

pub use e2e_tests::lake::{Lake, lake};

pub fn expected_anomalies_as(
    lake: &Lake,
    objects: &[(String, String, PathBuf)],
    threshold: f64,
    knows_entities: bool,
) -> BTreeSet<(String, String, String)> {
    lake.expected_anomalies(objects, threshold, knows_entities)
}

pub fn expected_anomalies(
    lake: &Lake,
    objects: &[(String, String, PathBuf)],
    threshold: f64,
) -> BTreeSet<(String, String, String)> {
    expected_anomalies_as(lake, objects, threshold, false)
}

pub fn anomaly_set(records: &[Value]) -> BTreeSet<(String, String, String)> {
    of_kind(records, "anomaly")
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                r["entity"].as_str().unwrap().to_string(),
                r["ip"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// ---- events --------------------------------------------------------------------------------

pub fn s3_body(bucket: &str, key: &str, size: Option<u64>) -> String {
    let encoded: String = key
        .chars()
        .map(|c| match c {
            ' ' => "+".to_string(),
            '=' => "%3D".to_string(),
            c => c.to_string(),
        })
        .collect();
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-01-07T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket},
               "object": {"key": encoded, "size": size.map(|s| s.to_string())}}}]})
    .to_string()
}

pub fn eventbridge_body(bucket: &str, key: &str) -> String {
    json!({"source": "aws.s3", "account": "111122223333", "time": "2026-01-07T00:00:00Z",
        "region": "us-east-1", "resources": [], "detail": {"bucket": {"name": bucket},
        "object": {"key": key}}})
    .to_string()
}

pub fn sqs_event(messages: &[(String, String)]) -> SqsEvent {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({"messageId": id, "receiptHandle": "rh", "body": body, "attributes": {},
                   "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:AmazonSecurityLake-e2e-Main-Queue",
                   "awsRegion": "us-east-1"})
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

pub fn invocation(event: SqsEvent, seconds: u64) -> lambda_runtime::LambdaEvent<SqsEvent> {
    let mut ctx = lambda_runtime::Context::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    ctx.deadline = now + seconds * 1000;
    ctx.request_id = "e2e".into();
    lambda_runtime::LambdaEvent::new(event, ctx)
}

pub fn failures(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> BTreeSet<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

// ---- the function under test ---------------------------------------------------------------

/// A SageMaker-compatible server for `model` on 127.0.0.1.
pub async fn start_server(model: Arc<Model>, cfg: ServerConfig) -> (String, Arc<Server>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = Server::new(model, cfg);
    tokio::spawn(server.clone().serve(listener, std::future::pending()));
    (url, server)
}

pub fn runtime_client(url: &str) -> aws_sdk_sagemakerruntime::Client {
    use aws_sdk_sagemakerruntime::config::{
        BehaviorVersion, Credentials, Region, retry::RetryConfig,
    };
    aws_sdk_sagemakerruntime::Client::from_conf(
        aws_sdk_sagemakerruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .endpoint_url(url)
            .retry_config(RetryConfig::disabled())
            .build(),
    )
}

pub fn config(vars: &[(&str, &str)]) -> Config {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned()).unwrap()
}

pub fn endpoint_deps(config: Config, s3_url: &str, runtime_url: &str) -> Deps {
    let scorer = Scorer::Endpoint(
        EndpointScorer::new(
            runtime_client(runtime_url),
            "ipinsights-e2e",
            config.endpoint_max_request_bytes,
            config.endpoint_concurrency,
        )
        .with_backoff(Backoff {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(40),
        }),
    );
    Deps::new(config, ObjectReader::with_s3(s3_client(s3_url)), scorer)
}

/// Every scored object of the lake in one batch, message ids starting with `prefix`; none may
/// come back.
pub async fn every_scored_object(lake: &Lake, prefix: &str, deps: &Deps) -> Metrics {
    let messages: Vec<(String, String)> = lake
        .scored_objects
        .iter()
        .enumerate()
        .map(|(i, (b, k, _))| (format!("{prefix}{i}"), s3_body(b, k, None)))
        .collect();
    let (response, metrics) = handle_batch(invocation(sqs_event(&messages), 30), deps)
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    metrics
}
