//! `ipinsights evaluate`: the production path on a simulated estate, measured against its ground
//! truth and beside three simple rules.
//!
//! prepare (the clean days but the last), fit, calibrate (on the last clean day, held out), then
//! the Lambda's handler (`ipcheck::handle_batch`) on the attack days from the SQS events that
//! announce them. The ground truth is read only for the report.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use clap::Parser;
use ipcheck::{Config, Deps, EmbeddedScorer, Metrics, Scorer, handle_batch};
use ipinsights::alert::{Fanout, fanout_min_addresses};
use seclake::simulate::Manifest;
use seclake::{ExtractOptions, LakeKey, ObjectLocation, ObjectReader, ReadOptions};
use serde_json::Value;

use crate::cmd;
use crate::evaluation::{self, Attacks, History, Report, ScoredPair};

#[derive(clap::Args, Clone)]
#[command(
    after_help = "Without --lake, simulates a realistic estate first (ipinsights simulate
--estate realistic) under <out>/lake. The clean days but the last are training data, the last
clean day is held out to calibrate the threshold on, and the attack days go through the
Lambda's handler. Writes <out>/records.jsonl (the handler's records), <out>/evaluation.json.

Examples:
  ipinsights evaluate
  ipinsights evaluate --seed 7 --alert-budget 10
  ipinsights simulate --out lake --seed 3 && ipinsights evaluate --lake lake --out eval-3"
)]
pub struct Args {
    /// Working directory; replaced if it exists.
    #[arg(long, default_value = "eval-out")]
    pub out: PathBuf,
    /// A lake written by `ipinsights simulate` (with manifest.json and ground-truth.json).
    #[arg(long)]
    pub lake: Option<PathBuf>,
    /// Seed of the simulated estate (without --lake).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Days of the simulated estate (without --lake); attacks are on the last third.
    #[arg(long, default_value_t = 10)]
    pub days: u32,
    /// Member accounts of the simulated estate (default: the simulator's).
    #[arg(long)]
    pub accounts: Option<usize>,
    /// EC2 instances of the simulated estate (default: the simulator's).
    #[arg(long)]
    pub instances: Option<usize>,
    /// Rows per VPC Flow object of the simulated estate (default: the simulator's).
    #[arg(long)]
    pub rows_per_object: Option<usize>,
    /// Attacks planted in the simulated estate (default: the simulator's).
    #[arg(long)]
    pub attacks: Option<usize>,
    /// Pairing of prepare and the Lambda.
    #[arg(long, default_value = "initiator")]
    pub pairing: seclake::Pairing,
    /// Group entities of prepare and the Lambda.
    #[arg(long, default_value = "subnet")]
    pub group_by: seclake::GroupBy,
    /// False-positive rate the threshold is calibrated for.
    #[arg(long, default_value_t = 0.01)]
    pub max_fpr: f64,
    /// Alerts per day on the held-out day the threshold may give (the lower threshold wins;
    /// `demo` uses 5 unless given).
    #[arg(long)]
    pub alert_budget: Option<f64>,
    /// With --alert-budget: no fan-out rule. By default a pair below the false-positive-rate
    /// threshold is an alert too when its instance reached more such addresses in one object
    /// than any instance did on the held-out day (at least --fanout-floor).
    #[arg(long)]
    pub no_fanout: bool,
    /// The smallest fan-out size the rule alerts at.
    #[arg(long, default_value_t = 10)]
    pub fanout_floor: usize,
    /// Embedding size of the model.
    #[arg(long, default_value_t = 64)]
    pub vector_dim: u32,
    /// Training epochs.
    #[arg(long, default_value_t = 15)]
    pub epochs: u32,
}

/// Runs one of the CLI's own subcommands with the arguments a user would type.
pub fn run_command(argv: &[String]) -> anyhow::Result<()> {
    #[derive(Parser)]
    struct One {
        #[command(subcommand)]
        command: Sub,
    }
    #[derive(clap::Subcommand)]
    enum Sub {
        Simulate(cmd::simulate::Args),
        Prepare(cmd::prepare::Args),
        Fit(cmd::fit::Args),
        Calibrate(cmd::calibrate::Args),
    }
    let parsed =
        One::try_parse_from(std::iter::once("ipinsights".to_string()).chain(argv.iter().cloned()))
            .with_context(|| format!("arguments {argv:?}"))?;
    match parsed.command {
        Sub::Simulate(a) => cmd::simulate::run(a),
        Sub::Prepare(a) => cmd::prepare::run(a),
        Sub::Fit(a) => cmd::fit::run(a),
        Sub::Calibrate(a) => cmd::calibrate::run(a),
    }
}

