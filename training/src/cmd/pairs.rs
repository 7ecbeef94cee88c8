//! `ipinsights pairs`: what the scorer sees in an object.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use seclake::{
    ExtractOptions, LakeKey, ObjectLocation, PairSet, Pairing, ReadOptions, S3Reader, Source,
    extract_local,
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
    /// Which endpoint fields make a pair: src (instance_uid with its own ip on the source
    /// side), endpoint (each endpoint's instance with its own ip) or peer (an instance with the
    /// address at the other end).
    #[arg(long, default_value = "src")]
    pairing: Pairing,
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
        max_dropped_examples: args.dropped,
        ..Default::default()
    };
    let mut read = ReadOptions::default();
    if let Some(threads) = args.threads {
        read.threads = threads;
    }
    let mut total = PairSet::default();
    let mut objects = 0usize;
    let mut runtime = None;
    let mut s3 = None;
    for input in &args.inputs {
        let set = match input
            .parse::<ObjectLocation>()
            .map_err(anyhow::Error::msg)?
        {
            ObjectLocation::Local(path) if path.is_dir() => {
                let mut files = Vec::new();
                parquet_files(&path, &mut files)?;
                if files.is_empty() {
                    bail!("no *.parquet files under {}", path.display());
                }
                let mut dir_total = PairSet::default();
                for file in files {
                    let name = file.to_string_lossy().to_string();
                    let source = source_of(&name, args.source.as_ref())?;
                    let set = extract_local(&file, &source, &options, &read)
                        .with_context(|| format!("reading {name}"))?;
                    objects += 1;
                    dir_total.merge(set);
                }
                dir_total
            }
            ObjectLocation::Local(path) => {
                let source = source_of(input, args.source.as_ref())?;
                objects += 1;
                extract_local(&path, &source, &options, &read)
                    .with_context(|| format!("reading {input}"))?
            }
            ObjectLocation::S3 { bucket, key } => {
                let source = source_of(&key, args.source.as_ref())?;
                let rt = match runtime.take() {
                    Some(rt) => rt,
                    None => tokio::runtime::Runtime::new()?,
                };
                let reader = match s3.take() {
                    Some(r) => r,
                    None => {
                        let sdk = rt.block_on(aws_config::load_from_env());
                        S3Reader::new(seclake::s3_client(&sdk))
                    }
                };
                let set = rt
                    .block_on(reader.extract(&bucket, &key, None, &source, &options, &read))
                    .with_context(|| format!("reading {input}"))?;
                runtime = Some(rt);
                s3 = Some(reader);
                objects += 1;
                set
            }
        };
        total.merge(set);
    }

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
