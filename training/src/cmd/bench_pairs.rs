//! `ipinsights bench-pairs`: in-process timing of pair extraction, for `bench/pairs.py`.

use std::path::PathBuf;
use std::time::Instant;

use seclake::{ExtractOptions, Pairing, ReadOptions, Source, extract_local};

#[derive(clap::Args)]
#[command(after_help = "Example:
  ipinsights bench-pairs vpc_flow_1m.zstd.parquet --runs 11 --threads 2")]
pub struct Args {
    /// A parquet object on disk.
    file: PathBuf,
    /// Timed runs (after one warm-up run).
    #[arg(long, default_value_t = 11)]
    runs: usize,
    /// Row groups decoded at once (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, default_value = "initiator")]
    pairing: Pairing,
    #[arg(long, default_value = "subnet")]
    group_by: seclake::GroupBy,
    #[arg(long, default_value = "VPC_FLOW")]
    source: Source,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let options = ExtractOptions {
        pairing: args.pairing,
        group_by: args.group_by,
        ..Default::default()
    };
    let mut read = ReadOptions::default();
    if let Some(t) = args.threads {
        read.threads = t;
    }
    let warm = extract_local(&args.file, &args.source, &options, &read)?;
    let mut times = Vec::with_capacity(args.runs);
    for _ in 0..args.runs.max(1) {
        let start = Instant::now();
        let set = extract_local(&args.file, &args.source, &options, &read)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(set.pairs.len() == warm.pairs.len(), "runs disagree");
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{}",
        serde_json::json!({
            "rows": warm.stats.rows,
            "unique_pairs": warm.stats.unique_pairs,
            "threads": read.threads,
            "runs": times.len(),
            "median_ms": median,
            "min_ms": times[0],
            "rows_per_s": warm.stats.rows as f64 / (median / 1e3),
        })
    );
    Ok(())
}
