//! `ipinsights fit`: train an IP Insights model on CPU.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use ipinsights::train::{self, Progress, TrainOptions};
use ipinsights::{Dataset, Hyperparameters};

/// Train an IP Insights-compatible model on CPU and write it as a model file.
///
/// Input is SageMaker's training format: headerless `entity,ipv4` CSV lines (a first line
/// such as `entity,ip` is skipped). Lines with a third integer column, the count that
/// `ipinsights pairs` writes, stand for that many events. Hyperparameters take SageMaker's names, defaults and
/// ranges; `num_entity_vectors` and `vector_dim` are required, as in SageMaker.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  ipinsights fit --train data/train.csv --validation data/validation.csv --out model.ipim \\
      --num_entity_vectors 20000 --vector_dim 128
  ipinsights pairs lake --format csv > pairs.csv
  ipinsights fit --train pairs.csv --out model.ipim --num_entity_vectors 200 --vector_dim 32 --epochs 20")]
pub struct Args {
    /// Training pairs: a local file, `s3://bucket/key`, or `s3://bucket/prefix/` (every object
    /// under the prefix, like SageMaker's S3Prefix channels).
    #[arg(long)]
    train: String,
    /// Validation pairs (same forms); reports `validation:discriminator_auc` after each epoch.
    #[arg(long)]
    validation: Option<String>,
    /// Where to write the model (safetensors).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    hp: HyperparameterArgs,
    /// Seed of every random choice; the same seed and data give the same model.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// SageMaker's IP Insights hyperparameters as flags (shared by `fit` and `train`).
#[derive(clap::Args)]
pub(crate) struct HyperparameterArgs {
    /// A JSON object of hyperparameters (SageMaker's `hyperparameters.json`); flags win.
    #[arg(long)]
    hyperparameters: Option<PathBuf>,
    /// Entity embedding rows (required; 1..=250000000; SageMaker recommends 2 × unique entities).
    #[arg(long = "num_entity_vectors", alias = "num-entity-vectors")]
    num_entity_vectors: Option<String>,
    /// Embedding size (required; 4..=4096; 128 recommended).
    #[arg(long = "vector_dim", alias = "vector-dim")]
    vector_dim: Option<String>,
    /// Passes over the data (default 10).
    #[arg(long)]
    epochs: Option<String>,
    /// Adam learning rate (default 0.001; 1e-6..=10).
    #[arg(long = "learning_rate", alias = "learning-rate")]
    learning_rate: Option<String>,
    /// Positive pairs per batch (default 10000; 1..=500000).
    #[arg(long = "mini_batch_size", alias = "mini-batch-size")]
    mini_batch_size: Option<String>,
    /// Fully connected layers in the IP encoder (default 1; 0..=100).
    #[arg(long = "num_ip_encoder_layers", alias = "num-ip-encoder-layers")]
    num_ip_encoder_layers: Option<String>,
    /// Random-IP negatives per pair, R (default 1; 0..=500; 1 <= R + S <= 500).
    #[arg(
        long = "random_negative_sampling_rate",
        alias = "random-negative-sampling-rate"
    )]
    random_negative_sampling_rate: Option<String>,
    /// Shuffled negatives per pair, S (default 1; 0..=500).
    #[arg(
        long = "shuffled_negative_sampling_rate",
        alias = "shuffled-negative-sampling-rate"
    )]
    shuffled_negative_sampling_rate: Option<String>,
    /// L2 weight decay (default 0.00001; 0..=10).
    #[arg(long = "weight_decay", alias = "weight-decay")]
    weight_decay: Option<String>,
    /// Batches between training-speed log lines (default 1000; shown with RUST_LOG=info).
    #[arg(
        long = "batch_metrics_publish_interval",
        alias = "batch-metrics-publish-interval"
    )]
    batch_metrics_publish_interval: Option<String>,
}

impl HyperparameterArgs {
    /// The flags over the JSON file, filled with defaults and checked against SageMaker's
    /// ranges.
    pub(crate) fn hyperparameters(&self) -> anyhow::Result<Hyperparameters> {
        let mut map: BTreeMap<String, String> = match &self.hyperparameters {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                let v: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", p.display()))?;
                v.into_iter()
                    .map(|(k, v)| {
                        let s = match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (k, s)
                    })
                    .collect()
            }
            None => BTreeMap::new(),
        };
        let flags = [
            ("num_entity_vectors", &self.num_entity_vectors),
            ("vector_dim", &self.vector_dim),
            ("epochs", &self.epochs),
            ("learning_rate", &self.learning_rate),
            ("mini_batch_size", &self.mini_batch_size),
            ("num_ip_encoder_layers", &self.num_ip_encoder_layers),
            (
                "random_negative_sampling_rate",
                &self.random_negative_sampling_rate,
            ),
            (
                "shuffled_negative_sampling_rate",
                &self.shuffled_negative_sampling_rate,
            ),
            ("weight_decay", &self.weight_decay),
            (
                "batch_metrics_publish_interval",
                &self.batch_metrics_publish_interval,
            ),
        ];
        for (name, v) in flags {
            if let Some(v) = v {
                map.insert(name.to_string(), v.clone());
            }
        }
        Ok(Hyperparameters::from_map(&map)?)
    }
}

