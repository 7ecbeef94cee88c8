//! `ipinsights serve`: a local server that speaks SageMaker's IP Insights wire format.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use ipinsights::Model;
use ipinsights::server::{DEFAULT_MAX_BODY_BYTES, InjectedError, Server, ServerConfig};

/// Serve a model like a SageMaker IP Insights endpoint.
///
/// Routes: `POST /endpoints/{name}/invocations` (InvokeEndpoint; point an AWS SDK at it with
/// AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME), and the container contract `POST /invocations`,
/// `GET /ping`. Requests in text/csv, application/json or application/jsonlines; answers in
/// application/json or application/jsonlines, with embeddings for `verbose=True`.
/// Set RUST_LOG=ipinsights=debug for one log line per request.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  ipinsights serve --model model.ipim --port 8080
  curl -s -H 'Content-Type: text/csv' --data-binary $'i-0abc,10.0.0.1\\n' \\
      http://127.0.0.1:8080/endpoints/local/invocations
  AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:8080 ipinsights score --endpoint local \\
      --input pairs.csv")]
pub struct Args {
    /// Model file written by `ipinsights fit`.
    #[arg(long)]
    model: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0 picks a free one; the address is printed on standard error).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Requests with larger bodies get a 413 (SageMaker's limit is 6 MiB).
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Answer the first N invocations with an error (for testing clients' retries).
    #[arg(long, default_value_t = 0, env = "IPINSIGHTS_FAIL_FIRST")]
    fail_first: u64,
    /// Status of injected errors (503 ServiceUnavailable, 400 ThrottlingException, 424
    /// ModelError, 429 ModelNotReadyException, 500 InternalFailure, 530 InternalDependencyException).
    #[arg(long, env = "IPINSIGHTS_FAIL_STATUS")]
    fail_status: Option<u16>,
    /// Error type of injected errors (x-amzn-ErrorType), e.g. ValidationError; default from --fail-status.
    #[arg(long, env = "IPINSIGHTS_FAIL_ERROR")]
    fail_error: Option<String>,
    /// Only this endpoint name exists (others get ValidationError "Endpoint … not found").
    #[arg(long)]
    endpoint_name: Option<String>,
    /// Report bad requests on the runtime route as SageMaker does: 424 ModelError wrapping the
    /// container's 400 (by default the 400 itself is returned).
    #[arg(long)]
    wrap_model_errors: bool,
}

fn injected(args: &Args) -> anyhow::Result<InjectedError> {
    Ok(match (&args.fail_error, args.fail_status) {
        (Some(t), status) => {
            let mut e = InjectedError::from_type(t).unwrap_or(InjectedError {
                status: status.unwrap_or(500),
                error_type: t.clone(),
            });
            if let Some(s) = status {
                e.status = s;
            }
            e
        }
        (None, Some(s)) => InjectedError::from_status(s),
        (None, None) => InjectedError::from_status(503),
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let model =
        Model::load(&args.model).with_context(|| format!("loading {}", args.model.display()))?;
    let cfg = ServerConfig {
        max_body_bytes: args.max_body_bytes,
        fail_first: args.fail_first,
        fail_with: injected(&args)?,
        endpoint_name: args.endpoint_name.clone(),
        wrap_model_errors: args.wrap_model_errors,
    };
    let server = Server::new(Arc::new(model), cfg);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .with_context(|| format!("binding {}:{}", args.host, args.port))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "ipinsights: serving {} on http://{addr}",
            args.model.display()
        );
        server
            .serve(listener, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}
