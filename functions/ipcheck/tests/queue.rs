//! The queue and the function together: the built `ipcheck` binary behind a Lambda Runtime API
//! on loopback, fed by an SQS event source mapping over moto's SQS (with a dead-letter queue),
//! S3 and Security Hub from moto, faults from a proxy in front of them. Each scenario asserts
//! the exact outcome: what was scored, what came back, what ended in the dead-letter queue.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use e2e_tests::event_source::{Mapping, depth, queue_with_dlq, send_all, take_all};
use e2e_tests::lake::{Lake, lake};
use e2e_tests::runtime_api::{Function, RuntimeApi};
use e2e_tests::{fault_proxy, moto_endpoint, put_object, s3_client, sdk_config};
use serde_json::{Value, json};

const MODEL_URI: &str = "s3://ipinsights-models/lambda-e2e/model.safetensors";

fn sqs(moto: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config(moto))
}

/// The binary under test: the one cargo built for these tests, or `IPCHECK_BIN` (a release
/// build, for load runs).
fn binary() -> PathBuf {
    std::env::var_os("IPCHECK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ipcheck")))
}

/// The function with S3 (and every other service) at `aws`, as deployed but for the timeout.
fn function(aws: &str, timeout: Duration, extra: &[(&str, &str)]) -> Function {
    let mut env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", aws),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("MODEL_URI", MODEL_URI),
        ("ANOMALY_THRESHOLD", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Function {
        bin: binary(),
        env,
        timeout,
        kill_after: None,
        function_arn: "arn:aws:lambda:us-east-1:220000000000:function:ipcheck".into(),
    }
}

fn s3_shape(bucket: &str, key: &str) -> String {
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key.replace('=', "%3D")}}}]})
    .to_string()
}

fn eventbridge_shape(bucket: &str, key: &str) -> String {
    json!({"version": "0", "source": "aws.s3", "detail-type": "Object Created",
        "account": "111122223333", "region": "us-east-1", "resources": [],
        "detail": {"bucket": {"name": bucket}, "object": {"key": key}}})
    .to_string()
}

fn of_kind<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["record"] == kind).collect()
}

