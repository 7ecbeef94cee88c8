//! Handler throughput on one object, for `bench/handler.py`: the real handler, S3 from
//! `AWS_ENDPOINT_URL` (moto), the endpoint from `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`
//! (`ipinsights serve`). Records are formatted as in Lambda and discarded. With
//! `BENCH_SINKS=1` the anomalies also go to Security Hub and an EventBridge bus `bench` at
//! `AWS_ENDPOINT_URL` (both created or enabled first).
//!
//! usage: bench_handler BUCKET KEY RUNS

use std::time::Instant;

use findings::sink::{EventBridgeSink, SecurityHubSink};
use ipcheck::{Config, Deps, EndpointScorer, Scorer, Sinks, handle_batch, logging};
use seclake::ObjectReader;
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bucket, key, runs] = args.as_slice() else {
        anyhow::bail!("usage: bench_handler BUCKET KEY RUNS");
    };
    let runs: usize = runs.parse()?;
    logging::init(true, std::io::sink);
    let config = Config::from_lookup(|k| match k {
        "ENDPOINT_NAME" => Some("bench".to_string()),
        other => std::env::var(other).ok(),
    })?;
    let sdk = aws_config::load_from_env().await;
    let runtime = aws_sdk_sagemakerruntime::config::Builder::from(&sdk)
        .retry_config(aws_sdk_sagemakerruntime::config::retry::RetryConfig::disabled())
        .build();
    let scorer = Scorer::Endpoint(EndpointScorer::new(
        aws_sdk_sagemakerruntime::Client::from_conf(runtime),
        "bench",
        config.endpoint_max_request_bytes,
        config.endpoint_concurrency,
    ));
    let sinks = if std::env::var("BENCH_SINKS").as_deref() == Ok("1") {
        let hub = aws_sdk_securityhub::Client::from_conf(
            aws_sdk_securityhub::config::Builder::from(&sdk)
                .retry_config(aws_sdk_securityhub::config::retry::RetryConfig::disabled())
                .build(),
        );
        let events = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(&sdk)
                .retry_config(aws_sdk_eventbridge::config::retry::RetryConfig::disabled())
                .build(),
        );
        // Already enabled or created on a second run: that is fine.
        let _ = hub.enable_security_hub().send().await;
        let _ = events.create_event_bus().name("bench").send().await;
        Sinks {
            security_hub: Some(SecurityHubSink::new(hub)),
            events: Some(EventBridgeSink::new(events, "bench")),
        }
    } else {
        Sinks::default()
    };
    let deps = Deps::new(
        config,
        ObjectReader::with_s3(seclake::s3_client(&sdk)),
        scorer,
    )
    .with_sinks(sinks);
    let body = json!({"detail": {"bucket": {"name": bucket}, "object": {"key": key}}}).to_string();
    let mut times = Vec::new();
    let mut metrics = None;
    for run in 0..runs {
        let event = serde_json::from_value(
            json!({"Records": [{"messageId": format!("bench-{run}"), "body": body}]}),
        )?;
        let started = Instant::now();
        let (response, m) = handle_batch(
            lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
            &deps,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        times.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(
            response.batch_item_failures.is_empty() && m.objects_scored == 1,
            "the object was not scored: {m:?}"
        );
        metrics = Some(m);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let m = metrics.unwrap_or_default();
    println!(
        "{}",
        json!({"runs": runs, "median_s": median, "min_s": times[0], "objects_per_s": 1.0 / median,
               "distinct_pairs": m.pairs_scored, "pairs_per_s": m.pairs_scored as f64 / median,
               "anomalies": m.anomalies, "findings_sent": m.findings_sent,
               "events_sent": m.events_sent, "sink_failures": m.sink_failures})
    );
    Ok(())
}
