//! `ipinsights prepare`: training and validation CSV from a window of the lake.

use std::collections::HashSet;
use std::io::{BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use seclake::lake::{self, LakeRoot, Shuffler, Window};
use seclake::{
    EventDay, ExtractOptions, ObjectReader, Pairing, ReadOptions, Source, SourceVersion,
};

#[derive(clap::Args)]
#[command(
    after_help = "Writes under --out: train.csv and validation.csv (headerless entity,ip,
shuffled; one row per distinct pair per object) and manifest.json (objects, rows, pairs,
distinct entities, recommended num_entity_vectors). The last --validation-days days of the
window go to validation.csv (an out-of-time split).

Only the partitions of the window are listed (one listing per source, version, region,
account and day), never the whole bucket. Memory stays bounded: a few objects are read at a
time, and rows are spread over temporary bucket files that are shuffled one at a time (or,
with --max-pairs, sampled into a reservoir of that size).

Examples:
  ipinsights prepare --lake s3://aws-security-data-lake-us-east-1-abc --sources VPC_FLOW \\
      --since 2026-01-01 --until 2026-01-28 --validation-days 3 --out s3://my-bucket/ipinsights/data/
  ipinsights prepare --lake demo-lake/aws-security-data-lake-us-east-1-sim --since 20260105 \\
      --until 20260111 --out data --max-pairs 1000000
  ipinsights fit --train data/train.csv --validation data/validation.csv --out model.ipim"
)]
pub struct Args {
    /// The lake: s3://BUCKET[/prefix] or a directory holding aws/… (a bucket directory of
    /// `ipinsights simulate`).
    #[arg(long)]
    lake: String,
    /// Sources, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "VPC_FLOW,ROUTE53")]
    sources: Vec<Source>,
    /// Source versions, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1.0,2.0", value_parser = parse_version)]
    versions: Vec<SourceVersion>,
    /// First day, YYYYMMDD or YYYY-MM-DD.
    #[arg(long, value_parser = parse_day)]
    since: EventDay,
    /// Last day (included), YYYYMMDD or YYYY-MM-DD.
    #[arg(long, value_parser = parse_day)]
    until: EventDay,
    /// Only these regions (default: every region partition found).
    #[arg(long, value_delimiter = ',')]
    regions: Option<Vec<String>>,
    /// Only these accounts (default: every account partition found).
    #[arg(long, value_delimiter = ',')]
    accounts: Option<Vec<String>>,
    /// Which endpoint fields make a pair: src, endpoint or peer (as `ipinsights pairs`).
    #[arg(long, default_value = "src")]
    pairing: Pairing,
    /// Where to write: s3://BUCKET/prefix/ or a directory.
    #[arg(long)]
    out: String,
    /// The last N days of the window become validation.csv (0: no validation file).
    #[arg(long, default_value_t = 1)]
    validation_days: usize,
    /// Keep a uniform random sample of at most N rows in each file (held in memory).
    #[arg(long)]
    max_pairs: Option<usize>,
    /// Objects read at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Temporary bucket files of the external shuffle (memory holds about rows/N rows).
    #[arg(long, default_value_t = 64)]
    shuffle_buckets: usize,
    /// Seed of the shuffle and sampling.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_day(s: &str) -> Result<EventDay, String> {
    EventDay::parse_flexible(s).map_err(|e| e.to_string())
}

fn parse_version(s: &str) -> Result<SourceVersion, String> {
    SourceVersion::parse(s).ok_or_else(|| format!("{s:?}: expected 1.0 or 2.0"))
}

/// Rows, pairs and entities of one output file.
#[derive(Default, serde::Serialize)]
struct Part {
    objects: u64,
    rows_read: u64,
    pairs: u64,
    #[serde(skip)]
    entities: HashSet<Arc<str>>,
    distinct_entities: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(prepare(args))
}