/// `object_scored` records per object key.
fn scored_per_key(records: &[Value]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in of_kind(records, "object_scored") {
        *out.entry(r["key"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    out
}

fn anomaly_set(records: &[Value]) -> BTreeSet<(String, String, String)> {
    of_kind(records, "anomaly")
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap_or("").to_string(),
                r["entity"].as_str().unwrap_or("").to_string(),
                r["ip"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn mapping(url: &str, arn: &str, visibility: i32) -> Mapping {
    Mapping {
        queue_url: url.to_string(),
        queue_arn: arn.to_string(),
        batch_size: 10,
        visibility_timeout: visibility,
        producing: None,
    }
}

/// A proxy before moto whose first `times` reads of `key` are held for `stall`.
async fn stalling(moto: &str, key: &str, times: u64, stall: Duration) -> fault_proxy::FaultProxy {
    fault_proxy::start(
        moto,
        fault_proxy::Fault {
            path_contains: key.rsplit('/').next().unwrap_or(key).to_string(),
            times,
            stall: Some(stall),
            ..Default::default()
        },
    )
    .await
}

/// Every object of the lake as (bucket, key, local file), for the expected anomalies.
fn every_object(lake: &Lake) -> Vec<(String, String, PathBuf)> {
    lake.manifest
        .objects
        .iter()
        .map(|o| (o.bucket.clone(), o.key.clone(), lake.root.join(&o.path)))
        .collect()
}

/// One S3-shaped notification per scored (last-day) object.
fn scored_notifications(lake: &Lake) -> Vec<String> {
    lake.scored_objects
        .iter()
        .map(|(b, k, _)| s3_shape(b, k))
        .collect()
}

/// All objects of the lake, each announced in both message shapes, with a test event.
fn notifications(lake: &Lake) -> Vec<String> {
    let mut bodies: Vec<String> = lake
        .manifest
        .objects
        .iter()
        .map(|o| s3_shape(&o.bucket, &o.key))
        .collect();
    bodies.extend(
        lake.manifest
            .objects
            .iter()
            .map(|o| eventbridge_shape(&o.bucket, &o.key)),
    );
    bodies
        .push(json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "x"}).to_string());
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_notification_through_the_queue_is_scored_once_per_delivery() {
    let Some(moto) = moto_endpoint() else { return };
    let lake = lake(&moto);
    let sqs = sqs(&moto);
    let (url, arn, dlq) = queue_with_dlq(&sqs, "ipcheck-queue-all", 3).await;
    let bodies = notifications(lake);
    send_all(&sqs, &url, &bodies).await;
    let api = RuntimeApi::start(function(&moto, Duration::from_secs(60), &[])).await;
    let drained = mapping(&url, &arn, 30)
        .drain(&sqs, &api, Duration::from_secs(300))
        .await;
    let records = api.records();

    assert_eq!(drained.messages_received as usize, bodies.len());
    assert_eq!(drained.deleted as usize, bodies.len());
    assert_eq!(
        (drained.redeliveries, drained.killed, drained.errors),
        (0, 0, 0)
    );
    assert!(take_all(&sqs, &dlq).await.is_empty());
    // Each object scored once per message announcing it (two shapes), no more; twice in one
    // batch, once.
    let scored = scored_per_key(&records);
    assert_eq!(scored.len(), lake.manifest.objects.len());
    assert!(scored.values().all(|n| (1..=2).contains(n)), "{scored:?}");
    // The anomalies are exactly what the model gives.
    assert_eq!(
        anomaly_set(&records),
        lake.expected_anomalies(&every_object(lake), 0.0, true)
    );
    assert!(of_kind(&records, "rejected").is_empty());
    eprintln!(
        "{} messages in {:.1} s ({:.1}/s), {} invocations, peak RSS {:?} KiB",
        bodies.len(),
        drained.elapsed.as_secs_f64(),
        bodies.len() as f64 / drained.elapsed.as_secs_f64(),
        drained.invocations,
        api.peak_rss_kib().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_acknowledged_once_and_never_loop() {
    let Some(moto) = moto_endpoint() else { return };
    let lake = lake(&moto);
    let sqs = sqs(&moto);
    let s3 = s3_client(&moto);
    let (bucket, key, _) = &lake.scored_objects[0];
    let junk_key = key.replace(".parquet", "-junk.parquet");
    put_object(&s3, bucket, &junk_key, b"PAR1 this is not parquet".to_vec()).await;
    let gone_key = key.replace(".parquet", "-gone.parquet");
    let bodies = vec![
        "not json at all".to_string(),
        json!({"hello": "world"}).to_string(),
        s3_shape(bucket, "exports/random/file.parquet"),
        s3_shape(bucket, &junk_key),
        s3_shape(bucket, &gone_key),
    ];
    let (url, arn, dlq) = queue_with_dlq(&sqs, "ipcheck-queue-poison", 2).await;
    send_all(&sqs, &url, &bodies).await;
    let api = RuntimeApi::start(function(&moto, Duration::from_secs(30), &[])).await;
    let drained = mapping(&url, &arn, 2)
        .drain(&sqs, &api, Duration::from_secs(60))
        .await;
    assert_eq!(drained.deleted, 5);
    assert_eq!(drained.redeliveries, 0, "{:?}", drained.receives);
    assert!(take_all(&sqs, &dlq).await.is_empty());
    let records = api.records();
    let rejected = of_kind(&records, "rejected");
    assert_eq!(rejected.len(), 5, "{rejected:?}");
    let reason_of = |key: &str| {
        rejected
            .iter()
            .find(|r| r["key"] == key)
            .map(|r| r["reason"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(
        rejected
            .iter()
            .filter(|r| r["reason"] == "not_a_notification")
            .count(),
        2
    );
    assert_eq!(
        reason_of("exports/random/file.parquet").as_deref(),
        Some("key_outside_layout")
    );
    assert!(
        matches!(
            reason_of(&junk_key).as_deref(),
            Some("not_parquet" | "corrupt_metadata")
        ),
        "{rejected:?}"
    );
    assert_eq!(reason_of(&gone_key).as_deref(), Some("not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_always_fails_ends_in_the_dead_letter_queue_with_its_reason() {
    let Some(moto) = moto_endpoint() else { return };
    let lake = lake(&moto);
    let sqs = sqs(&moto);
    let (bucket, key, _) = &lake.scored_objects[1];
    let name = key.rsplit('/').next().unwrap().to_string();
    // This object's reads fail every time; the others are fine.
    let proxy = fault_proxy::start(
        &moto,
        fault_proxy::Fault {
            path_contains: name,
            times: u64::MAX,
            status: Some(503),
            body: Some("<Error><Code>SlowDown</Code><Message>injected</Message></Error>".into()),
            ..Default::default()
        },
    )
    .await;
    let (other_bucket, other_key, _) = &lake.scored_objects[2];
    let bodies = vec![s3_shape(bucket, key), s3_shape(other_bucket, other_key)];
    let (url, arn, dlq) = queue_with_dlq(&sqs, "ipcheck-queue-dlq", 2).await;
    send_all(&sqs, &url, &bodies).await;
    let api = RuntimeApi::start(function(&proxy.url, Duration::from_secs(20), &[])).await;
    let drained = mapping(&url, &arn, 1)
        .drain(&sqs, &api, Duration::from_secs(90))
        .await;
    let dead = take_all(&sqs, &dlq).await;
    assert_eq!(dead.len(), 1, "{drained:?}");
    assert_eq!(dead[0].body(), Some(bodies[0].as_str()));
    // Received twice (maxReceiveCount), each time handed back with its reason.
    let records = api.records();
    let failed: Vec<&Value> = of_kind(&records, "failed")
        .into_iter()
        .filter(|r| r["key"] == key.as_str())
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|r| r["reason"] == "read_transient"));
    assert_eq!(drained.item_failures, 2);
    assert_eq!(scored_per_key(&records).get(other_key.as_str()), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_shorter_than_the_work_hands_back_only_what_is_unfinished() {
    let Some(moto) = moto_endpoint() else { return };
    let lake = lake(&moto);
    let sqs = sqs(&moto);
    let hub = aws_sdk_securityhub_client(&moto);
    let _ = hub.enable_security_hub().send().await;
    let (_, stalled_key, _) = &lake.scored_objects[0];
    // The first two reads of one object stall for 8 s; the function has 5 s.
    let proxy = stalling(&moto, stalled_key, 2, Duration::from_secs(8)).await;
    let bodies = scored_notifications(lake);
    let (url, arn, dlq) = queue_with_dlq(&sqs, "ipcheck-queue-timeout", 5).await;
    send_all(&sqs, &url, &bodies).await;
    let api = RuntimeApi::start(function(
        &proxy.url,
        Duration::from_secs(5),
        &[("SECURITY_HUB", "true")],
    ))
    .await;
    // The visibility timeout is above the function's timeout, as the template requires.
    let drained = mapping(&url, &arn, 6)
        .drain(&sqs, &api, Duration::from_secs(120))
        .await;
    // Never killed: the function answered before its deadline each time.
    assert_eq!(drained.killed, 0, "{drained:?}");
    assert!(drained.item_failures >= 1);
    assert!(take_all(&sqs, &dlq).await.is_empty());
    let records = api.records();
    // Every object scored exactly once: finished messages were not delivered again.
    let scored = scored_per_key(&records);
    assert_eq!(scored.len(), bodies.len());
    assert!(scored.values().all(|n| *n == 1), "{scored:?}");
    let anomalies = of_kind(&records, "anomaly");
    let ids: BTreeSet<&str> = anomalies
        .iter()
        .map(|a| a["finding_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        anomaly_set(&records),
        lake.expected_anomalies(&lake.scored_objects, 0.0, true)
    );
    // One finding per anomaly id.
    let findings = our_findings(&hub, "220000000000").await;
    assert_eq!(findings, ids.iter().map(|s| s.to_string()).collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_killed_mid_batch_is_finished_on_the_next_delivery_without_doubled_findings() {
    let Some(moto) = moto_endpoint() else { return };
    let lake = lake(&moto);
    let sqs = sqs(&moto);
    let hub = aws_sdk_securityhub_client(&moto);
    let _ = hub.enable_security_hub().send().await;
    let (_, stalled_key, _) = &lake.scored_objects[0];
    // The first read of one object hangs; the process dies (killed at 3 s) before it answers.
    let proxy = stalling(&moto, stalled_key, 1, Duration::from_secs(20)).await;
    let bodies = scored_notifications(lake);
    let (url, arn, dlq) = queue_with_dlq(&sqs, "ipcheck-queue-killed", 5).await;
    send_all(&sqs, &url, &bodies).await;
    let mut f = function(
        &proxy.url,
        Duration::from_secs(60),
        &[("SECURITY_HUB", "true")],
    );
    // Its own account, so that other tests' findings do not mix in.
    f.function_arn = "arn:aws:lambda:us-east-1:220000000001:function:ipcheck".into();
    f.kill_after = Some(Duration::from_secs(3));
    let api = RuntimeApi::start(f).await;
    let drained = mapping(&url, &arn, 4)
        .drain(&sqs, &api, Duration::from_secs(120))
        .await;
    assert_eq!(drained.killed, 1, "{drained:?}");
    assert!(drained.redeliveries >= 1);
    assert!(take_all(&sqs, &dlq).await.is_empty());
    assert_eq!(api.starts.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(api.crashes.load(std::sync::atomic::Ordering::Relaxed), 0);
    let records = api.records();
    // Everything finished, once after the kill (some objects twice in all: at least once).
    let scored = scored_per_key(&records);
    assert_eq!(scored.len(), bodies.len());
    let anomalies = of_kind(&records, "anomaly");
    let ids: BTreeSet<String> = anomalies
        .iter()
        .map(|a| a["finding_id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(our_findings(&hub, "220000000001").await, ids);
}

fn aws_sdk_securityhub_client(moto: &str) -> aws_sdk_securityhub::Client {
    aws_sdk_securityhub::Client::new(&sdk_config(moto))
}

/// Ids of our findings imported for `account`.
async fn our_findings(hub: &aws_sdk_securityhub::Client, account: &str) -> BTreeSet<String> {
    e2e_tests::our_findings(hub, account)
        .await
        .into_keys()
        .collect()
}

/// The endpoint throttles every request for `IPCHECK_THROTTLE_SECONDS` (20 s in the test
/// command, several deliveries; `bench/run-queue.sh --throttle 180` runs the minutes-long
/// outage), and then its first answers stall past the invocation's deadline. Two proxies in
/// front of `ipinsights serve`: the outer throttles, the inner stalls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_throttles_for_minutes_then_times_out_loses_nothing() {
    use ipinsights::server::{Server, ServerConfig};
    let Some(moto) = moto_endpoint() else { return };
    let lake = lake(&moto);
    let sqs = sqs(&moto);
    let throttle_for = Duration::from_secs(
        std::env::var("IPCHECK_THROTTLE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = Server::new(lake.model.clone(), ServerConfig::default());
    tokio::spawn(server.clone().serve(listener, std::future::pending()));
    // Answers held 8 s: longer than a 5 s invocation has, so each call is cut by the deadline.
    let stalls = fault_proxy::start(
        &endpoint,
        fault_proxy::Fault {
            path_contains: "/invocations".into(),
            times: 2,
            stall: Some(Duration::from_secs(8)),
            ..Default::default()
        },
    )
    .await;
    let throttles = fault_proxy::start(
        &stalls.url,
        fault_proxy::Fault {
            path_contains: "/invocations".into(),
            during: Some(throttle_for),
            status: Some(400),
            headers: vec![("x-amzn-ErrorType".into(), "ThrottlingException".into())],
            body: Some(r#"{"message":"Rate exceeded (test proxy)"}"#.into()),
            ..Default::default()
        },
    )
    .await;
    let bodies = scored_notifications(lake);
    // The queue must outlast the outage: a message is received about once per visibility
    // timeout, so the redrive count needs the outage's length in visibility timeouts, and more.
    let visibility = 6;
    let max_receives = throttle_for.as_secs() as u32 / visibility as u32 + 6;
    let (url, arn, dlq) = queue_with_dlq(&sqs, "ipcheck-queue-throttled", max_receives).await;
    send_all(&sqs, &url, &bodies).await;
    let mut f = function(
        &moto,
        Duration::from_secs(5),
        &[
            ("ENDPOINT_NAME", "ipinsights-e2e"),
            ("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", &throttles.url),
        ],
    );
    f.env.retain(|(k, _)| k != "MODEL_URI");
    let api = RuntimeApi::start(f).await;
    let drained = mapping(&url, &arn, visibility)
        .drain(&sqs, &api, throttle_for + Duration::from_secs(180))
        .await;
    assert_eq!(drained.killed, 0, "{drained:?}");
    assert!(
        drained.redeliveries >= 1,
        "the throttling outlasted a delivery: {drained:?}"
    );
    assert!(take_all(&sqs, &dlq).await.is_empty());
    let records = api.records();
    let scored = scored_per_key(&records);
    assert_eq!(scored.len(), bodies.len());
    assert!(scored.values().all(|n| *n == 1), "{scored:?}");
    // As an endpoint alone scores: each pair as its instance.
    assert_eq!(
        anomaly_set(&records),
        lake.expected_anomalies(&lake.scored_objects, 0.0, false)
    );
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for r in of_kind(&records, "failed") {
        *reasons
            .entry(r["reason"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    assert!(
        throttles.failed() >= 1 && stalls.failed() == 2,
        "{reasons:?}"
    );
    assert!(!reasons.is_empty());
    assert!(
        reasons
            .keys()
            .all(|r| r == "scoring_failed" || r == "deadline"),
        "{reasons:?}"
    );
    eprintln!(
        "throttled for {} s: {} invocations, {} redeliveries, {} s to drain, handed back {:?}, \
         {} throttled and {} stalled endpoint requests, {} answered",
        throttle_for.as_secs(),
        drained.invocations,
        drained.redeliveries,
        drained.elapsed.as_secs(),
        reasons,
        throttles.failed(),
        stalls.failed(),
        server.invocations()
    );
}

/// The load run (a benchmark, not part of the test command): `bench/run-queue.sh` runs it with
/// a release build. `IPCHECK_LOAD_MESSAGES` notifications (default 10,000, both message shapes)
/// over the simulated lake; the outcome is asserted exactly, the throughput printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load run: bench/run-queue.sh"]
async fn load_many_notifications() {
    let Some(moto) = moto_endpoint() else { return };
    let lake = lake(&moto);
    let sqs = sqs(&moto);
    let n: usize = std::env::var("IPCHECK_LOAD_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let objects = &lake.manifest.objects;
    let bodies: Vec<String> = (0..n)
        .map(|i| {
            let o = &objects[i % objects.len()];
            if (i / objects.len()).is_multiple_of(2) {
                s3_shape(&o.bucket, &o.key)
            } else {
                eventbridge_shape(&o.bucket, &o.key)
            }
        })
        .collect();
    let (url, arn, dlq) = queue_with_dlq(&sqs, "ipcheck-queue-load", 3).await;
    // moto's SQS slows down with the number of messages it holds (10,000 at once take minutes
    // to send and every receive scans them), so the burst is sent in waves: the next wave
    // whenever fewer than half a wave are waiting. The function never waits for work.
    let wave: usize = std::env::var("IPCHECK_LOAD_WAVE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
        .max(10);
    let producing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sender = {
        let (sqs, url, producing) = (sqs.clone(), url.clone(), producing.clone());
        let bodies = bodies.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            for chunk in bodies.chunks(wave) {
                while depth(&sqs, &url).await.0 >= wave as u64 / 2 {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                send_all(&sqs, &url, chunk).await;
            }
            producing.store(false, std::sync::atomic::Ordering::SeqCst);
            started.elapsed()
        })
    };
    let api = RuntimeApi::start(function(&moto, Duration::from_secs(120), &[])).await;
    let mut m = mapping(&url, &arn, 900);
    m.producing = Some(producing);
    let drained = m.drain(&sqs, &api, Duration::from_secs(3600)).await;
    let sending = sender.await.expect("sender");
    eprintln!(
        "sent {n} messages in waves of {wave} over {:.1} s",
        sending.as_secs_f64()
    );
    let records = api.records();
    let rss = api.peak_rss_kib().await;
    assert_eq!(drained.deleted as usize, n, "{drained:?}");
    assert_eq!(
        (drained.redeliveries, drained.killed, drained.errors),
        (0, 0, 0)
    );
    assert!(take_all(&sqs, &dlq).await.is_empty());
    let scored = scored_per_key(&records);
    assert_eq!(scored.len(), objects.len());
    assert_eq!(
        anomaly_set(&records),
        lake.expected_anomalies(&every_object(lake), 0.0, true)
    );
    let scorings: u64 = scored.values().sum();
    println!(
        "{}",
        json!({"messages": n, "objects": objects.len(), "object_scorings": scorings,
               "invocations": drained.invocations, "seconds": drained.elapsed.as_secs_f64(),
               "messages_per_s": n as f64 / drained.elapsed.as_secs_f64(),
               "peak_rss_mib": rss.map(|k| k as f64 / 1024.0)})
    );
}
