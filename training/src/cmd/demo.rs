//! `ipinsights demo`: the main job end to end on a simulated lake, with no AWS account.
//!
//! Every stage is the production code path: the simulator, `prepare`, `fit` and `calibrate`
//! run as the commands a user types, and the later days' objects go through the Lambda's own
//! handler (`ipcheck::handle_batch`) from the SQS events that announce them. The ground truth
//! is only read for the final report.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use ipcheck::{Config, Deps, EmbeddedScorer, Metrics, Scorer, handle_batch};
use seclake::ObjectReader;
use seclake::simulate::{GroundTruth, Manifest, SimConfig};
use serde_json::Value;

use crate::cmd;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  ipinsights demo
  ipinsights demo --out /tmp/demo --days 12 --instances 120 --anomalies 60")]
pub struct Args {
    /// Working directory (the lake, training data, model, plot); replaced if it exists.
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
    /// Seed of the simulated lake.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Days of the lake; anomalies are injected in the last third only.
    #[arg(long, default_value_t = 9)]
    days: u32,
    /// Member accounts.
    #[arg(long, default_value_t = 3)]
    accounts: usize,
    /// EC2 instances in the estate.
    #[arg(long, default_value_t = 60)]
    instances: usize,
    /// Rows per VPC Flow object (Route 53 objects get a quarter).
    #[arg(long, default_value_t = 20_000)]
    rows_per_object: usize,
    /// Injected anomalies.
    #[arg(long, default_value_t = 30)]
    anomalies: usize,
    /// False-positive rate the threshold is calibrated for.
    #[arg(long, default_value_t = 0.01)]
    max_fpr: f64,
    /// Embedding size of the model.
    #[arg(long, default_value_t = 64)]
    vector_dim: u32,
    /// Training epochs.
    #[arg(long, default_value_t = 15)]
    epochs: u32,
    /// Print only the summary, not the records.
    #[arg(long)]
    quiet: bool,
}

/// Runs one of the CLI's own subcommands with the arguments a user would type.
fn run_command(argv: &[String]) -> anyhow::Result<()> {
    #[derive(Parser)]
    struct One {
        #[command(subcommand)]
        command: Sub,
    }
    #[derive(clap::Subcommand)]
    enum Sub {
        Prepare(cmd::prepare::Args),
        Fit(cmd::fit::Args),
        Calibrate(cmd::calibrate::Args),
    }
    let parsed =
        One::try_parse_from(std::iter::once("ipinsights".to_string()).chain(argv.iter().cloned()))
            .with_context(|| format!("arguments {argv:?}"))?;
    match parsed.command {
        Sub::Prepare(a) => cmd::prepare::run(a),
        Sub::Fit(a) => cmd::fit::run(a),
        Sub::Calibrate(a) => cmd::calibrate::run(a),
    }
}

