//! `ipinsights prepare`: training and validation CSV from a window of the lake.

use std::collections::HashSet;
use std::io::{BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use crate::athena::{Athena, AthenaArgs};
use findings::labels::{Label, Verdict};
use seclake::athena::{Filter, PairsQuery};
use seclake::lake::{self, LakeRoot, Shuffler, Window};
use seclake::{
    EventDay, ExtractOptions, GroupBy, GroupMap, ObjectReader, Pairing, ReadOptions, Source,
    SourceVersion,
};

#[derive(clap::Args)]
#[command(
    after_help = "Writes under --out: train.csv and validation.csv (headerless entity,ip,
shuffled; one row per distinct pair per object) and manifest.json (objects, rows, pairs,
distinct entities, recommended num_entity_vectors). The last --validation-days days of the
window go to validation.csv (an out-of-time split).

With --athena, Athena does the reading: one UNLOAD query over the Glue tables
(amazon_security_lake_table_<region>_<source>_<1_0|2_0>) writes the same pairs (same drops,
normalisation and per-object dedup, as SQL) as gzip CSV under <out>/athena/<run>/; they are then
shuffled and split here exactly like local reads. 1.0 tables are pruned on eventday, 2.0
tables on time_dt.

Only the partitions of the window are listed (one listing per source, version, region,
account and day), never the whole bucket. Memory stays bounded: a few objects are read at a
time, and rows are spread over temporary bucket files that are shuffled one at a time (or,
with --max-pairs, sampled into a reservoir of that size).

Examples:
  ipinsights prepare --lake s3://aws-security-data-lake-us-east-1-abc --sources VPC_FLOW \\
      --since 2026-01-01 --until 2026-01-28 --validation-days 3 --out s3://my-bucket/ipinsights/data/
  ipinsights prepare --lake demo-lake/aws-security-data-lake-us-east-1-sim --since 20260105 \\
      --until 20260111 --out data --max-pairs 1000000
  ipinsights prepare --athena --database amazon_security_lake_glue_db_us_east_1 \\
      --workgroup primary --since 2026-01-01 --until 2026-01-28 --output s3://my-bucket/ipinsights/data/
  ipinsights fit --train data/train.csv --validation data/validation.csv --out model.ipim"
)]
pub struct Args {
    /// The lake: s3://BUCKET[/prefix] or a directory holding aws/… (a bucket directory of
    /// `ipinsights simulate`).
    #[arg(long, required_unless_present = "athena", conflicts_with = "athena")]
    lake: Option<String>,
    /// Run the extraction as an Athena query over the lake's Glue tables instead of reading the
    /// objects here (UNLOAD to CSV under --out, then shuffled and split here).
    #[arg(long, requires = "database")]
    athena: bool,
    #[command(flatten)]
    athena_args: AthenaArgs,
    /// With --athena: one row per pair and object (as local reads), or per pair and day (for
    /// column-restricted Lake Formation grants, which hide "$path").
    #[arg(long, default_value = "object", requires = "athena")]
    athena_dedup: DedupArg,
    /// With --athena: keep Athena's UNLOAD files under <out>/athena/<run>/ (by default they are
    /// deleted once train.csv and validation.csv are written).
    #[arg(long, requires = "athena")]
    keep_unload: bool,
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
    /// Which endpoint fields make a pair: initiator, src, endpoint or peer (as `ipinsights
    /// pairs`).
    #[arg(long, default_value = "initiator")]
    pairing: Pairing,
    /// Each pair's instance group is trained on too, so a model scores an instance it never
    /// saw as its group: subnet, vpc or none.
    #[arg(long, default_value = "subnet")]
    group_by: GroupBy,
    /// An `instance_id,group` CSV (a path or s3://…; e.g. Auto Scaling groups) whose groups
    /// replace the subnet or VPC for the instances it lists (written `group:<name>`).
    #[arg(long, conflicts_with = "athena")]
    groups: Option<String>,
    /// Where to write: s3://BUCKET/prefix/ or a directory (with --athena: s3:// only).
    #[arg(long, visible_alias = "output")]
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
    /// The analysts' labels (`ipinsights feedback`; a path or s3://…): every false positive's
    /// (entity, address) pair, and its (group, address) pair when it has a group, is added to
    /// train.csv --label-rows times, so the model learns it as normal. True positives are
    /// never added; when one pair has both verdicts, the latest wins.
    #[arg(long)]
    labels: Option<String>,
    /// Training rows per false-positive pair (and as many for its group's pair). A pair of
    /// everyday traffic has a row per object it appears in, so one row would be lost among
    /// them; see the README for what the default does to a score.
    #[arg(long, default_value_t = DEFAULT_LABEL_ROWS, requires = "labels")]
    label_rows: usize,
}

