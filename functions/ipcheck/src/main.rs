//! The ipcheck Lambda's entry point: configuration and clients once, then the handler.

use std::sync::Arc;

use findings::sink::{EventBridgeSink, SecurityHubSink};
use ipcheck::{
    Config, Deps, EmbeddedScorer, EndpointScorer, Scorer, ScorerConfig, Sinks, handle, logging,
};
use lambda_runtime::{LambdaEvent, run, service_fn};
use seclake::ObjectReader;

/// Stack of the runtime's threads: the AWS SDK's (de)serializers of large shapes (Security
/// Hub's findings) recurse deeply, and the main thread's stack is whatever the system gives.
const THREAD_STACK_BYTES: usize = 16 << 20;

fn main() -> Result<(), lambda_runtime::Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK_BYTES)
        .build()?;
    // The handler runs where `block_on` runs: on a thread whose stack is ours to size.
    std::thread::Builder::new()
        .name("ipcheck".into())
        .stack_size(THREAD_STACK_BYTES)
        .spawn(move || runtime.block_on(serve()))?
        .join()
        .map_err(|_| "the function's thread panicked")?
}

async fn serve() -> Result<(), lambda_runtime::Error> {
    logging::init(logging::json_requested(), std::io::stdout);
    let config = Config::from_env().map_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
        e
    })?;
    let sdk = aws_config::load_from_env().await;
    let s3 = seclake::s3_client(&sdk);
    let scorer = match &config.scorer {
        ScorerConfig::Endpoint { name } => {
            // Retries are ours: jittered, and bounded by the invocation's remaining time.
            let runtime = aws_sdk_sagemakerruntime::config::Builder::from(&sdk)
                .retry_config(aws_sdk_sagemakerruntime::config::retry::RetryConfig::disabled())
                .build();
            let endpoint = EndpointScorer::new(
                aws_sdk_sagemakerruntime::Client::from_conf(runtime),
                name,
                config.endpoint_max_request_bytes,
                config.endpoint_concurrency,
            );
            Scorer::Endpoint(match &config.trained_entities_uri {
                Some(uri) => endpoint.with_trained_entities(uri, s3.clone()),
                None => endpoint,
            })
        }
        ScorerConfig::Model { uri } => Scorer::Embedded(EmbeddedScorer::new(uri, s3.clone())),
    };
    // Sink retries are ours too, bounded by the invocation's deadline.
    let sinks = Sinks {
        security_hub: config.security_hub.then(|| {
            let conf = aws_sdk_securityhub::config::Builder::from(&sdk)
                .retry_config(aws_sdk_securityhub::config::retry::RetryConfig::disabled())
                .build();
            SecurityHubSink::new(aws_sdk_securityhub::Client::from_conf(conf))
        }),
        events: config.event_bus.as_ref().map(|bus| {
            let conf = aws_sdk_eventbridge::config::Builder::from(&sdk)
                .retry_config(aws_sdk_eventbridge::config::retry::RetryConfig::disabled())
                .build();
            EventBridgeSink::new(aws_sdk_eventbridge::Client::from_conf(conf), bus)
        }),
    };
    tracing::info!(
        scorer = %config.scorer,
        threshold = config.threshold,
        fanout_threshold = config.fanout.map(|f| f.threshold.to_string()).unwrap_or_default(),
        fanout_min_addresses = config.fanout.map(|f| f.min_addresses).unwrap_or(0),
        pairing = %config.pairing,
        group_by = %config.group_by,
        security_hub = config.security_hub,
        event_bus = config.event_bus.as_deref().unwrap_or(""),
        suppressions = config.suppressions_uri.as_deref().unwrap_or(""),
        max_anomalies_per_object = config.max_anomalies_per_object,
        "ipcheck ready"
    );
    let deps = Arc::new(
        Deps::new(config, ObjectReader::with_s3(s3.clone()), scorer)
            .with_s3(s3)
            .with_sinks(sinks),
    );
    run(service_fn(move |event: LambdaEvent<_>| {
        let deps = deps.clone();
        async move { handle(event, &deps).await }
    }))
    .await
}