async fn prepare(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let root = LakeRoot::parse(&args.lake)?;
    let out: seclake::ObjectLocation = args.out.parse().map_err(anyhow::Error::msg)?;
    let window = Window {
        sources: args.sources.clone(),
        versions: args.versions.clone(),
        since: args.since,
        until: args.until,
        regions: args.regions.clone(),
        accounts: args.accounts.clone(),
    };
    let days = window.days()?;
    if args.validation_days >= days.len() {
        bail!(
            "--validation-days {} leaves no day to train on in a window of {} days: widen the window or lower it",
            args.validation_days,
            days.len()
        );
    }
    let first_validation_day = days[days.len() - args.validation_days.max(1)];
    let needs_s3 =
        matches!(root, LakeRoot::S3 { .. }) || matches!(out, seclake::ObjectLocation::S3 { .. });
    let s3 = if needs_s3 {
        Some(seclake::s3_client(&aws_config::load_from_env().await))
    } else {
        None
    };

    let objects = lake::list_window(&root, &window, s3.as_ref()).await?;
    if objects.is_empty() {
        bail!(
            "no objects in the window under {} ({} to {}, sources {:?}, versions {:?}{}{}): check --lake (it must hold aws/<SOURCE>/<version>/…), the dates and the filters",
            args.lake,
            args.since,
            args.until,
            args.sources
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
            args.versions
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>(),
            args.regions
                .as_ref()
                .map(|r| format!(", regions {r:?}"))
                .unwrap_or_default(),
            args.accounts
                .as_ref()
                .map(|a| format!(", accounts {a:?}"))
                .unwrap_or_default(),
        );
    }

    // Outputs are written locally first (a temporary directory when they go to S3).
    let scratch = tempfile::tempdir().context("creating a temporary directory")?;
    let out_dir: PathBuf = match &out {
        seclake::ObjectLocation::Local(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        seclake::ObjectLocation::S3 { .. } => scratch.path().join("out"),
    };
    std::fs::create_dir_all(&out_dir)?;
    let shuffler = |name: &str, seed: u64| -> anyhow::Result<Shuffler> {
        Ok(match args.max_pairs {
            Some(cap) => Shuffler::reservoir(cap, seed),
            None => {
                let dir = scratch.path().join(name);
                std::fs::create_dir_all(&dir)?;
                Shuffler::external(&dir, args.shuffle_buckets, seed)?
            }
        })
    };
    let mut train_rows = shuffler("train", args.seed)?;
    let mut validation_rows = shuffler("validation", args.seed.wrapping_add(1))?;
    let (mut train, mut validation) = (Part::default(), Part::default());

    let bar = if !args.quiet && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(objects.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "reading [{bar:30}] {pos}/{len} objects {msg} ({elapsed}, eta {eta})",
            )?
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };

    let reader = match &s3 {
        Some(c) => ObjectReader::with_s3(c.clone()),
        None => ObjectReader::local(),
    };
    let options = ExtractOptions {
        pairing: args.pairing,
        ..Default::default()
    };
    // Objects are decoded a few at a time; each one's rows use all cores already.
    let read = ReadOptions {
        threads: (ReadOptions::default().threads / args.concurrency.max(1)).max(1),
        ..Default::default()
    };
    let (mut rows_read, mut bytes_read, mut skipped) = (0u64, 0u64, 0u64);
    // `buffered` keeps the listing's order, so the same seed writes the same files.
    let mut results = futures::stream::iter(objects.iter())
        .map(|o| {
            let (reader, options, read) = (&reader, &options, &read);
            async move {
                let set = reader
                    .extract(&o.location, o.size, &o.key.source, options, read)
                    .await
                    .with_context(|| format!("reading {}", o.location))?;
                anyhow::Ok((o, set))
            }
        })
        .buffered(args.concurrency.max(1));
    let mut row = String::new();
    while let Some(result) = results.next().await {
        let (object, set) = result?;
        let is_validation =
            args.validation_days > 0 && object.key.event_day >= first_validation_day;
        let (part, rows) = if is_validation {
            (&mut validation, &mut validation_rows)
        } else {
            (&mut train, &mut train_rows)
        };
        part.objects += 1;
        part.rows_read += set.stats.rows;
        rows_read += set.stats.rows;
        bytes_read += set.stats.bytes_read;
        for pair in &set.pairs {
            // A comma, quote or newline in an entity would break the CSV; instance ids have none.
            if pair.entity.contains([',', '"', '\n', '\r']) {
                skipped += 1;
                continue;
            }
            row.clear();
            use std::fmt::Write;
            let _ = write!(row, "{},{}", pair.entity, pair.ip);
            rows.push(&row)?;
            if !part.entities.contains(&pair.entity) {
                part.entities.insert(pair.entity.clone());
            }
        }
        bar.set_message(format!(
            "{} pairs",
            train_rows.seen() + validation_rows.seen()
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();

    let train_path = out_dir.join("train.csv");
    train.pairs = write_shuffled(train_rows, &train_path)?;
    let validation_path = out_dir.join("validation.csv");
    if args.validation_days > 0 {
        validation.pairs = write_shuffled(validation_rows, &validation_path)?;
    }
    if train.pairs == 0 {
        bail!(
            "the window's {} objects ({} rows) gave no (entity, IPv4) pairs for training: try another --pairing or a wider window",
            objects.len(),
            rows_read
        );
    }
    let distinct: HashSet<&Arc<str>> = train.entities.iter().chain(&validation.entities).collect();
    let distinct = distinct.len();
    train.distinct_entities = train.entities.len();
    validation.distinct_entities = validation.entities.len();
    let secs = started.elapsed().as_secs_f64();

    let (train_url, validation_url, manifest_url) = match &out {
        seclake::ObjectLocation::Local(_) => (
            train_path.display().to_string(),
            validation_path.display().to_string(),
            out_dir.join("manifest.json").display().to_string(),
        ),
        seclake::ObjectLocation::S3 { bucket, key } => {
            let prefix = lake::dir_prefix(key);
            let url = |name: &str| format!("s3://{bucket}/{prefix}{name}");
            (
                url("train.csv"),
                url("validation.csv"),
                url("manifest.json"),
            )
        }
    };
    let manifest = serde_json::json!({
        "lake": args.lake,
        "window": {
            "since": args.since,
            "until": args.until,
            "validation_from": (args.validation_days > 0).then_some(first_validation_day),
            "sources": args.sources,
            "versions": args.versions,
            "regions": args.regions,
            "accounts": args.accounts,
        },
        "pairing": args.pairing.to_string(),
        "objects": objects.len(),
        "rows": rows_read,
        "bytes_read": bytes_read,
        "pairs": train.pairs + validation.pairs,
        "skipped_unsafe_entities": skipped,
        "distinct_entities": distinct,
        "recommended_num_entity_vectors": 2 * distinct,
        "train": { "url": train_url, "stats": train },
        "validation": (args.validation_days > 0).then(|| serde_json::json!({ "url": validation_url, "stats": validation })),
        "max_pairs": args.max_pairs,
        "seed": args.seed,
        "seconds": secs,
    });
    let manifest_path = out_dir.join("manifest.json");
    let mut manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
    manifest_bytes.push(b'\n');
    std::fs::write(&manifest_path, manifest_bytes)
        .with_context(|| format!("writing {}", manifest_path.display()))?;

    if let (seclake::ObjectLocation::S3 { bucket, key }, Some(client)) = (&out, &s3) {
        let prefix = lake::dir_prefix(key);
        let mut files = vec![
            ("train.csv", &train_path),
            ("manifest.json", &manifest_path),
        ];
        if args.validation_days > 0 {
            files.insert(1, ("validation.csv", &validation_path));
        }
        for (name, path) in files {
            lake::upload_file(client, path, bucket, &format!("{prefix}{name}"), 16 << 20).await?;
        }
    }

    eprintln!(
        "{} objects, {} rows -> {} training pairs{}, {} distinct entities (num_entity_vectors {}) in {:.1} s ({:.0} pairs/s)",
        objects.len(),
        rows_read,
        train.pairs,
        if args.validation_days > 0 {
            format!(", {} validation pairs", validation.pairs)
        } else {
            String::new()
        },
        distinct,
        2 * distinct,
        secs,
        (train.pairs + validation.pairs) as f64 / secs.max(1e-9)
    );
    println!("{train_url}");
    if args.validation_days > 0 {
        println!("{validation_url}");
    }
    println!("{manifest_url}");
    Ok(())
}

fn write_shuffled(rows: Shuffler, path: &Path) -> anyhow::Result<u64> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(rows.finish(&mut BufWriter::new(file), path)?)
}
