//! Anomalies where analysts work: the handler's Security Hub findings and EventBridge events,
//! against moto's Security Hub, EventBridge and SQS on 127.0.0.1 through the real SDK clients,
//! with a fault proxy in front of them for throttling and 5xx.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_securityhub::types::AwsSecurityFinding;
use common::*;
use findings::product_fields as pf;
use findings::sink::{EventBridgeSink, SecurityHubSink};
use ipcheck::Sinks;

const MODEL_URI: &str = "s3://ipinsights-models/lambda-e2e/model.safetensors";

/// A Security Hub client whose region is the test's own (from its account's last digit). The
/// tests score the same lake, so their findings share ids; real Security Hub keeps findings per
/// product ARN (the caller's account), moto keeps one list per region and overwrites by id, so
/// without a region each tests' imports overwrote each other's `AwsAccountId`.
fn hub_client(url: &str, account: &str) -> aws_sdk_securityhub::Client {
    const REGIONS: [&str; 10] = [
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "eu-west-2",
        "eu-central-1",
        "ap-south-1",
        "ap-northeast-1",
        "sa-east-1",
    ];
    let digit = account.bytes().last().map_or(0, |b| (b % 10) as usize);
    let conf = aws_sdk_securityhub::config::Builder::from(&e2e_tests::sdk_config(url))
        .region(aws_sdk_securityhub::config::Region::new(REGIONS[digit]))
        .retry_config(aws_sdk_securityhub::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_securityhub::Client::from_conf(conf)
}

fn events_client(url: &str) -> aws_sdk_eventbridge::Client {
    let conf = aws_sdk_eventbridge::config::Builder::from(&e2e_tests::sdk_config(url))
        .retry_config(aws_sdk_eventbridge::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_eventbridge::Client::from_conf(conf)
}

fn sqs_client(url: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&e2e_tests::sdk_config(url))
}

fn fast() -> Backoff {
    Backoff {
        base: Duration::from_millis(5),
        cap: Duration::from_millis(50),
    }
}

/// An embedded-model handler with the given settings and sinks.
fn deps(moto: &str, vars: &[(&str, &str)], sinks: Sinks) -> Deps {
    let mut all = vec![("MODEL_URI", MODEL_URI)];
    all.extend_from_slice(vars);
    let cfg = config(&all);
    let s3 = s3_client(moto);
    let scorer = Scorer::Embedded(EmbeddedScorer::new(MODEL_URI, s3.clone()));
    Deps::new(cfg, ObjectReader::with_s3(s3), scorer).with_sinks(sinks)
}

/// An invocation as Lambda makes it: the function's ARN names the account findings go to.
fn invocation_in(
    account: &str,
    event: SqsEvent,
    seconds: u64,
) -> lambda_runtime::LambdaEvent<SqsEvent> {
    let mut inv = invocation(event, seconds);
    inv.context.invoked_function_arn =
        format!("arn:aws:lambda:us-east-1:{account}:function:ipcheck");
    inv
}

fn messages(lake: &Lake, prefix: &str) -> Vec<(String, String)> {
    lake.scored_objects
        .iter()
        .enumerate()
        .map(|(i, (b, k, _))| (format!("{prefix}{i}"), s3_body(b, k, None)))
        .collect()
}

/// Our findings in moto for `account`, by id.
async fn findings_of(
    hub: &aws_sdk_securityhub::Client,
    account: &str,
) -> BTreeMap<String, AwsSecurityFinding> {
    e2e_tests::our_findings(hub, account).await
}

/// A bus whose events land in a new SQS queue; returns the queue URL.
async fn bus_to_queue(moto: &str, bus: &str) -> String {
    let events = events_client(moto);
    let sqs = sqs_client(moto);
    events
        .create_event_bus()
        .name(bus)
        .send()
        .await
        .expect("CreateEventBus");
    let queue = sqs
        .create_queue()
        .queue_name(format!("{bus}-q"))
        .send()
        .await
        .expect("CreateQueue");
    let url = queue.queue_url().unwrap().to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .unwrap()
        .clone();
    events
        .put_rule()
        .name(format!("{bus}-all"))
        .event_bus_name(bus)
        .event_pattern(json!({"source": [findings::EVENT_SOURCE]}).to_string())
        .send()
        .await
        .expect("PutRule");
    events
        .put_targets()
        .rule(format!("{bus}-all"))
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("PutTargets");
    url
}

/// Every event in the queue (EventBridge's envelope, parsed).
async fn drain(moto: &str, queue: &str) -> Vec<Value> {
    let sqs = sqs_client(moto);
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            return out;
        }
        for m in got.messages() {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_and_events_for_the_simulated_lake_once_per_anomaly() {
    let Some(moto) = moto_endpoint() else { return };
    logs();
    let lake = lake(&moto);
    let account = "210000000001";
    let hub = hub_client(&moto, account);
    let _ = hub.enable_security_hub().send().await;
    let queue = bus_to_queue(&moto, "ipinsights-e2e-a").await;
    let sinks = Sinks {
        security_hub: Some(SecurityHubSink::new(hub_client(&moto, account)).with_backoff(fast())),
        events: Some(EventBridgeSink::new(
            events_client(&moto),
            "ipinsights-e2e-a",
        )),
    };
    let deps = deps(&moto, &[], sinks);
    let (response, metrics) = handle_batch(
        invocation_in(account, sqs_event(&messages(lake, "sink-a-")), 60),
        &deps,
    )
    .await
    .unwrap();
    assert!(response.batch_item_failures.is_empty());
    let recs = records("sink-a-");
    let anomalies = of_kind(&recs, "anomaly");
    let expected = expected_anomalies_as(lake, &lake.scored_objects, 0.0, true);
    assert!(!expected.is_empty());
    assert_eq!(anomaly_set(&recs), expected);

    // One finding per (instance, address, day), whatever the number of objects showing it.
    let found = findings_of(&hub, account).await;
    let pairs: BTreeSet<(String, String)> = expected
        .iter()
        .map(|(_, e, ip)| (e.clone(), ip.clone()))
        .collect();
    let finding_pairs: BTreeSet<(String, String)> = found
        .values()
        .map(|f| {
            let p = f.product_fields().unwrap();
            (p[pf::ENTITY].clone(), p[pf::ADDRESS].clone())
        })
        .collect();
    assert_eq!(finding_pairs, pairs);
    assert_eq!(found.len(), pairs.len());
    assert_eq!(metrics.findings_sent as usize, pairs.len());
    assert_eq!(metrics.events_sent as usize, anomalies.len());
    assert_eq!(metrics.sink_failures + metrics.sink_rejected, 0);

    // Field by field, against the anomaly record of the same id with the lowest score (the
    // finding's representative when several objects showed the pair).
    let mut lowest: BTreeMap<&str, &Value> = BTreeMap::new();
    for a in &anomalies {
        let id = a["finding_id"].as_str().unwrap();
        let score = a["dot_product"].as_f64().unwrap();
        if lowest
            .get(id)
            .is_none_or(|b| score < b["dot_product"].as_f64().unwrap())
        {
            lowest.insert(id, a);
        }
    }
    assert_eq!(lowest.len(), found.len());
    for (id, a) in lowest {
        let f = &found[id];
        assert_eq!(f.schema_version(), Some("2018-10-08"));
        assert_eq!(
            f.product_arn(),
            Some(
                format!("arn:aws:securityhub:us-east-1:{account}:product/{account}/default")
                    .as_str()
            )
        );
        assert_eq!(f.aws_account_id(), Some(account));
        assert_eq!(f.types(), ["Unusual Behaviors/Network Flow"]);
        let p = f.product_fields().unwrap();
        assert_eq!(p[pf::ENTITY], a["entity"].as_str().unwrap());
        assert_eq!(p[pf::INSTANCE_ACCOUNT], a["account"].as_str().unwrap());
        assert_eq!(p[pf::ENTITY_SCOPE], a["entity_scope"].as_str().unwrap());
        assert_eq!(p[pf::SCORED_AS], a["scored_as"].as_str().unwrap());
        assert_eq!(p[pf::THRESHOLD].parse::<f64>().unwrap(), 0.0);
        assert_eq!(p[pf::PAIRING], "initiator");
        let score: f64 = p[pf::SCORE].parse().unwrap();
        assert!(
            (score - a["dot_product"].as_f64().unwrap()).abs() < 1e-5,
            "{score} {a}"
        );
        assert!(
            score <= a["dot_product"].as_f64().unwrap() + 1e-6,
            "{score} {a}"
        );
        let sev = f.severity().unwrap();
        assert!(sev.label().is_some() && sev.normalized().is_some());
        assert_eq!(
            f.finding_provider_fields()
                .unwrap()
                .severity()
                .unwrap()
                .label(),
            sev.label()
        );
        let r = &f.resources()[0];
        assert_eq!(r.r#type(), Some("AwsEc2Instance"));
        assert_eq!(
            r.id().unwrap(),
            format!(
                "arn:aws:ec2:us-east-1:{}:instance/{}",
                a["account"].as_str().unwrap(),
                a["entity"].as_str().unwrap()
            )
        );
        let n = f.network().unwrap();
        assert_eq!(n.destination_ipv4(), a["ip"].as_str());
        assert_eq!(n.direction().map(|d| d.as_str()), Some("OUT"));
        if a["source"] == "VPC_FLOW" {
            assert!(n.destination_port().is_some(), "{a}");
            assert!(n.protocol().is_some(), "{a}");
            assert!(n.source_ipv4().is_some(), "{a}");
        }
        let title = f.title().unwrap();
        assert!(
            title.contains(a["entity"].as_str().unwrap())
                && title.contains(a["ip"].as_str().unwrap())
        );
        assert!(f.description().unwrap().contains("Who initiated"));
        let first = findings::anomaly::parse_rfc3339(f.first_observed_at().unwrap()).unwrap();
        let last = findings::anomaly::parse_rfc3339(f.last_observed_at().unwrap()).unwrap();
        assert!(first <= last);
        let seen = a["first_seen_ms"].as_i64().unwrap();
        assert!(seen < 0 || first <= seen, "{first} {a}");
    }

    // One event per anomaly record, its detail naming the finding it deduplicates on.
    let events = drain(&moto, &queue).await;
    assert_eq!(events.len(), anomalies.len());
    let event_ids: BTreeSet<&str> = events
        .iter()
        .map(|e| e["detail"]["id"].as_str().unwrap())
        .collect();
    let record_ids: BTreeSet<&str> = anomalies
        .iter()
        .map(|a| a["finding_id"].as_str().unwrap())
        .collect();
    assert_eq!(event_ids, record_ids);
    for e in &events {
        assert_eq!(e["source"], findings::EVENT_SOURCE);
        assert_eq!(e["detail-type"], findings::EVENT_DETAIL_TYPE);
        assert_eq!(e["detail"]["version"], 1);
        assert!(e["detail"]["severity"]["label"].is_string());
    }

    // The same batch delivered again: the same findings, updated, not doubled.
    let before = found;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (response, metrics) = handle_batch(
        invocation_in(account, sqs_event(&messages(lake, "sink-a2-")), 60),
        &deps,
    )
    .await
    .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(metrics.sink_failures, 0);
    let after = findings_of(&hub, account).await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (id, f) in &after {
        let old = &before[id];
        assert_eq!(f.created_at(), old.created_at(), "{id}");
        assert!(f.updated_at() > old.updated_at(), "{id}");
        assert_eq!(f.first_observed_at(), old.first_observed_at());
        // The objects were counted already: a redelivery adds no observation.
        let (p, q) = (f.product_fields().unwrap(), old.product_fields().unwrap());
        assert_eq!(p[pf::RECORDS], q[pf::RECORDS], "{id}");
        assert_eq!(p[pf::OBJECTS], q[pf::OBJECTS], "{id}");
    }
    // Each delivery sends its events; the detail id is the consumer's dedup key.
    let again = drain(&moto, &queue).await;
    assert_eq!(again.len(), anomalies.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomalies_over_the_cap_are_counted_and_over_100_findings_are_split() {
    let Some(moto) = moto_endpoint() else { return };
    logs();
    let lake = lake(&moto);
    let account = "210000000002";
    let hub = hub_client(&moto, account);
    let _ = hub.enable_security_hub().send().await;
    // Counts the import requests on their way to moto.
    let proxy = fault_proxy::start(
        &moto,
        fault_proxy::Fault {
            path_contains: "/findings/import".into(),
            times: 0,
            ..Default::default()
        },
    )
    .await;
    let sinks = Sinks {
        security_hub: Some(
            SecurityHubSink::new(hub_client(&proxy.url, account)).with_backoff(fast()),
        ),
        events: None,
    };
    // Every pair is an anomaly at this threshold: the cap decides what is sent.
    let deps = deps(
        &moto,
        &[
            ("ANOMALY_THRESHOLD", "1000"),
            ("MAX_ANOMALIES_PER_OBJECT", "150"),
        ],
        sinks,
    );
    let (b, k, _) = lake
        .scored_objects
        .iter()
        .find(|(_, k, _)| k.contains("VPC_FLOW"))
        .unwrap();
    let (response, metrics) = handle_batch(
        invocation_in(
            account,
            sqs_event(&[("sink-cap-0".into(), s3_body(b, k, None))]),
            60,
        ),
        &deps,
    )
    .await
    .unwrap();
    assert!(response.batch_item_failures.is_empty());
    let recs = records("sink-cap-");
    let scored = of_kind(&recs, "object_scored");
    let pairs_scored =
        scored[0]["distinct_pairs"].as_u64().unwrap() - scored[0]["unseen_pairs"].as_u64().unwrap();
    assert!(
        pairs_scored > 150,
        "the object must have more pairs than the cap: {pairs_scored}"
    );
    assert_eq!(of_kind(&recs, "anomaly").len(), 150);
    assert_eq!(
        scored[0]["anomalies_capped"].as_u64().unwrap(),
        pairs_scored - 150
    );
    assert_eq!(metrics.capped, pairs_scored - 150);
    assert_eq!(metrics.findings_sent, 150);
    // The lowest scores were kept.
    let kept_max = of_kind(&recs, "anomaly")
        .iter()
        .map(|a| a["dot_product"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert!(kept_max < 1000.0);
    assert_eq!(findings_of(&hub, account).await.len(), 150);
    // 150 findings: two BatchImportFindings requests (at most 100 each).
    assert_eq!(proxy.targeted_forwarded(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_5xx_from_the_sinks_are_retried_within_the_invocation() {
    let Some(moto) = moto_endpoint() else { return };
    logs();
    let lake = lake(&moto);
    let account = "210000000003";
    let hub = hub_client(&moto, account);
    let _ = hub.enable_security_hub().send().await;
    let queue = bus_to_queue(&moto, "ipinsights-e2e-c").await;
    let hub_proxy = fault_proxy::start(
        &moto,
        fault_proxy::Fault {
            path_contains: "/findings/import".into(),
            times: 3,
            status: Some(429),
            body: Some(r#"{"__type":"TooManyRequestsException","Message":"Rate exceeded"}"#.into()),
            ..Default::default()
        },
    )
    .await;
    let events_proxy = fault_proxy::start(
        &moto,
        fault_proxy::Fault {
            path_contains: "/".into(),
            header_contains: Some(("x-amz-target".into(), "PutEvents".into())),
            times: 2,
            status: Some(503),
            body: Some(r#"{"__type":"ServiceUnavailable","message":"injected"}"#.into()),
            ..Default::default()
        },
    )
    .await;
    let sinks = Sinks {
        security_hub: Some(
            SecurityHubSink::new(hub_client(&hub_proxy.url, account)).with_backoff(fast()),
        ),
        events: Some(
            EventBridgeSink::new(events_client(&events_proxy.url), "ipinsights-e2e-c")
                .with_backoff(fast()),
        ),
    };
    let deps = deps(&moto, &[], sinks);
    let (response, metrics) = handle_batch(
        invocation_in(account, sqs_event(&messages(lake, "sink-c-")), 60),
        &deps,
    )
    .await
    .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(metrics.sink_failures + metrics.sink_rejected, 0);
    assert_eq!(hub_proxy.failed(), 3);
    assert_eq!(events_proxy.failed(), 2);
    let recs = records("sink-c-");
    let ids: BTreeSet<String> = of_kind(&recs, "anomaly")
        .iter()
        .map(|a| a["finding_id"].as_str().unwrap().to_string())
        .collect();
    let found: BTreeSet<String> = findings_of(&hub, account).await.into_keys().collect();
    assert_eq!(found, ids);
    assert_eq!(
        drain(&moto, &queue).await.len(),
        of_kind(&recs, "anomaly").len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_keeps_failing_hands_the_message_back_before_the_deadline() {
    let Some(moto) = moto_endpoint() else { return };
    logs();
    let lake = lake(&moto);
    let account = "210000000004";
    let proxy = fault_proxy::start(
        &moto,
        fault_proxy::Fault {
            path_contains: "/findings/import".into(),
            times: u64::MAX,
            status: Some(503),
            body: Some(r#"{"__type":"ServiceUnavailableException","Message":"down"}"#.into()),
            ..Default::default()
        },
    )
    .await;
    let sinks = Sinks {
        security_hub: Some(SecurityHubSink::new(hub_client(&proxy.url, account))),
        events: None,
    };
    let deps = deps(&moto, &[], sinks);
    let started = std::time::Instant::now();
    let msgs = messages(lake, "sink-d-");
    let (response, metrics) = handle_batch(invocation_in(account, sqs_event(&msgs), 6), &deps)
        .await
        .unwrap();
    // Reported before the 6 s deadline, with the messages whose objects had anomalies.
    assert!(started.elapsed() < Duration::from_secs(6));
    let recs = records("sink-d-");
    let with_anomalies: BTreeSet<String> = of_kind(&recs, "anomaly")
        .iter()
        .map(|a| a["message_id"].as_str().unwrap().to_string())
        .collect();
    assert!(!with_anomalies.is_empty());
    assert_eq!(failures(&response), with_anomalies);
    assert!(metrics.sink_failures > 0);
    let failed = of_kind(&recs, "failed");
    assert!(
        failed.iter().all(|f| f["reason"] == "sink_failed"),
        "{failed:?}"
    );
    assert_eq!(failed.len(), with_anomalies.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppression_rules_silence_what_they_match_until_they_expire() {
    let Some(moto) = moto_endpoint() else { return };
    logs();
    let lake = lake(&moto);
    let account = "210000000005";
    let hub = hub_client(&moto, account);
    let _ = hub.enable_security_hub().send().await;
    let expected = expected_anomalies_as(lake, &lake.scored_objects, 0.0, true);
    let mut entities: Vec<&str> = expected.iter().map(|(_, e, _)| e.as_str()).collect();
    entities.dedup();
    assert!(entities.len() >= 2, "two instances with anomalies");
    let (silenced, silenced_ip) = expected
        .iter()
        .find(|(_, e, _)| e == entities[0])
        .map(|(_, e, ip)| (e.clone(), ip.clone()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("suppressions.yaml");
    std::fs::write(
        &rules,
        format!(
            "suppressions:
  - id: partner-backup
    entity: \"{silenced}\"
    cidr: {silenced_ip}/32
    reason: nightly backup to a partner
    owner: netops@example.com
    expires: 2999-01-01
  - id: never-matches
    entity: \"i-nomatch*\"
    reason: nothing
    owner: me
    expires: 2999-01-01
  - id: long-gone
    entity: \"{}\"
    reason: an old migration
    owner: me
    expires: 2020-01-01
",
            entities[1]
        ),
    )
    .unwrap();
    let sinks = Sinks {
        security_hub: Some(SecurityHubSink::new(hub_client(&moto, account)).with_backoff(fast())),
        events: None,
    };
    let deps = deps(
        &moto,
        &[("SUPPRESSIONS_URI", rules.to_str().unwrap())],
        sinks,
    );
    let (response, metrics) = handle_batch(
        invocation_in(account, sqs_event(&messages(lake, "sink-s-")), 60),
        &deps,
    )
    .await
    .unwrap();
    assert!(response.batch_item_failures.is_empty());
    let recs = records("sink-s-");
    let suppressed = of_kind(&recs, "suppressed");
    let silenced_expected = expected
        .iter()
        .filter(|(_, e, ip)| *e == silenced && *ip == silenced_ip)
        .count();
    assert_eq!(suppressed.len(), silenced_expected);
    for r in &suppressed {
        assert_eq!(r["rule"], "partner-backup");
        assert_eq!(r["owner"], "netops@example.com");
        assert_eq!(r["reason"], "nightly backup to a partner");
        assert_eq!(r["entity"], silenced.as_str());
    }
    assert_eq!(metrics.suppressed as usize, silenced_expected);
    // Everything else is sent, the expired rule's instance included.
    let mut rest = expected.clone();
    rest.retain(|(_, e, ip)| !(*e == silenced && *ip == silenced_ip));
    assert_eq!(anomaly_set(&recs), rest);
    let found = findings_of(&hub, account).await;
    let pairs: BTreeSet<(String, String)> = found
        .values()
        .map(|f| {
            let p = f.product_fields().unwrap();
            (p[pf::ENTITY].clone(), p[pf::ADDRESS].clone())
        })
        .collect();
    assert!(!pairs.contains(&(silenced.clone(), silenced_ip.clone())));
    assert!(pairs.iter().any(|(e, _)| e == entities[1]));
    assert_eq!(
        pairs,
        rest.iter()
            .map(|(_, e, ip)| (e.clone(), ip.clone()))
            .collect()
    );
}