/// `--label-rows`' default.
pub const DEFAULT_LABEL_ROWS: usize = 50;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DedupArg {
    Object,
    Day,
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
    // Read before the runtime runs: an s3:// file is read through a runtime of its own.
    let labels = match &args.labels {
        Some(uri) => super::feedback::load_labels(uri)?,
        None => Vec::new(),
    };
    runtime.block_on(prepare(args, labels))
}

async fn prepare(args: Args, labels: Vec<Label>) -> anyhow::Result<()> {
    let started = Instant::now();
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
    if args.athena {
        return prepare_athena(&args, out, first_validation_day, started, &labels).await;
    }
    let lake_arg = args
        .lake
        .clone()
        .context("--lake is required without --athena")?;
    let root = LakeRoot::parse(&lake_arg)?;
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
            lake_arg,
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

    let mut sink = Sink::new(&args, out)?;
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
        group_by: args.group_by,
        ..Default::default()
    };
    let groups = match &args.groups {
        Some(uri) => Some(load_groups(uri, s3.as_ref()).await?),
        None => None,
    };
    // Objects are decoded a few at a time; each one's rows use all cores already.
    let read = ReadOptions {
        threads: (ReadOptions::default().threads / args.concurrency.max(1)).max(1),
        ..Default::default()
    };
    let (mut rows_read, mut bytes_read) = (0u64, 0u64);
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
    while let Some(result) = results.next().await {
        let (object, mut set) = result?;
        if let Some(map) = &groups {
            map.apply(&mut set.pairs);
        }
        let is_validation =
            args.validation_days > 0 && object.key.event_day >= first_validation_day;
        let part = sink.part(is_validation);
        part.objects += 1;
        part.rows_read += set.stats.rows;
        rows_read += set.stats.rows;
        bytes_read += set.stats.bytes_read;
        // Group rows are distinct per object too, as the instance rows are.
        let mut group_rows: HashSet<(&str, std::net::Ipv4Addr)> = HashSet::new();
        for pair in &set.pairs {
            if !sink.push(&pair.entity, pair.ip, is_validation)? {
                continue;
            }
            if let Some(group) = &pair.group
                && group_rows.insert((group, pair.ip))
            {
                sink.push(group, pair.ip, is_validation)?;
            }
        }
        bar.set_message(format!("{} pairs", sink.seen()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let summary = format!("{} objects, {} rows", objects.len(), rows_read);
    let mut source = serde_json::json!({
        "lake": lake_arg,
        "objects": objects.len(),
        "rows": rows_read,
        "bytes_read": bytes_read,
    });
    source["labels"] = add_labels(&mut sink, &args, &labels)?;
    sink.finish(
        &args,
        first_validation_day,
        s3.as_ref(),
        source,
        &summary,
        started,
    )
    .await
}

/// `prepare --athena`: one UNLOAD query does the reading; its CSV goes through the same sink.
async fn prepare_athena(
    args: &Args,
    out: seclake::ObjectLocation,
    first_validation_day: EventDay,
    started: Instant,
    labels: &[Label],
) -> anyhow::Result<()> {
    let seclake::ObjectLocation::S3 { bucket, key } = &out else {
        bail!(
            "--athena writes through S3: give --out s3://BUCKET/prefix/ (Athena's UNLOAD cannot write to a local directory)"
        );
    };
    let (config, tables) = args
        .athena_args
        .resolve(&args.sources, &args.versions)
        .await?;
    let database = tables.database.clone();
    let select = PairsQuery {
        tables: tables.clone(),
        sources: args.sources.clone(),
        versions: args.versions.clone(),
        filter: Filter {
            since: args.since,
            until: args.until,
            regions: args.regions.clone(),
            accounts: args.accounts.clone(),
        },
        pairing: args.pairing,
        group_by: args.group_by,
        dedup: match args.athena_dedup {
            DedupArg::Object => seclake::athena::Dedup::Object,
            DedupArg::Day => seclake::athena::Dedup::Day,
        },
    }
    .select()
    .map_err(|e| match e {
        seclake::athena::QueryError::NoTables(_) => anyhow::anyhow!(
            "{e}: check --database, --table-region, --sources and --versions{}",
            tables
                .existing
                .as_ref()
                .map(|t| format!(
                    " (tables there: {})",
                    t.iter().cloned().collect::<Vec<_>>().join(", ")
                ))
                .unwrap_or_default()
        ),
        e => e.into(),
    })?;
    let prefix = lake::dir_prefix(key);
    // UNLOAD refuses a location that holds anything: every run gets its own.
    let run = format!(
        "{}-{:08x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
        rand_suffix()
    );
    let unload_prefix = format!("{prefix}athena/{run}/");
    let location = format!("s3://{bucket}/{unload_prefix}");
    let sql = seclake::athena::unload_csv(&select, &location);
    let Some(config) = config else {
        println!("{sql};");
        return Ok(());
    };
    let athena = Athena::new(
        &config,
        &database,
        &args.athena_args,
        Some(format!("s3://{bucket}/{prefix}athena/results/")),
        args.quiet,
    )?;
    let finished = athena
        .run(
            &seclake::athena::unload_csv(&select, &location),
            "pairs UNLOAD",
        )
        .await?;

    let s3 = seclake::s3_client(&config);
    let mut files = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&unload_prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("listing {location}"))?;
        for o in page.contents.unwrap_or_default() {
            if let Some(k) = o.key {
                files.push((k, o.size.unwrap_or(0).max(0) as u64));
            }
        }
    }
    files.sort();
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    let bar = if !args.quiet && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "reading UNLOAD [{bar:30}] {bytes}/{total_bytes} {msg} ({elapsed}, eta {eta})",
            )?
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut sink = Sink::new(args, out.clone())?;
    let scratch = tempfile::tempdir().context("creating a temporary directory")?;
    let mut bad_lines = 0u64;
    let mut line = String::new();
    for (file, size) in &files {
        // Downloaded to disk first, so memory does not grow with the size of a file.
        let local = scratch.path().join("part");
        let mut body = s3
            .get_object()
            .bucket(bucket)
            .key(file)
            .send()
            .await
            .with_context(|| format!("reading s3://{bucket}/{file}"))?
            .body;
        let mut w = tokio::fs::File::create(&local).await?;
        while let Some(chunk) = body
            .try_next()
            .await
            .with_context(|| format!("reading s3://{bucket}/{file}"))?
        {
            tokio::io::AsyncWriteExt::write_all(&mut w, &chunk).await?;
        }
        tokio::io::AsyncWriteExt::flush(&mut w).await?;
        drop(w);
        let mut reader = open_csv_part(&local)?;
        loop {
            line.clear();
            if std::io::BufRead::read_line(&mut reader, &mut line)
                .with_context(|| format!("decoding s3://{bucket}/{file}"))?
                == 0
            {
                break;
            }
            let row = line.trim_end_matches(['\n', '\r']);
            if row.is_empty() {
                continue;
            }
            let fields: Vec<&str> = row.split(',').collect();
            let (entity, ip, day) = match fields[..] {
                [e, ip, day] => (e, ip, day),
                _ => {
                    bad_lines += 1;
                    continue;
                }
            };
            let (Ok(ip), Ok(day)) = (ip.parse::<std::net::Ipv4Addr>(), EventDay::parse(day)) else {
                bad_lines += 1;
                continue;
            };
            let is_validation = args.validation_days > 0 && day >= first_validation_day;
            sink.push(entity, ip, is_validation)?;
        }
        bar.inc(*size);
        bar.set_message(format!("{} pairs", sink.seen()));
    }
    bar.finish_and_clear();
    if bad_lines > 0 {
        tracing::warn!(
            bad_lines,
            "skipped UNLOAD lines that are not entity,ip,YYYYMMDD"
        );
        eprintln!("warning: skipped {bad_lines} UNLOAD lines that are not entity,ip,YYYYMMDD");
    }
    let summary = format!(
        "Athena query {} ({} files)",
        finished.query_execution_id,
        files.len()
    );
    let mut source = serde_json::json!({
        // Athena reports pairs, not objects or rows; entities unsafe for CSV are dropped in SQL.
        "objects": null,
        "rows": null,
        "skipped_unsafe_entities": null,
        "athena": {
            "database": database,
            "workgroup": args.athena_args.workgroup,
            "table_region": tables.region_suffix,
            "unload": location,
            "unload_kept": args.keep_unload,
            "files": files.len(),
            "bad_lines": bad_lines,
            "query": finished,
        },
    });
    source["labels"] = add_labels(&mut sink, args, labels)?;
    sink.finish(
        args,
        first_validation_day,
        Some(&s3),
        source,
        &summary,
        started,
    )
    .await?;
    if !args.keep_unload {
        let keys: Vec<String> = files.into_iter().map(|(k, _)| k).collect();
        if let Err(e) = lake::delete_objects(&s3, bucket, &keys).await {
            eprintln!(
                "warning: could not delete the UNLOAD files under {location} ({e}): remove them yourself"
            );
        }
    }
    Ok(())
}

