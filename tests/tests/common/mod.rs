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

pub struct Lake {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub manifest: Manifest,
    pub model: Arc<Model>,
    /// Objects of the anomaly days (bucket, key, local path).
    pub scored_objects: Vec<(String, String, PathBuf)>,
}

/// Simulates a lake, uploads it to moto (once per test process) and trains a small model on
/// the clean days.
pub fn lake(endpoint: &str) -> &'static Lake {
    static LAKE: OnceLock<Lake> = OnceLock::new();
    LAKE.get_or_init(|| {
        let endpoint = endpoint.to_string();
        // A runtime of its own: this may run inside a test's runtime.
        std::thread::spawn(move || build_lake(&endpoint))
            .join()
            .expect("lake set-up")
    })
}

pub fn build_lake(endpoint: &str) -> Lake {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let cfg = SimConfig {
        seed: 7,
        days: 3,
        accounts: 2,
        instances: 24,
        rows_per_object: 4_000,
        anomalies: 8,
        ..SimConfig::default()
    };
    seclake::simulate::simulate(&cfg, &root).unwrap();
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let first_day = manifest.start_day.clone();
    let last_day = manifest
        .objects
        .iter()
        .map(|o| o.day.clone())
        .max()
        .unwrap();

    let mut train = Dataset::new();
    let mut scored_objects = Vec::new();
    for o in &manifest.objects {
        let path = root.join(&o.path);
        if o.day == first_day {
            let set = extract_local(
                &path,
                &Source::native(&o.source),
                &ExtractOptions::default(),
                &ReadOptions::default(),
            )
            .unwrap();
            // Instances and their groups, as `ipinsights prepare` trains them.
            for p in &set.pairs {
                for _ in 0..p.count.min(20) {
                    train.push(&p.entity, p.ip);
                    if let Some(g) = &p.group {
                        train.push(g, p.ip);
                    }
                }
            }
        }
        if o.day == last_day {
            scored_objects.push((o.bucket.clone(), o.key.clone(), path));
        }
    }
    let mut hp = Hyperparameters::new(2 * train.entities().len() as u64, 16);
    hp.epochs = 4;
    hp.mini_batch_size = 256;
    hp.learning_rate = 0.01;
    let model =
        ipinsights::train::train(&hp, &train, None, &TrainOptions::default(), &mut |_| {}).unwrap();
    let model_bytes = model.to_bytes().unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s3 = s3_client(endpoint);
        for o in &manifest.objects {
            put_object(
                &s3,
                &o.bucket,
                &o.key,
                std::fs::read(root.join(&o.path)).unwrap(),
            )
            .await;
        }
        put_object(
            &s3,
            "ipinsights-models",
            "lambda-e2e/model.safetensors",
            model_bytes.clone(),
        )
        .await;
    });
    Lake {
        _dir: dir,
        root,
        manifest,
        model: Arc::new(model),
        scored_objects,
    }
}

/// The anomalies the handler must report for `objects`: scored with the same model here. With
/// `knows_entities` (an embedded model, or an endpoint given the trained entity list) a pair is
/// scored as its instance and its group, the higher of the two, or as its group alone for an
/// instance the model never saw; without it (an endpoint alone), as its instance.
pub fn expected_anomalies_as(
    lake: &Lake,
    objects: &[(String, String, PathBuf)],
    threshold: f64,
    knows_entities: bool,
) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (_, key, path) in objects {
        let source = seclake::LakeKey::parse(key).unwrap().source;
        let set = extract_local(
            path,
            &source,
            &ExtractOptions::default(),
            &ReadOptions::default(),
        )
        .unwrap();
        for p in &set.pairs {
            let known = |e: &str| lake.model.is_seen(e);
            let mut entities: Vec<&str> = Vec::new();
            if !knows_entities || known(&p.entity) {
                entities.push(&p.entity);
            }
            if knows_entities && let Some(g) = p.group.as_deref().filter(|g| known(g)) {
                entities.push(g);
            }
            let Some(score) = entities
                .iter()
                .map(|e| lake.model.score(e, p.ip).dot_product)
                .reduce(f64::max)
            else {
                continue;
            };
            if score < threshold {
                out.insert((key.clone(), p.entity.to_string(), p.ip.to_string()));
            }
        }
    }
    out
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
