//! `ipinsights score`: score (entity, IPv4) pairs with a model file or a SageMaker endpoint.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
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

/// Sends the pairs to an endpoint in `text/csv` chunks and returns the dot products in order:
/// the Lambda's own scorer (`ipcheck::scoring::EndpointScorer`), so throttling, 5xx and
/// not-ready answers are retried with jittered backoff for up to `patience`.
pub(crate) fn score_endpoint(
    name: &str,
    pairs: &[(&str, Ipv4Addr)],
    max_request_bytes: usize,
    max_request_rows: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<f64>> {
    let patience = Duration::from_secs(600);
    let pairs: Vec<seclake::Pair> = pairs
        .iter()
        .map(|(entity, ip)| seclake::Pair {
            entity: (*entity).into(),
            ip: *ip,
            count: 1,
            group: None,
            facts: Default::default(),
        })
        .collect();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let sdk = aws_config::load_from_env().await;
        // Retries are the scorer's, so the SDK's are off (they would multiply).
        let conf = aws_sdk_sagemakerruntime::config::Builder::from(&sdk)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let scorer = ipcheck::scoring::EndpointScorer::new(
            aws_sdk_sagemakerruntime::Client::from_conf(conf),
            name,
            max_request_bytes,
            concurrency,
        )
        .with_max_rows(max_request_rows);
        let (scores, calls, errors) = scorer
            .score(&pairs, tokio::time::Instant::now() + patience)
            .await
            .with_context(|| format!("scoring {} pairs with endpoint {name}", pairs.len()))?;
        if errors > 0 {
            eprintln!("endpoint {name}: {errors} of {calls} calls failed and were retried");
        }
        Ok(scores)
    })
}