/// Log lines of the handler: kept for the report, and written to `records.jsonl`.
#[derive(Clone, Default)]
pub struct LogSink {
    pub kept: Arc<Mutex<Vec<u8>>>,
}

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.kept
            .lock()
            .map_err(|_| std::io::Error::other("log buffer poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogSink {
    /// The JSON records logged so far.
    pub fn records(&self) -> anyhow::Result<Vec<Value>> {
        let logged = self
            .kept
            .lock()
            .map_err(|_| anyhow::anyhow!("log buffer poisoned"))?
            .clone();
        Ok(String::from_utf8_lossy(&logged)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    serde_json::from_slice(
        &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// What one run measured, for the report and the demo's summary.
pub struct Outcome {
    pub report: Report,
    pub threshold: f64,
    pub metrics: Metrics,
    pub retries: usize,
    pub scored_days: Vec<String>,
    pub train_days: (String, String),
    pub prepared: Value,
    pub stages: Vec<(&'static str, f64)>,
    pub records_path: PathBuf,
    pub records: Vec<Value>,
}

/// The pipeline. Logging must already be initialised with `sink` as the JSON writer.
pub fn pipeline(args: &Args, sink: &LogSink) -> anyhow::Result<Outcome> {
    let out = &args.out;
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(out)?;
    let mut stages = Vec::new();
    let mut clock = std::time::Instant::now();
    let mut lap = |name: &'static str, stages: &mut Vec<(&'static str, f64)>| {
        stages.push((name, clock.elapsed().as_secs_f64()));
        clock = std::time::Instant::now();
    };

    let lake = match &args.lake {
        Some(l) => l.clone(),
        None => {
            let lake = out.join("lake");
            eprintln!("== simulating a realistic estate in {}", lake.display());
            let mut argv: Vec<String> = vec![
                "simulate".into(),
                "--out".into(),
                path_arg(&lake),
                "--estate".into(),
                "realistic".into(),
                "--seed".into(),
                args.seed.to_string(),
                "--days".into(),
                args.days.to_string(),
            ];
            for (flag, value) in [
                ("--accounts", args.accounts),
                ("--instances", args.instances),
                ("--rows-per-object", args.rows_per_object),
                ("--anomalies", args.attacks),
            ] {
                if let Some(v) = value {
                    argv.extend([flag.to_string(), v.to_string()]);
                }
            }
            run_command(&argv)?;
            lake
        }
    };
    lap("simulate", &mut stages);
    let manifest: Manifest = read_json(&lake.join("manifest.json"))?;
    let truth: Value = read_json(&lake.join("ground-truth.json"))?;
    let days_of = |field: &str| -> Vec<String> {
        truth[field]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let clean = days_of("clean_days");
    let scored_days = days_of("anomaly_days");
    if clean.len() < 2 || scored_days.is_empty() {
        bail!(
            "the lake needs at least two clean days and one attack day (it has {} and {})",
            clean.len(),
            scored_days.len()
        );
    }
    let (first, last_train, holdout) = (
        clean[0].clone(),
        clean[clean.len() - 2].clone(),
        clean[clean.len() - 1].clone(),
    );
    let [(_, bucket)] = manifest.buckets.as_slice() else {
        bail!("evaluate reads a lake of one region");
    };

    eprintln!("== ipinsights prepare (days {first}..{holdout}, {holdout} held out)");
    let data = out.join("training");
    run_command(&[
        "prepare".into(),
        "--lake".into(),
        path_arg(&lake.join(bucket)),
        "--since".into(),
        first.clone(),
        "--until".into(),
        holdout.clone(),
        "--validation-days".into(),
        "1".into(),
        "--pairing".into(),
        args.pairing.to_string(),
        "--group-by".into(),
        args.group_by.to_string(),
        "--out".into(),
        path_arg(&data),
        "--quiet".into(),
    ])?;
    let prepared: Value = read_json(&data.join("manifest.json"))?;
    let num_entity_vectors = prepared["recommended_num_entity_vectors"]
        .as_u64()
        .unwrap_or(1000)
        .max(2);
    lap("prepare", &mut stages);

    eprintln!("== ipinsights fit");
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
    lap("fit", &mut stages);

    // The threshold on the held-out day, scored as the Lambda scores (each pair as its instance
    // and its group, the more familiar of the two), one score per (instance, address).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let options = ExtractOptions {
        pairing: args.pairing,
        group_by: args.group_by,
        ..Default::default()
    };
    let reader = ObjectReader::mirror(&lake);
    let calibration_scorer = Scorer::Embedded(EmbeddedScorer::from_model(
        ipinsights::Model::load(&model_path)?,
        unused_s3(),
    ));
    let holdout_objects: Vec<_> = manifest
        .objects
        .iter()
        .filter(|o| o.day == holdout)
        .collect();
    let held_out = score_objects(
        &runtime,
        &reader,
        &calibration_scorer,
        &holdout_objects,
        &options,
    )?;
    let mut per_unit: std::collections::BTreeMap<(String, Ipv4Addr), f64> = Default::default();
    for p in &held_out {
        let s = per_unit
            .entry((p.entity.clone(), p.ip))
            .or_insert(f64::INFINITY);
        *s = s.min(p.dot_product);
    }
    let normal_scores: Vec<f64> = per_unit.into_values().collect();
    let Some((fpr_threshold, _)) = cmd::calibrate::threshold_at_fpr(&normal_scores, args.max_fpr)
    else {
        bail!("no held-out pairs of known entities to calibrate on");
    };
    let mut threshold = fpr_threshold;
    if let Some(budget) = args.alert_budget
        && let Some(t) =
            cmd::calibrate::threshold_at_budget(&normal_scores, budget.floor() as usize)
    {
        threshold = threshold.min(t);
    }
    // A budget below the false-positive rate's threshold would miss a scan whose addresses
    // are each only a little unusual; the fan-out rule keeps them, sized on the held-out day.
    let fanout = (!args.no_fanout && threshold < fpr_threshold).then(|| {
        let mut by_object: std::collections::BTreeMap<&str, Vec<(&str, Ipv4Addr, f64)>> =
            Default::default();
        for p in &held_out {
            by_object.entry(p.object.as_str()).or_default().push((
                p.entity.as_str(),
                p.ip,
                p.dot_product,
            ));
        }
        Fanout {
            threshold: fpr_threshold,
            min_addresses: fanout_min_addresses(
                by_object.into_values(),
                fpr_threshold,
                args.fanout_floor,
            ),
        }
    });
    eprintln!(
        "== threshold {threshold:.4} (max FPR {}{}, over {} held-out pairs){}",
        args.max_fpr,
        args.alert_budget
            .map(|b| format!(", alert budget {b} per day"))
            .unwrap_or_default(),
        normal_scores.len(),
        fanout
            .map(|f| format!(
                "; fan-out: {} addresses below {:.4} from one instance in one object",
                f.min_addresses, f.threshold
            ))
            .unwrap_or_default()
    );
    lap("calibrate", &mut stages);

    // The attack days through the Lambda's handler, announced by their SQS events.
    let days: BTreeSet<&String> = scored_days.iter().collect();
    let objects: Vec<_> = manifest
        .objects
        .iter()
        .filter(|o| days.contains(&o.day))
        .collect();
    eprintln!(
        "== the ipcheck handler on {} objects of {}",
        objects.len(),
        scored_days.join(", ")
    );
    let threshold_text = threshold.to_string();
    let model_text = path_arg(&model_path);
    let (pairing, group_by) = (args.pairing.to_string(), args.group_by.to_string());
    let config = Config::from_lookup(|name| match name {
        "MODEL_URI" => Some(model_text.clone()),
        "ANOMALY_THRESHOLD" => Some(threshold_text.clone()),
        "FANOUT_THRESHOLD" => fanout.map(|f| f.threshold.to_string()),
        "FANOUT_MIN_ADDRESSES" => fanout.map(|f| f.min_addresses.to_string()),
        "PAIRING" => Some(pairing.clone()),
        "GROUP_BY" => Some(group_by.clone()),
        _ => None,
    })?;
    let deps = Deps::new(
        config,
        ObjectReader::mirror(&lake),
        // The same model in memory: the handler scores as calibration did.
        calibration_scorer,
    );
    let mut metrics = Metrics::default();
    let mut retries = 0usize;
    let already = sink.records()?.len();
    for batch in objects.chunks(10) {
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
        retries += response.batch_item_failures.len();
        metrics.add(&m);
    }
    let records: Vec<Value> = sink.records()?.split_off(already);
    let records_path = out.join("records.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&records_path)?);
    for r in &records {
        serde_json::to_writer(&mut file, r)?;
        file.write_all(b"\n")?;
    }
    file.flush()?;
    lap("score", &mut stages);

    // Every pair of those objects, scored by the handler's scorer, for ROC AUC and the rules.
    let scored = score_objects(&runtime, &deps.objects, &deps.scorer, &objects, &options)?;
    let mut history = History::default();
    for file in ["train.csv", "validation.csv"] {
        let d = ipinsights::Dataset::from_csv_bytes(&std::fs::read(data.join(file))?)?;
        for (e, ip) in d.pairs() {
            history.add(e, ip);
        }
    }
    let attacks = attacks_of(&truth)?;
    let report = evaluation::evaluate(
        &scored,
        &attacks,
        &history,
        &deps.config.alert_rule(),
        scored_days.len(),
    );
    std::fs::write(
        out.join("evaluation.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    lap("evaluate", &mut stages);
    Ok(Outcome {
        report,
        threshold,
        metrics,
        retries,
        scored_days,
        train_days: (first, last_train),
        prepared,
        stages,
        records_path,
        records,
    })
}

/// The embedded scorer only needs S3 for s3:// model URIs; these models are in memory.
fn unused_s3() -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .build(),
    )
}

/// Every pair of `objects` with the score the handler's scorer gives it (unseen ones left out).
fn score_objects(
    runtime: &tokio::runtime::Runtime,
    reader: &ObjectReader,
    scorer: &Scorer,
    objects: &[&seclake::simulate::ManifestObject],
    options: &ExtractOptions,
) -> anyhow::Result<Vec<ScoredPair>> {
    let mut scored = Vec::new();
    for o in objects {
        let key = LakeKey::parse(&o.key)?;
        let location = ObjectLocation::S3 {
            bucket: o.bucket.clone(),
            key: o.key.clone(),
        };
        let set = runtime.block_on(reader.extract(
            &location,
            Some(o.bytes),
            &key.source,
            options,
            &ReadOptions::default(),
        ))?;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(600);
        let result = runtime
            .block_on(scorer.score(&set.pairs, deadline))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (pair, s) in set.pairs.iter().zip(&result.scores) {
            if s.scope == seclake::EntityScope::Unseen {
                continue;
            }
            scored.push(ScoredPair {
                day: o.day.clone(),
                object: o.key.clone(),
                entity: pair.entity.to_string(),
                ip: pair.ip,
                scored_as: s.scored_as.to_string(),
                dot_product: s.dot_product,
            });
        }
    }
    Ok(scored)
}

/// `attacks[]` of ground-truth.json: each attack's (day, entity, address) pairs and kind.
pub fn attacks_of(truth: &Value) -> anyhow::Result<Attacks> {
    let mut out = Attacks::new();
    for a in truth["attacks"].as_array().into_iter().flatten() {
        let (Some(kind), Some(entity), Some(day)) =
            (a["kind"].as_str(), a["entity"].as_str(), a["day"].as_str())
        else {
            bail!("ground-truth.json: an attack without kind, entity or day: {a}");
        };
        for p in a["pairs"].as_array().into_iter().flatten() {
            let ip: Ipv4Addr = p["ip"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("ground-truth.json: a bad address in {p}"))?;
            out.insert((day.to_string(), entity.to_string(), ip), kind.to_string());
        }
    }
    if out.is_empty() {
        bail!("ground-truth.json lists no attacks: simulate with --estate realistic");
    }
    Ok(out)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let sink = LogSink::default();
    ipcheck::logging::init(true, {
        let sink = sink.clone();
        move || sink.clone()
    });
    let outcome = pipeline(&args, &sink)?;
    eprintln!();
    println!("{}", outcome.report.render());
    eprintln!(
        "records: {}; report: {}",
        outcome.records_path.display(),
        args.out.join("evaluation.json").display()
    );
    Ok(())
}