/// Adds the false positives of `labels` to the training rows; returns the manifest's `labels`
/// entry (null without --labels).
fn add_labels(sink: &mut Sink, args: &Args, labels: &[Label]) -> anyhow::Result<serde_json::Value> {
    let Some(uri) = &args.labels else {
        return Ok(serde_json::Value::Null);
    };
    let pairs = findings::labels::latest_per_pair(labels);
    let (fp, tp): (Vec<&Label>, Vec<&Label>) = pairs
        .into_iter()
        .partition(|l| l.verdict == Verdict::FalsePositive);
    let (mut rows, mut group_rows) = (0u64, 0u64);
    for l in &fp {
        for _ in 0..args.label_rows {
            if sink.push(&l.entity, l.address, false)? {
                rows += 1;
            }
            if let Some(group) = &l.group
                && sink.push(group, l.address, false)?
            {
                group_rows += 1;
            }
        }
    }
    eprintln!(
        "labels {uri}: {} labels; {} false-positive pairs added as {} training rows ({} per pair) and {} group rows; {} true-positive pairs not trained on",
        labels.len(),
        fp.len(),
        rows,
        args.label_rows,
        group_rows,
        tp.len()
    );
    Ok(serde_json::json!({
        "url": uri,
        "labels": labels.len(),
        "false_positive_pairs": fp.len(),
        "true_positive_pairs": tp.len(),
        "rows_per_label": args.label_rows,
        "rows": rows,
        "group_rows": group_rows,
    }))
}

