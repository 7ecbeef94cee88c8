//! `ipinsights score`: score (entity, IPv4) pairs with a model file or a SageMaker endpoint.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use aws_sdk_sagemakerruntime::primitives::Blob;
use futures::{StreamExt, TryStreamExt};
use ipinsights::{Model, wire};

use super::fit::{read_pairs, with_threads};

/// Score `entity,ip` pairs in process with a model file, or through a SageMaker endpoint.
///
/// Input lines may carry a third count column (as `ipinsights pairs` writes); it is ignored.
/// Writes CSV with a header: `entity,ip,dot_product,entity_seen`. Low `dot_product` means
/// anomalous. `entity_seen` is `false` for entities absent from the training data (their
/// score is meaningless) and empty with `--endpoint`, which cannot tell.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  ipinsights score --model model.ipim --input pairs.csv
  ipinsights score --endpoint ip-insights-prod --input s3://my-bucket/pairs.csv --out scores.csv
  AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:8080 ipinsights score --endpoint local \\
      --input pairs.csv   # against `ipinsights serve`")]
pub struct Args {
    /// Model file written by `ipinsights fit`.
    #[arg(
        long,
        required_unless_present = "endpoint",
        conflicts_with = "endpoint"
    )]
    model: Option<PathBuf>,
    /// SageMaker endpoint name (uses the AWS SDK; honours AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME).
    #[arg(long)]
    endpoint: Option<String>,
    /// Pairs to score: headerless `entity,ip` CSV, a local file or `s3://` URI.
    #[arg(long)]
    input: String,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Largest request body sent to the endpoint (SageMaker accepts up to 6 MiB).
    #[arg(long, default_value_t = 5 * 1024 * 1024 - 1)]
    max_request_bytes: usize,
    /// Most rows per request; keeps the response (about 40 bytes a row) under 6 MiB too.
    #[arg(long, default_value_t = 50_000)]
    max_request_rows: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Worker threads for in-process scoring (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let data = read_pairs(&args.input, false)?;
    let pairs: Vec<(&str, Ipv4Addr)> = data.pairs().collect();
    let scores: Vec<(f64, Option<bool>)> = match (&args.model, &args.endpoint) {
        (Some(path), _) => {
            let model = Model::load(path).with_context(|| format!("loading {}", path.display()))?;
            with_threads(args.threads, || model.score_pairs(&pairs))?
                .into_iter()
                .map(|s| (s.dot_product, Some(s.entity_seen)))
                .collect()
        }
        (None, Some(name)) => score_endpoint(
            name,
            &pairs,
            args.max_request_bytes,
            args.max_request_rows,
            args.concurrency,
        )?
        .into_iter()
        .map(|d| (d, None))
        .collect(),
        (None, None) => bail!("give --model or --endpoint"),
    };
    let unseen = scores
        .iter()
        .filter(|(_, seen)| *seen == Some(false))
        .count();
    eprintln!(
        "scored {} pairs{}",
        scores.len(),
        if args.model.is_some() {
            format!(" ({unseen} of entities not seen in training: their scores are meaningless)")
        } else {
            String::new()
        }
    );
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let result = (|| -> std::io::Result<()> {
        writeln!(out, "entity,ip,dot_product,entity_seen")?;
        for ((e, ip), (dot, seen)) in pairs.iter().zip(&scores) {
            let (_, line) = &wire::csv_chunks(&[(e, *ip)], usize::MAX, 1)[0];
            let seen = seen.map(|s| s.to_string()).unwrap_or_default();
            writeln!(
                out,
                "{},{},{seen}",
                line.trim_end_matches('\n'),
                wire::format_float(*dot)
            )?;
        }
        out.flush()
    })();
    match result {
        // `ipinsights score … | head` is normal use.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Sends the pairs to an endpoint in `text/csv` chunks and returns the dot products in order.
pub(crate) fn score_endpoint(
    name: &str,
    pairs: &[(&str, Ipv4Addr)],
    max_request_bytes: usize,
    max_request_rows: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<f64>> {
    let chunks = wire::csv_chunks(pairs, max_request_bytes, max_request_rows);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let sdk = aws_config::load_from_env().await;
        let conf = aws_sdk_sagemakerruntime::config::Builder::from(&sdk)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
            .build();
        let client = aws_sdk_sagemakerruntime::Client::from_conf(conf);
        let results: Vec<Vec<f64>> =
            futures::stream::iter(chunks.into_iter().map(|(range, body)| {
                let client = client.clone();
                async move {
                    let resp = client
                        .invoke_endpoint()
                        .endpoint_name(name)
                        .content_type("text/csv")
                        .accept("application/json")
                        .body(Blob::new(body))
                        .send()
                        .await
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "invoking endpoint {name} for rows {}..{}: {}",
                                range.start + 1,
                                range.end,
                                aws_sdk_sagemakerruntime::error::DisplayErrorContext(&e)
                            )
                        })?;
                    let body = resp.body().map(|b| b.as_ref()).unwrap_or_default();
                    let dots = wire::parse_predictions(resp.content_type().unwrap_or(""), body)
                        .with_context(|| {
                            format!(
                                "parsing the response for rows {}..{}",
                                range.start + 1,
                                range.end
                            )
                        })?;
                    if dots.len() != range.len() {
                        bail!(
                            "endpoint {name} returned {} predictions for {} rows",
                            dots.len(),
                            range.len()
                        );
                    }
                    Ok(dots)
                }
            }))
            .buffered(concurrency.max(1))
            .try_collect()
            .await?;
        Ok(results.into_iter().flatten().collect())
    })
}
