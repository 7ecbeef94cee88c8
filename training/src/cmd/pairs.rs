//! `ipinsights pairs`: what the scorer sees in an object.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use seclake::{
    ExtractOptions, LakeKey, ObjectLocation, ObjectReader, PairSet, Pairing, ReadOptions, Source,
};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  ipinsights pairs lake/aws-security-data-lake-*/aws/VPC_FLOW/1.0/region=us-east-1/accountId=111122223333/eventDay=20260101/0a1b.gz.parquet
  ipinsights pairs ./lake --pairing endpoint --format json
  ipinsights pairs s3://aws-security-data-lake-us-east-1-abc/aws/ROUTE53/2.0/region=us-east-1/accountId=111122223333/eventDay=20260101/x.gz.parquet
  ipinsights pairs export.parquet --source VPC_FLOW --dropped 5")]
pub struct Args {
    /// Parquet objects: files, directories (searched for *.parquet) or s3://BUCKET/KEY.
    #[arg(required = true)]
    inputs: Vec<String>,
    /// Which endpoint fields make a pair: initiator (the instance that opened a connection
    /// with the address it connected to), src (instance_uid with its own ip on the source
    /// side), endpoint (each endpoint's instance with its own ip) or peer (an instance with the
    /// address at the other end, either way).
    #[arg(long, default_value = "initiator")]
    pairing: Pairing,
    /// The group read beside each instance (shown in --format json): subnet, vpc or none.
    #[arg(long, default_value = "subnet")]
    group_by: seclake::GroupBy,
    /// Output format: csv (`entity,ip,count`, no header) or json.
    #[arg(long, default_value = "csv", value_parser = ["csv", "json"])]
    format: String,
    /// The source of objects whose key is not in the Security Lake layout (VPC_FLOW, ROUTE53).
    #[arg(long)]
    source: Option<Source>,
    /// Row groups decoded at once (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Also print up to N dropped candidates with their reason (on stderr).
    #[arg(long, default_value_t = 0)]
    dropped: usize,
}

/// The source of an object: the flag, else its key layout.
fn source_of(location: &str, flag: Option<&Source>) -> anyhow::Result<Source> {
    if let Some(source) = flag {
        return Ok(source.clone());
    }
    match LakeKey::parse(location) {
        Ok(key) => Ok(key.source),
        Err(e) => bail!(
            "cannot tell the source of {location} ({e}); pass --source VPC_FLOW or --source ROUTE53"
        ),
    }
}

fn parquet_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            parquet_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let options = ExtractOptions {
        pairing: args.pairing,
        group_by: args.group_by,
        max_dropped_examples: args.dropped,
        ..Default::default()
    };
    let mut read = ReadOptions::default();
    if let Some(threads) = args.threads {
        read.threads = threads;
    }
    // Objects to read: files found under directories, plus the named files and S3 objects.
    let mut objects: Vec<(ObjectLocation, Source)> = Vec::new();
    for input in &args.inputs {
        let location = input
            .parse::<ObjectLocation>()
            .map_err(anyhow::Error::msg)?;
        match &location {
            ObjectLocation::Local(path) if path.is_dir() => {
                let mut files = Vec::new();
                parquet_files(path, &mut files)?;
                if files.is_empty() {
                    bail!("no *.parquet files under {}", path.display());
                }
                for file in files {
                    let source = source_of(&file.to_string_lossy(), args.source.as_ref())?;
                    objects.push((ObjectLocation::Local(file), source));
                }
            }
            ObjectLocation::Local(_) => {
                objects.push((location, source_of(input, args.source.as_ref())?))
            }
            ObjectLocation::S3 { key, .. } => {
                let source = source_of(key, args.source.as_ref())?;
                objects.push((location, source));
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let total = runtime.block_on(async {
        let needs_s3 = objects
            .iter()
            .any(|(l, _)| matches!(l, ObjectLocation::S3 { .. }));
        let reader = if needs_s3 {
            ObjectReader::with_s3(seclake::s3_client(&aws_config::load_from_env().await))
        } else {
            ObjectReader::local()
        };
        let mut total = PairSet::default();
        for (location, source) in &objects {
            let set = reader
                .extract(location, None, source, &options, &read)
                .await
                .with_context(|| format!("reading {location}"))?;
            total.merge(set);
        }
        anyhow::Ok(total)
    })?;
    let objects = objects.len();

    if let Err(e) = write_pairs(&args.format, objects, &total) {
        // `ipinsights pairs … | head` is normal use.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    print_stats(&total.stats, objects);
    Ok(())
}

fn write_pairs(format: &str, objects: usize, total: &PairSet) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if format == "json" {
        let pairs: Vec<_> = total
            .pairs
            .iter()
            .map(|p| serde_json::json!({"entity": p.entity, "ip": p.ip.to_string(), "count": p.count}))
            .collect();
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({"objects": objects, "pairs": pairs, "stats": total.stats}),
        )?;
        writeln!(out)?;
    } else {
        for p in &total.pairs {
            writeln!(out, "{},{},{}", p.entity, p.ip, p.count)?;
        }
    }
    out.flush()
}

fn print_stats(s: &seclake::ExtractStats, objects: usize) {
    eprintln!(
        "objects {objects}  rows {}  candidates {}  pairs kept {}  unique pairs {}  normalised ipv4 {}  bytes read {}",
        s.rows, s.candidates, s.pairs_kept, s.unique_pairs, s.ipv4_normalized, s.bytes_read
    );
    let dropped: Vec<String> = s
        .dropped
        .iter()
        .map(|(reason, n)| format!("{} {n}", reason.as_str()))
        .collect();
    eprintln!(
        "dropped {}{}",
        s.dropped.total(),
        if dropped.is_empty() {
            String::new()
        } else {
            format!(" ({})", dropped.join(", "))
        }
    );
    for example in &s.dropped_examples {
        eprintln!(
            "  {}: entity={:?} ip={:?}",
            example.reason.as_str(),
            example.entity,
            example.ip
        );
    }
}