/// Reads a local file, an S3 object, or every object under an S3 prefix (ending in `/`).
pub(crate) fn read_input(location: &str) -> anyhow::Result<Vec<u8>> {
    let Some(rest) = location.strip_prefix("s3://") else {
        return std::fs::read(location).with_context(|| format!("reading {location}"));
    };
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{location}: no bucket");
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let sdk = aws_config::load_from_env().await;
        let s3 = seclake::s3_client(&sdk);
        let keys: Vec<String> = if key.is_empty() || key.ends_with('/') {
            let mut keys = Vec::new();
            let mut pages = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(key)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.with_context(|| format!("listing {location}"))?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_string))
                        .filter(|k| !k.ends_with('/')),
                );
            }
            if keys.is_empty() {
                bail!("{location}: no objects under this prefix");
            }
            keys
        } else {
            vec![key.to_string()]
        };
        let mut out = Vec::new();
        for k in keys {
            let obj = s3
                .get_object()
                .bucket(bucket)
                .key(&k)
                .send()
                .await
                .with_context(|| format!("reading s3://{bucket}/{k}"))?;
            let bytes = obj
                .body
                .collect()
                .await
                .with_context(|| format!("reading s3://{bucket}/{k}"))?
                .into_bytes();
            out.extend_from_slice(&bytes);
            // Objects are concatenated; make sure one's last line does not run into the next.
            if !out.is_empty() && !out.ends_with(b"\n") {
                out.push(b'\n');
            }
        }
        Ok(out)
    })
}

/// Reads and parses a pairs file. A third integer column, the count `ipinsights pairs`
/// writes, repeats the pair that many times when `expand_counts` (the event stream SageMaker
/// trains on) and is dropped otherwise.
pub(crate) fn read_pairs(location: &str, expand_counts: bool) -> anyhow::Result<Dataset> {
    let bytes = read_input(location)?;
    Dataset::from_csv_bytes(&count_column(&bytes, expand_counts))
        .with_context(|| format!("parsing {location}"))
}

/// Rewrites lines ending in `,<integer>` (unquoted lines only): repeated `count` times
/// without the count, or once.
fn count_column(bytes: &[u8], expand: bool) -> std::borrow::Cow<'_, [u8]> {
    let count = |line: &[u8]| -> Option<(usize, u64)> {
        if line.contains(&b'"') || line.iter().filter(|&&b| b == b',').count() != 2 {
            return None;
        }
        let cut = line.iter().rposition(|&b| b == b',')?;
        let n = std::str::from_utf8(&line[cut + 1..])
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some((cut, n))
    };
    let lines = || {
        bytes
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
    };
    if !lines().any(|l| count(l).is_some()) {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    for line in lines() {
        match count(line) {
            Some((cut, n)) => {
                for _ in 0..if expand { n } else { 1 } {
                    out.extend_from_slice(&line[..cut]);
                    out.push(b'\n');
                }
            }
            None => {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Runs `f` on a rayon pool of `threads` threads (or the global pool).
pub(crate) fn with_threads<T: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> T + Send,
) -> anyhow::Result<T> {
    match threads {
        None => Ok(f()),
        Some(n) => Ok(rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()?
            .install(f)),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let hp = args.hp.hyperparameters()?;
    let train_set = read_pairs(&args.train, true)?;
    if train_set.is_empty() {
        bail!("{}: no training pairs", args.train);
    }
    let validation = args
        .validation
        .as_deref()
        .map(|v| read_pairs(v, true))
        .transpose()?;
    eprintln!(
        "training on {} pairs of {} entities{}; hyperparameters: {}",
        train_set.len(),
        train_set.entities().len(),
        validation
            .as_ref()
            .map(|v| format!(", validating on {} pairs", v.len()))
            .unwrap_or_default(),
        serde_json::to_string(&hp.to_map())?,
    );
    let show = !args.quiet && std::io::stderr().is_terminal();
    let bar = ProgressBar::new(0);
    if show {
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} batches {msg} ({elapsed}, eta {eta})",
            )?
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let interval = hp.batch_metrics_publish_interval;
    let epochs = hp.epochs;
    let opts = TrainOptions {
        seed: args.seed,
        ..Default::default()
    };
    // The last epoch's validation AUC stays on the bar while the next epoch runs.
    let mut last_auc = String::new();
    let mut on_progress = |p: Progress<'_>| match p {
        Progress::Batch {
            epoch,
            batch,
            batches,
            loss,
            pairs_per_second,
        } => {
            if batch == 1 {
                bar.reset();
                bar.set_length(batches);
                bar.set_prefix(format!("epoch {epoch}/{epochs}"));
            }
            bar.set_position(batch);
            bar.set_message(format!(
                "loss {loss:.4}, {pairs_per_second:.0} pairs/s{last_auc}"
            ));
            if batch % interval == 0 {
                tracing::info!(epoch, batch, loss, pairs_per_second, "training speed");
            }
        }
        Progress::Epoch(e) => {
            let auc = e
                .validation_auc
                .map(|a| format!(", validation:discriminator_auc {a:.4}"))
                .unwrap_or_default();
            if let Some(a) = e.validation_auc {
                last_auc = format!(", last validation:discriminator_auc {a:.4}");
            }
            let line = format!(
                "epoch {}/{epochs}: loss {:.4}{auc}, {:.1} s, {:.0} pairs/s",
                e.epoch, e.loss, e.seconds, e.pairs_per_second
            );
            if show {
                bar.println(line);
            } else {
                eprintln!("{line}");
            }
        }
    };
    let model = with_threads(args.threads, || {
        train::train(
            &hp,
            &train_set,
            validation.as_ref(),
            &opts,
            &mut on_progress,
        )
    })??;
    bar.finish_and_clear();
    model
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let size = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "wrote {} ({:.1} MB, {} seen entities)",
        args.out.display(),
        size as f64 / 1e6,
        model.num_seen_entities()
    );
    Ok(())
}
