//! The ipcheck Lambda's entry point: configuration and clients once, then the handler.

use std::sync::Arc;

use ipcheck::{
    Config, Deps, EmbeddedScorer, EndpointScorer, Scorer, ScorerConfig, handle, logging,
};
use lambda_runtime::{LambdaEvent, run, service_fn};
use seclake::ObjectReader;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
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
    tracing::info!(scorer = %config.scorer, threshold = config.threshold, pairing = %config.pairing, group_by = %config.group_by, "ipcheck ready");
    let deps = Arc::new(Deps::new(config, ObjectReader::with_s3(s3.clone()), scorer).with_s3(s3));
    run(service_fn(move |event: LambdaEvent<_>| {
        let deps = deps.clone();
        async move { handle(event, &deps).await }
    }))
    .await
}