/// A few random bits for run names (no RNG dependency needed for this).
fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() as u32
}

/// An UNLOAD part file, gunzipped when it is gzip (Athena's default for text).
fn open_csv_part(path: &Path) -> anyhow::Result<Box<dyn std::io::BufRead>> {
    use std::io::Read;
    let mut magic = [0u8; 2];
    let n = std::fs::File::open(path)?.read(&mut magic)?;
    let file = std::fs::File::open(path)?;
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
            file,
        )))
    } else {
        Box::new(std::io::BufReader::new(file))
    })
}

/// Where pairs go: two shufflers (training and validation), their counts, then the files, the
/// manifest and the upload.
struct Sink {
    out: seclake::ObjectLocation,
    scratch: tempfile::TempDir,
    out_dir: PathBuf,
    train_rows: Shuffler,
    validation_rows: Shuffler,
    train: Part,
    validation: Part,
    skipped: u64,
    row: String,
}

impl Sink {
    fn new(args: &Args, out: seclake::ObjectLocation) -> anyhow::Result<Sink> {
        // Outputs are written locally first (a temporary directory when they go to S3).
        let scratch = tempfile::tempdir().context("creating a temporary directory")?;
        let out_dir: PathBuf = match &out {
            seclake::ObjectLocation::Local(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
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
        Ok(Sink {
            train_rows: shuffler("train", args.seed)?,
            validation_rows: shuffler("validation", args.seed.wrapping_add(1))?,
            out,
            scratch,
            out_dir,
            train: Part::default(),
            validation: Part::default(),
            skipped: 0,
            row: String::new(),
        })
    }

    fn part(&mut self, validation: bool) -> &mut Part {
        if validation {
            &mut self.validation
        } else {
            &mut self.train
        }
    }

    fn seen(&self) -> u64 {
        self.train_rows.seen() + self.validation_rows.seen()
    }

    /// Adds a row; `false` when the entity cannot be written (and is counted as skipped).
    fn push(
        &mut self,
        entity: &str,
        ip: std::net::Ipv4Addr,
        validation: bool,
    ) -> anyhow::Result<bool> {
        // A comma, quote or newline in an entity would break the CSV; instance ids have none.
        if entity.contains([',', '"', '\n', '\r']) {
            self.skipped += 1;
            return Ok(false);
        }
        self.row.clear();
        use std::fmt::Write;
        let _ = write!(self.row, "{entity},{ip}");
        let (part, rows) = if validation {
            (&mut self.validation, &mut self.validation_rows)
        } else {
            (&mut self.train, &mut self.train_rows)
        };
        rows.push(&self.row)?;
        if !part.entities.contains(entity) {
            part.entities.insert(Arc::from(entity));
        }
        Ok(true)
    }

    async fn finish(
        mut self,
        args: &Args,
        first_validation_day: EventDay,
        s3: Option<&aws_sdk_s3::Client>,
        source: serde_json::Value,
        summary: &str,
        started: Instant,
    ) -> anyhow::Result<()> {
        let out_dir = self.out_dir.clone();
        let train_path = out_dir.join("train.csv");
        self.train.pairs = write_shuffled(self.train_rows, &train_path)?;
        let validation_path = out_dir.join("validation.csv");
        if args.validation_days > 0 {
            self.validation.pairs = write_shuffled(self.validation_rows, &validation_path)?;
        }
        let (mut train, mut validation) = (self.train, self.validation);
        if train.pairs == 0 {
            bail!(
                "{summary} gave no (entity, IPv4) pairs for training: try another --pairing or a wider window"
            );
        }
        // What the model will have been trained on: the endpoint's scorer reads this list to
        // score a new instance as its group.
        let entities_path = out_dir.join("entities.txt");
        let mut trained: Vec<&Arc<str>> = train.entities.iter().collect();
        trained.sort();
        let mut list = String::new();
        for e in trained {
            list.push_str(e);
            list.push('\n');
        }
        std::fs::write(&entities_path, list)
            .with_context(|| format!("writing {}", entities_path.display()))?;
        let distinct: HashSet<&Arc<str>> =
            train.entities.iter().chain(&validation.entities).collect();
        let distinct = distinct.len();
        train.distinct_entities = train.entities.len();
        validation.distinct_entities = validation.entities.len();
        let secs = started.elapsed().as_secs_f64();

        let (train_url, validation_url, manifest_url, entities_url) = match &self.out {
            seclake::ObjectLocation::Local(_) => (
                train_path.display().to_string(),
                validation_path.display().to_string(),
                out_dir.join("manifest.json").display().to_string(),
                entities_path.display().to_string(),
            ),
            seclake::ObjectLocation::S3 { bucket, key } => {
                let prefix = lake::dir_prefix(key);
                let url = |name: &str| format!("s3://{bucket}/{prefix}{name}");
                (
                    url("train.csv"),
                    url("validation.csv"),
                    url("manifest.json"),
                    url("entities.txt"),
                )
            }
        };
        let mut manifest = serde_json::json!({
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
            "group_by": args.group_by.to_string(),
            "groups": args.groups,
            "entities_url": entities_url,
            "pairs": train.pairs + validation.pairs,
            "skipped_unsafe_entities": self.skipped,
            "distinct_entities": distinct,
            "recommended_num_entity_vectors": 2 * distinct,
            "train": { "url": train_url, "stats": train },
            "validation": (args.validation_days > 0).then(|| serde_json::json!({ "url": validation_url, "stats": validation })),
            "max_pairs": args.max_pairs,
            "seed": args.seed,
            "seconds": secs,
        });
        if let (Some(m), serde_json::Value::Object(extra)) = (manifest.as_object_mut(), source) {
            m.extend(extra);
        }
        if manifest.get("athena").is_some() {
            for part in ["train", "validation"] {
                if let Some(stats) = manifest[part]["stats"].as_object_mut() {
                    stats.remove("objects");
                    stats.remove("rows_read");
                }
            }
        }
        let manifest_path = out_dir.join("manifest.json");
        let mut manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
        manifest_bytes.push(b'\n');
        std::fs::write(&manifest_path, manifest_bytes)
            .with_context(|| format!("writing {}", manifest_path.display()))?;

        if let seclake::ObjectLocation::S3 { bucket, key } = &self.out {
            let client = s3.context("an S3 output without an S3 client")?;
            let prefix = lake::dir_prefix(key);
            let mut files = vec![
                ("train.csv", &train_path),
                ("manifest.json", &manifest_path),
                ("entities.txt", &entities_path),
            ];
            if args.validation_days > 0 {
                files.insert(1, ("validation.csv", &validation_path));
            }
            for (name, path) in files {
                lake::upload_file(client, path, bucket, &format!("{prefix}{name}"), 16 << 20)
                    .await?;
            }
        }
        drop(self.scratch);

        eprintln!(
            "{summary} -> {} training pairs{}, {} distinct entities (num_entity_vectors {}) in {:.1} s ({:.0} pairs/s)",
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
}

/// An `instance_id,group` mapping from a path or `s3://bucket/key`.
pub async fn load_groups(uri: &str, s3: Option<&aws_sdk_s3::Client>) -> anyhow::Result<GroupMap> {
    let text = match uri.parse::<seclake::ObjectLocation>() {
        Ok(seclake::ObjectLocation::S3 { bucket, key }) => {
            let owned;
            let client = match s3 {
                Some(c) => c,
                None => {
                    owned = seclake::s3_client(&aws_config::load_from_env().await);
                    &owned
                }
            };
            let out = client
                .get_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))
                .with_context(|| format!("reading {uri}"))?;
            let bytes = out.body.collect().await?.into_bytes();
            String::from_utf8(bytes.to_vec()).with_context(|| format!("{uri} is not UTF-8"))?
        }
        _ => std::fs::read_to_string(uri).with_context(|| format!("reading {uri}"))?,
    };
    GroupMap::parse_csv(&text).with_context(|| format!("reading {uri}"))
}

fn write_shuffled(rows: Shuffler, path: &Path) -> anyhow::Result<u64> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(rows.finish(&mut BufWriter::new(file), path)?)
}