/// Log lines: echoed to stdout (unless quiet) and kept for the report.
#[derive(Clone)]
struct Tee {
    kept: Arc<Mutex<Vec<u8>>>,
    echo: bool,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.echo {
            std::io::stdout().write_all(buf)?;
        }
        self.kept
            .lock()
            .map_err(|_| std::io::Error::other("log buffer poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    serde_json::from_slice(
        &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// What the demo measured.
struct Stage {
    name: &'static str,
    seconds: f64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.days < 3 {
        bail!("--days must be at least 3: training days, a validation day and anomaly days");
    }
    let kept = Arc::new(Mutex::new(Vec::new()));
    ipcheck::logging::init(true, {
        let tee = Tee {
            kept: kept.clone(),
            echo: !args.quiet,
        };
        move || tee.clone()
    });
    let out = &args.out;
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("clearing {}", out.display()))?;
    }
    let lake = out.join("lake");
    let mut stages = Vec::new();

    // 1. A simulated lake.
    let started = Instant::now();
    eprintln!("== 1/5 simulating a Security Lake in {}", lake.display());
    let cfg = SimConfig {
        seed: args.seed,
        days: args.days,
        accounts: args.accounts,
        instances: args.instances,
        rows_per_object: args.rows_per_object,
        anomalies: args.anomalies,
        ..SimConfig::default()
    };
    let summary = seclake::simulate::simulate(&cfg, &lake)?;
    let manifest: Manifest = read_json(&summary.manifest)?;
    let truth: GroundTruth = read_json(&summary.ground_truth)?;
    stages.push(Stage {
        name: "simulate",
        seconds: started.elapsed().as_secs_f64(),
    });
    let (Some(first), Some(last_clean)) = (truth.clean_days.first(), truth.clean_days.last())
    else {
        bail!("the simulated lake has no clean days to train on");
    };
    let [(_, bucket)] = manifest.buckets.as_slice() else {
        bail!("the demo simulates one region");
    };

    // 2. Training data from the clean days, exactly as `prepare` makes it.
    let started = Instant::now();
    eprintln!("== 2/5 ipinsights prepare (days {first}..{last_clean})");
    let data = out.join("training");
    run_command(&[
        "prepare".into(),
        "--lake".into(),
        path_arg(&lake.join(bucket)),
        "--since".into(),
        first.clone(),
        "--until".into(),
        last_clean.clone(),
        "--validation-days".into(),
        "1".into(),
        "--out".into(),
        path_arg(&data),
        "--quiet".into(),
    ])?;
    let prepared: Value = read_json(&data.join("manifest.json"))?;
    let num_entity_vectors = prepared["recommended_num_entity_vectors"]
        .as_u64()
        .unwrap_or(1000)
        .max(2);
    stages.push(Stage {
        name: "prepare",
        seconds: started.elapsed().as_secs_f64(),
    });

    // 3. The embedded model.
    let started = Instant::now();
    eprintln!("== 3/5 ipinsights fit");
    let model_path = out.join("model.safetensors");
    run_command(&[
        "fit".into(),
        "--train".into(),
        path_arg(&data.join("train.csv")),
        "--validation".into(),
        path_arg(&data.join("validation.csv")),
        "--out".into(),
        path_arg(&model_path),
        "--num_entity_vectors".into(),
        num_entity_vectors.to_string(),
        "--vector_dim".into(),
        args.vector_dim.to_string(),
        "--epochs".into(),
        args.epochs.to_string(),
        "--learning_rate".into(),
        "0.01".into(),
        "--mini_batch_size".into(),
        "1000".into(),
        "--quiet".into(),
    ])?;
    stages.push(Stage {
        name: "fit",
        seconds: started.elapsed().as_secs_f64(),
    });

    // 4. The threshold for the false-positive rate, on the held-out (out-of-time) day.
    let started = Instant::now();
    eprintln!("== 4/5 ipinsights calibrate (max FPR {})", args.max_fpr);
    let plot = out.join("scores.png");
    run_command(&[
        "calibrate".into(),
        "--model".into(),
        path_arg(&model_path),
        "--normal".into(),
        path_arg(&data.join("validation.csv")),
        "--max-fpr".into(),
        args.max_fpr.to_string(),
        "--plot".into(),
        path_arg(&plot),
    ])?;
    let model = ipinsights::Model::load(&model_path)?;
    let normal = ipinsights::Dataset::from_csv_bytes(&std::fs::read(data.join("validation.csv"))?)?;
    let normal_pairs: Vec<(&str, std::net::Ipv4Addr)> = normal.pairs().collect();
    let normal_scores: Vec<f64> = model
        .score_pairs(&normal_pairs)
        .iter()
        .filter(|s| s.entity_seen)
        .map(|s| s.dot_product)
        .collect();
    let Some((threshold, _)) = cmd::calibrate::threshold_at_fpr(&normal_scores, args.max_fpr)
    else {
        bail!("no held-out pairs of known entities to calibrate on");
    };
    stages.push(Stage {
        name: "calibrate",
        seconds: started.elapsed().as_secs_f64(),
    });

    // 5. The later days through the Lambda's handler, announced by their SQS events.
    let started = Instant::now();
    let days: BTreeSet<&String> = truth.anomaly_days.iter().collect();
    let scored: Vec<_> = manifest
        .objects
        .iter()
        .filter(|o| days.contains(&o.day))
        .collect();
    eprintln!(
        "== 5/5 the ipcheck handler on {} objects of {} (threshold {threshold:.4}); records as the Lambda logs them:",
        scored.len(),
        days.iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let threshold_text = threshold.to_string();
    let model_text = path_arg(&model_path);
    let config = Config::from_lookup(|name| match name {
        "MODEL_URI" => Some(model_text.clone()),
        "ANOMALY_THRESHOLD" => Some(threshold_text.clone()),
        _ => None,
    })?;
    // The embedded scorer only needs S3 for s3:// model URIs; this one is a local path.
    let unused_s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .build(),
    );
    let deps = Deps::new(
        config,
        ObjectReader::mirror(&lake),
        Scorer::Embedded(EmbeddedScorer::from_model(model, unused_s3)),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut metrics = Metrics::default();
    let mut failures = 0usize;
    for batch in scored.chunks(10) {
        let mut records = Vec::new();
        for o in batch {
            let event: Value = read_json(&lake.join(&o.s3_event))?;
            if let Some(r) = event["Records"].as_array() {
                records.extend(r.iter().cloned());
            }
        }
        let event = serde_json::from_value(serde_json::json!({ "Records": records }))?;
        let invocation =
            lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default());
        let (response, m) = runtime
            .block_on(handle_batch(invocation, &deps))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        failures += response.batch_item_failures.len();
        metrics.add(&m);
    }
    stages.push(Stage {
        name: "score",
        seconds: started.elapsed().as_secs_f64(),
    });

    // The report: only here is the ground truth read.
    let logged = kept
        .lock()
        .map_err(|_| anyhow::anyhow!("log buffer poisoned"))?
        .clone();
    let records: Vec<Value> = String::from_utf8_lossy(&logged)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of = |kind: &'static str| records.iter().filter(move |r| r["record"] == kind);
    let flagged: BTreeSet<(String, String, String)> = of("anomaly")
        .map(|r| {
            (
                r["key"].as_str().unwrap_or_default().to_string(),
                r["entity"].as_str().unwrap_or_default().to_string(),
                r["ip"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let planted: BTreeSet<(String, String, String)> = truth
        .anomalies
        .iter()
        .map(|a| (a.object_key.clone(), a.entity.clone(), a.ip.clone()))
        .collect();
    let found = flagged.intersection(&planted).count();
    let sum = |field: &str| {
        of("object_scored")
            .map(|r| r[field].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let unseen = of("unseen_entity").count();
    let precision = if flagged.is_empty() {
        0.0
    } else {
        found as f64 / flagged.len() as f64
    };
    let recall = if planted.is_empty() {
        0.0
    } else {
        found as f64 / planted.len() as f64
    };

    eprintln!();
    eprintln!("== summary");
    eprintln!(
        "  lake                {} objects, {} rows over {} days ({} of them scored: {})",
        manifest.objects.len(),
        summary.rows,
        args.days,
        scored.len(),
        days.iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!(
        "  training data       {} train + {} validation pairs, {} entities",
        prepared["train"]["stats"]["pairs"],
        prepared["validation"]["stats"]["pairs"],
        prepared["distinct_entities"]
    );
    eprintln!(
        "  threshold           {threshold:.4} (at most {:.1}% of held-out normal pairs below it)",
        args.max_fpr * 100.0
    );
    eprintln!(
        "  scored              {} objects, {} rows, {} pairs, {} distinct pairs",
        metrics.objects_scored,
        sum("rows"),
        sum("pairs"),
        metrics.pairs_scored
    );
    eprintln!(
        "  findings            {} anomalies, {} unseen-entity pairs, {} rejected, {} messages to retry",
        metrics.anomalies, unseen, metrics.rejected, failures
    );
    eprintln!(
        "  ground truth        {} planted anomalous pairs; {found} found",
        planted.len()
    );
    eprintln!("  precision / recall  {:.3} / {:.3}", precision, recall);
    for s in &stages {
        eprintln!("  time {:<14} {:>7.2} s", s.name, s.seconds);
    }
    eprintln!("  score plot          {}", plot.display());
    Ok(())
}
