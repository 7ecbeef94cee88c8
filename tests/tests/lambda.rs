//! The ipcheck handler end to end: SQS events in, batch item failures and JSON records out,
//! with S3 from moto's server, the SageMaker runtime from `ipinsights`' own server, both on
//! 127.0.0.1, reached through the real AWS SDK clients.

mod common;

use common::*;
// ---- tests ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_shape_and_a_mixed_batch() {
    let Some(moto) = moto_endpoint() else { return };
    logs();
    let lake = lake(&moto);
    let s3 = s3_client(&moto);
    let (runtime_url, server) = start_server(lake.model.clone(), ServerConfig::default()).await;

    // Bad objects next to the good ones.
    let (bucket, good_key, _) = &lake.scored_objects[0];
    let (_, good_key2, _) = &lake.scored_objects[1];
    let (_, good_key3, _) = &lake.scored_objects[2];
    let day_prefix = good_key.rsplit_once('/').unwrap().0;
    let corrupt = format!("{day_prefix}/corrupt.gz.parquet");
    put_object(
        &s3,
        bucket,
        &corrupt,
        b"PAR1 this is not a parquet file PAR1".to_vec(),
    )
    .await;
    let oversized = format!("{day_prefix}/oversized.gz.parquet");
    let big = lake.root.join("oversized.parquet");
    seclake::simulate::write_single_object(
        &big,
        &ObjectSpec {
            source: Source::VpcFlow,
            version: SourceVersion::V1,
            rows: 60_000,
            compression: Codec::Gzip,
            row_group_rows: 20_000,
            seed: 3,
            instances: 10,
        },
    )
    .unwrap();
    let big_bytes = std::fs::read(&big).unwrap();
    put_object(&s3, bucket, &oversized, big_bytes.clone()).await;
    let max_good = lake.manifest.objects.iter().map(|o| o.bytes).max().unwrap();
    assert!((big_bytes.len() as u64) > max_good);
    let missing = format!("{day_prefix}/missing.gz.parquet");
    let findings_key = good_key
        .replace("/VPC_FLOW/", "/SH_FINDINGS/")
        .replace("/ROUTE53/", "/SH_FINDINGS/");

    let p = "mixed-";
    let sns =
        json!({"Type": "Notification", "MessageId": "x", "TopicArn": "arn:aws:sns:us-east-1:1:t",
                     "Message": s3_body(bucket, good_key3, None)})
        .to_string();
    let messages = vec![
        (format!("{p}s3"), s3_body(bucket, good_key, None)),
        (
            format!("{p}eventbridge"),
            eventbridge_body(bucket, good_key2),
        ),
        (format!("{p}sns"), sns),
        (
            format!("{p}test-event"),
            json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": bucket}).to_string(),
        ),
        (format!("{p}garbage"), "this is not json".to_string()),
        (
            format!("{p}unknown-shape"),
            json!({"hello": "world"}).to_string(),
        ),
        (format!("{p}missing"), s3_body(bucket, &missing, None)),
        (format!("{p}corrupt"), s3_body(bucket, &corrupt, Some(36))),
        (
            format!("{p}oversized"),
            s3_body(bucket, &oversized, Some(big_bytes.len() as u64)),
        ),
        (
            format!("{p}findings"),
            eventbridge_body(bucket, &findings_key),
        ),
    ];
    let max_bytes = (max_good + 1).to_string();
    let deps = endpoint_deps(
        config(&[
            ("ENDPOINT_NAME", "ipinsights-e2e"),
            ("MAX_OBJECT_BYTES", &max_bytes),
        ]),
        &moto,
        &runtime_url,
    );
    let (response, metrics) = handle_batch(invocation(sqs_event(&messages), 30), &deps)
        .await
        .unwrap();

    // Nothing transient happened: no message goes back to the queue.
    assert_eq!(failures(&response), BTreeSet::new());
    let recs = records(p);
    let rejected: BTreeSet<(String, String)> = of_kind(&recs, "rejected")
        .iter()
        .map(|r| {
            (
                r["message_id"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected_rejected: BTreeSet<(String, String)> = [
        ("garbage", "not_a_notification"),
        ("unknown-shape", "not_a_notification"),
        ("missing", "not_found"),
        ("corrupt", "not_parquet"),
        ("oversized", "too_large"),
    ]
    .iter()
    .map(|(m, r)| (format!("{p}{m}"), r.to_string()))
    .collect();
    assert_eq!(rejected, expected_rejected);
    for r in of_kind(&recs, "rejected") {
        assert!(r["error"].as_str().is_some_and(|e| !e.is_empty()), "{r}");
        assert!(
            !r["error"].as_str().unwrap().contains("this is not json"),
            "raw payloads are not logged"
        );
    }
    assert_eq!(of_kind(&recs, "skipped").len(), 1);

    // The three good objects, whatever shape announced them, are scored.
    let scored: BTreeSet<String> = of_kind(&recs, "object_scored")
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    let good: BTreeSet<String> = [good_key, good_key2, good_key3]
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(scored, good);
    let good_objects: Vec<_> = lake.scored_objects[..3].to_vec();
    let expected = expected_anomalies(lake, &good_objects, 0.0);
    assert_eq!(anomaly_set(&recs), expected);
    assert!(
        !expected.is_empty(),
        "the simulated anomaly day has anomalies"
    );
    for a in of_kind(&recs, "anomaly") {
        for field in [
            "entity",
            "ip",
            "dot_product",
            "threshold",
            "count",
            "source",
            "source_version",
            "account",
            "region",
            "bucket",
            "key",
            "message_id",
        ] {
            assert!(!a[field].is_null(), "anomaly record without {field}: {a}");
        }
        assert_eq!(a["level"], "WARN");
    }
    for o in of_kind(&recs, "object_scored") {
        for field in [
            "rows",
            "pairs",
            "distinct_pairs",
            "dropped",
            "anomalies",
            "endpoint_calls",
            "bytes_read",
            "millis",
        ] {
            assert!(!o[field].is_null(), "object_scored without {field}: {o}");
        }
    }
    assert_eq!(
        metrics,
        Metrics {
            objects_scored: 3,
            pairs_scored: of_kind(&recs, "object_scored")
                .iter()
                .map(|o| o["distinct_pairs"].as_u64().unwrap())
                .sum(),
            anomalies: expected.len() as u64,
            rejected: 5,
            endpoint_errors: 0,
            unseen_pairs: of_kind(&recs, "object_scored")
                .iter()
                .map(|o| o["unseen_pairs"].as_u64().unwrap())
                .sum(),
            group_scored_pairs: of_kind(&recs, "object_scored")
                .iter()
                .map(|o| o["group_scored_pairs"].as_u64().unwrap())
                .sum(),
            ..Default::default()
        }
    );
    assert_eq!(server.invocations(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_and_persistent_failures_go_back_to_the_queue() {
    let Some(moto) = moto_endpoint() else { return };
    logs();
    let lake = lake(&moto);
    let (bucket, key, _) = &lake.scored_objects[0];

    // Throttled twice, then fine: one success, no duplicate anomalies.
    let throttled = ServerConfig {
        fail_first: 2,
        fail_with: InjectedError::from_type("ThrottlingException").unwrap(),
        ..ServerConfig::default()
    };
    let (url, server) = start_server(lake.model.clone(), throttled).await;
    let deps = endpoint_deps(config(&[("ENDPOINT_NAME", "ipinsights-e2e")]), &moto, &url);
    let p = "throttled-";
    let messages = vec![(format!("{p}1"), s3_body(bucket, key, None))];
    let (response, metrics) = handle_batch(invocation(sqs_event(&messages), 30), &deps)
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(server.invocations(), 3);
    assert_eq!(metrics.endpoint_errors, 2);
    let recs = records(p);
    let anomalies = of_kind(&recs, "anomaly");
    assert_eq!(
        anomalies.len(),
        anomaly_set(&recs).len(),
        "an anomaly was logged twice"
    );
    assert_eq!(
        anomaly_set(&recs),
        expected_anomalies(lake, &lake.scored_objects[..1], 0.0)
    );

    // 503 that does not stop: the message is retried until the deadline, then handed back.
    let down = ServerConfig {
        fail_first: u64::MAX,
        fail_with: InjectedError::from_status(503),
        ..ServerConfig::default()
    };
    let (url, server) = start_server(lake.model.clone(), down).await;
    let deps = endpoint_deps(config(&[("ENDPOINT_NAME", "ipinsights-e2e")]), &moto, &url);
    let p = "unavailable-";
    let messages = vec![
        (format!("{p}1"), s3_body(bucket, key, None)),
        (format!("{p}garbage"), "{".to_string()),
    ];
    // Five seconds of invocation: the margin leaves 3.5 s of retries (several, even on a
    // loaded machine).
    let (response, metrics) = handle_batch(invocation(sqs_event(&messages), 5), &deps)
        .await
        .unwrap();
    assert_eq!(failures(&response), BTreeSet::from([format!("{p}1")]));
    assert!(server.invocations() > 1, "retried");
    assert_eq!(metrics.endpoint_errors, server.invocations());
    let recs = records(p);
    assert!(of_kind(&recs, "anomaly").is_empty());
    assert_eq!(of_kind(&recs, "failed").len(), 1);
    assert_eq!(of_kind(&recs, "rejected").len(), 1);

    // ValidationError (say, a wrong endpoint name) is not retried within the invocation, but
    // the message is kept: fixing the configuration cures it.
    let invalid = ServerConfig {
        fail_first: u64::MAX,
        fail_with: InjectedError::from_type("ValidationError").unwrap(),
        ..ServerConfig::default()
    };
    let (url, server) = start_server(lake.model.clone(), invalid).await;
    let deps = endpoint_deps(config(&[("ENDPOINT_NAME", "ipinsights-e2e")]), &moto, &url);
    let messages = vec![("invalid-1".to_string(), s3_body(bucket, key, None))];
    let (response, _) = handle_batch(invocation(sqs_event(&messages), 30), &deps)
        .await
        .unwrap();
    assert_eq!(
        failures(&response),
        BTreeSet::from(["invalid-1".to_string()])
    );
    assert_eq!(server.invocations(), 1);
}

/// One message for `bucket/key` through a proxy in front of moto whose GETs of `name` fail
/// `times` times with S3's 500 `InternalError`.
async fn through_failing_s3(
    moto: &str,
    runtime_url: &str,
    name: &str,
    times: u64,
    prefix: &str,
    bucket: &str,
    key: &str,
) -> (
    fault_proxy::FaultProxy,
    aws_lambda_events::event::sqs::SqsBatchResponse,
    Metrics,
) {
    let proxy = fault_proxy::start(
        moto,
        fault_proxy::Fault {
            path_contains: name.to_string(),
            times,
            ..Default::default()
        },
    )
    .await;
    let deps = endpoint_deps(
        config(&[("ENDPOINT_NAME", "ipinsights-e2e")]),
        &proxy.url,
        runtime_url,
    );
    let messages = vec![(format!("{prefix}1"), s3_body(bucket, key, None))];
    let (response, metrics) = handle_batch(invocation(sqs_event(&messages), 30), &deps)
        .await
        .unwrap();
    (proxy, response, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_errors_are_retried_then_handed_back() {
    let Some(moto) = moto_endpoint() else { return };
    logs();
    let lake = lake(&moto);
    let (bucket, key, _) = &lake.scored_objects[1];
    let (url, _server) = start_server(lake.model.clone(), ServerConfig::default()).await;
    let name = key.rsplit('/').next().unwrap().to_string();

    // One 500 from S3: the SDK retries it and the object is scored.
    let p = "s3-flaky-";
    let (proxy, response, metrics) =
        through_failing_s3(&moto, &url, &name, 1, p, bucket, key).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(proxy.failed(), 1);
    assert_eq!(metrics.objects_scored, 1);
    assert_eq!(
        anomaly_set(&records(p)),
        expected_anomalies(lake, &lake.scored_objects[1..2], 0.0)
    );

    // S3 keeps failing: the message goes back to the queue, nothing is rejected.
    let p = "s3-down-";
    let (_proxy, response, _) =
        through_failing_s3(&moto, &url, &name, u64::MAX, p, bucket, key).await;
    assert_eq!(failures(&response), BTreeSet::from([format!("{p}1")]));
    let recs = records(p);
    assert!(of_kind(&recs, "rejected").is_empty());
    assert_eq!(of_kind(&recs, "failed")[0]["reason"], "read_transient");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_set_over_6_mib_is_split_and_stitched_back_in_order() {
    let Some(moto) = moto_endpoint() else { return };
    logs();
    let lake = lake(&moto);
    // 200,000 distinct pairs of known entities with addresses all over the space: about
    // 6.8 MiB of CSV.
    let entities: Vec<String> = lake.model.seen_entities().map(str::to_string).collect();
    let mut rows: Vec<(String, String)> = Vec::new();
    for i in 0..200_000u32 {
        let ip = Ipv4Addr::from(i.wrapping_mul(2_654_435_761));
        rows.push((
            entities[i as usize % entities.len()].clone(),
            ip.to_string(),
        ));
    }
    let data = flows_object(&rows);
    let key = "aws/VPC_FLOW/2.0/region=us-east-1/accountId=111122223333/eventDay=20260107/big-pairs.parquet";
    put_object(&s3_client(&moto), "seclake-e2e-big", key, data).await;
    let csv_bytes: usize = rows.iter().map(|(e, ip)| e.len() + ip.len() + 2).sum();
    assert!(csv_bytes > 6 << 20, "{csv_bytes}");

    let (url, server) = start_server(lake.model.clone(), ServerConfig::default()).await;
    let deps = endpoint_deps(
        // The object holds source endpoints only (no flags or ports to tell who initiated).
        config(&[
            ("ENDPOINT_NAME", "ipinsights-e2e"),
            ("ANOMALY_THRESHOLD", "0"),
            ("PAIRING", "src"),
            // Every anomaly logged, to check the order of the chunks.
            ("MAX_ANOMALIES_PER_OBJECT", "1000000"),
        ]),
        &moto,
        &url,
    );
    let p = "big-";
    let messages = vec![(format!("{p}1"), s3_body("seclake-e2e-big", key, None))];
    let (response, metrics) = handle_batch(invocation(sqs_event(&messages), 60), &deps)
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert!(
        server.invocations() >= 2,
        "split into {} requests",
        server.invocations()
    );
    assert_eq!(metrics.pairs_scored, 200_000);
    // Every anomaly is the one the model gives that pair: the chunks came back in order.
    let expected: BTreeSet<(String, String, String)> = rows
        .iter()
        .filter(|(e, ip)| lake.model.score(e, ip.parse().unwrap()).dot_product < 0.0)
        .map(|(e, ip)| (key.to_string(), e.clone(), ip.clone()))
        .collect();
    assert!(!expected.is_empty() && expected.len() < rows.len());
    assert_eq!(anomaly_set(&records(p)), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_model_from_s3_scores_like_the_endpoint() {
    let Some(moto) = moto_endpoint() else { return };
    logs();
    let lake = lake(&moto);
    let cfg = config(&[(
        "MODEL_URI",
        "s3://ipinsights-models/lambda-e2e/model.safetensors",
    )]);
    let s3 = s3_client(&moto);
    let scorer = match &cfg.scorer {
        ipcheck::ScorerConfig::Model { uri } => {
            Scorer::Embedded(EmbeddedScorer::new(uri, s3.clone()))
        }
        other => panic!("{other:?}"),
    };
    let deps = Deps::new(cfg, ObjectReader::with_s3(s3), scorer);
    let metrics = every_scored_object(lake, "embedded-", &deps).await;
    assert_eq!(metrics.objects_scored as usize, lake.scored_objects.len());
    let recs = records("embedded-");
    assert_eq!(
        anomaly_set(&recs),
        expected_anomalies_as(lake, &lake.scored_objects, 0.0, true)
    );
    // Pairs of entities the model never saw are counted per object, never logged one by one,
    // and anomalies name the entity that scored them.
    assert_eq!(of_kind(&recs, "unseen_entity").len(), 0);
    for a in of_kind(&recs, "anomaly") {
        let scored_as = a["scored_as"].as_str().unwrap();
        assert!(lake.model.is_seen(scored_as), "{a}");
        match a["entity_scope"].as_str().unwrap() {
            "instance" => assert_eq!(scored_as, a["entity"].as_str().unwrap()),
            // A new instance, or a known one whose group finds the pair more familiar.
            "group" => assert_eq!(scored_as, a["group"].as_str().unwrap()),
            other => panic!("scope {other}: {a}"),
        }
    }

    // An endpoint given the trained entity list (prepare's entities.txt) scores the same way.
    let list = lake.root.join("entities.txt");
    let mut text = String::new();
    for e in lake.model.seen_entities() {
        text.push_str(e);
        text.push('\n');
    }
    std::fs::write(&list, text).unwrap();
    let (runtime_url, _server) = start_server(lake.model.clone(), ServerConfig::default()).await;
    let listed = config(&[
        ("ENDPOINT_NAME", "ipinsights-e2e"),
        ("TRAINED_ENTITIES_URI", list.to_str().unwrap()),
    ]);
    let scorer = Scorer::Endpoint(
        EndpointScorer::new(
            runtime_client(&runtime_url),
            "ipinsights-e2e",
            listed.endpoint_max_request_bytes,
            listed.endpoint_concurrency,
        )
        .with_trained_entities(list.to_str().unwrap(), s3_client(&moto)),
    );
    let deps = Deps::new(listed, ObjectReader::with_s3(s3_client(&moto)), scorer);
    every_scored_object(lake, "listed-", &deps).await;
    let listed_recs = records("listed-");
    assert_eq!(anomaly_set(&listed_recs), anomaly_set(&recs));
    assert!(
        of_kind(&listed_recs, "anomaly")
            .iter()
            .all(|a| a["entity_scope"] != "unknown"),
        "the list tells the endpoint's scorer what was trained"
    );

    // A model that cannot be loaded keeps every message for another delivery.
    let cfg = config(&[(
        "MODEL_URI",
        "s3://ipinsights-models/lambda-e2e/nope.safetensors",
    )]);
    let s3 = s3_client(&moto);
    let deps = Deps::new(
        cfg,
        ObjectReader::with_s3(s3.clone()),
        Scorer::Embedded(EmbeddedScorer::new(
            "s3://ipinsights-models/lambda-e2e/nope.safetensors",
            s3,
        )),
    );
    let messages = vec![(
        "nomodel-1".to_string(),
        s3_body(&lake.scored_objects[0].0, &lake.scored_objects[0].1, None),
    )];
    let (response, _) = handle_batch(invocation(sqs_event(&messages), 30), &deps)
        .await
        .unwrap();
    assert_eq!(
        failures(&response),
        BTreeSet::from(["nomodel-1".to_string()])
    );
}

/// A VPC-Flow-like object with the given (instance, address) rows in `src_endpoint`.
fn flows_object(rows: &[(String, String)]) -> Vec<u8> {
    use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, StructArray};
    use arrow_schema::{DataType, Field, Schema};
    let uid: ArrayRef = Arc::new(StringArray::from_iter_values(
        rows.iter().map(|r| r.0.as_str()),
    ));
    let ip: ArrayRef = Arc::new(StringArray::from_iter_values(
        rows.iter().map(|r| r.1.as_str()),
    ));
    let src = StructArray::from(vec![
        (
            Arc::new(Field::new("instance_uid", DataType::Utf8, true)),
            uid,
        ),
        (Arc::new(Field::new("ip", DataType::Utf8, true)), ip),
    ]);
    let schema = Arc::new(Schema::new(vec![Field::new(
        "src_endpoint",
        src.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(src)]).unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_stalls_past_the_deadline_is_handed_back_before_it() {
    let Some(moto) = moto_endpoint() else { return };
    logs();
    let lake = lake(&moto);
    let (url, _server) = start_server(lake.model.clone(), ServerConfig::default()).await;
    let (_, stalled_key, _) = &lake.scored_objects[0];
    let name = stalled_key.rsplit('/').next().unwrap().to_string();
    // Every read of one object is held for 20 s; the invocation has 6.
    let proxy = fault_proxy::start(
        &moto,
        fault_proxy::Fault {
            path_contains: name,
            times: u64::MAX,
            stall: Some(Duration::from_secs(20)),
            ..Default::default()
        },
    )
    .await;
    let deps = endpoint_deps(
        config(&[("ENDPOINT_NAME", "ipinsights-e2e")]),
        &proxy.url,
        &url,
    );
    let p = "stall-";
    let messages: Vec<(String, String)> = lake
        .scored_objects
        .iter()
        .enumerate()
        .map(|(i, (b, k, _))| (format!("{p}{i}"), s3_body(b, k, None)))
        .collect();
    let started = std::time::Instant::now();
    let (response, metrics) = handle_batch(invocation(sqs_event(&messages), 6), &deps)
        .await
        .unwrap();
    // Answered before Lambda's deadline, naming only the unfinished message.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(failures(&response), BTreeSet::from([format!("{p}0")]));
    assert_eq!(
        metrics.objects_scored as usize,
        lake.scored_objects.len() - 1
    );
    let recs = records(p);
    let failed = of_kind(&recs, "failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["reason"], "deadline");
    assert_eq!(failed[0]["message_id"], format!("{p}0"));
    assert_eq!(
        anomaly_set(&recs),
        expected_anomalies(lake, &lake.scored_objects[1..], 0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_reset_by_s3_are_retried() {
    let Some(moto) = moto_endpoint() else { return };
    logs();
    let lake = lake(&moto);
    let (bucket, key, _) = &lake.scored_objects[1];
    let (url, _server) = start_server(lake.model.clone(), ServerConfig::default()).await;
    let name = key.rsplit('/').next().unwrap().to_string();
    // Two reads of the object end with the connection closed and no answer.
    let proxy = fault_proxy::start(
        &moto,
        fault_proxy::Fault {
            path_contains: name,
            times: 2,
            reset: true,
            ..Default::default()
        },
    )
    .await;
    let deps = endpoint_deps(
        config(&[("ENDPOINT_NAME", "ipinsights-e2e")]),
        &proxy.url,
        &url,
    );
    let p = "s3-reset-";
    let messages = vec![(format!("{p}1"), s3_body(bucket, key, None))];
    let (response, metrics) = handle_batch(invocation(sqs_event(&messages), 30), &deps)
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(proxy.failed(), 2);
    assert_eq!(metrics.objects_scored, 1);
    assert_eq!(
        anomaly_set(&records(p)),
        expected_anomalies(lake, &lake.scored_objects[1..2], 0.0)
    );
}
