//! `ipinsights simulate`: a local Security Lake to develop and test against.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use seclake::Source;
use seclake::simulate::{self, Codec, EstateProfile, SimConfig, VersionPlan};

#[derive(clap::Args)]
#[command(after_help = "Layout written under --out:
  <bucket>/aws/{VPC_FLOW,ROUTE53}/{1.0,2.0}/region=<r>/accountId=<a>/eventDay=<YYYYMMDD>/<32 hex>.gz.parquet
  events/<n>.s3.json, events/<n>.eventbridge.json   SQS messages announcing object n (Lambda SqsEvent)
  manifest.json                                     every object: key, source, version, rows, bytes, etag
  ground-truth.json                                 injected anomalies / attacks (last third of the days only)
  groups.csv                                        (realistic) instance_id,group: every instance's Auto Scaling group

Estates (--estate): realistic (the default) has web, app, database, batch and bastion tiers per
account with habits, both-side flow records of real connections (TCP flags, ephemeral ports),
AWS and SaaS addresses rotating daily inside their ranges, daily autoscaling churn of the web and
batch tiers, and six attack kinds as connections (ground-truth.json `attacks`, `launched`);
defaults 10 days, 3 accounts, 90 instances, 20000 rows per object, 12 attacks. basic draws each
row on its own from random peers and services, with anomalies as single rows (`anomalies`);
defaults 7 days, 2 accounts, 40 instances, 5000 rows per object, 20 anomalies.

Source versions (--versions by-account): account k writes 1.0 if k%3==0, 2.0 if k%3==1, and
switches from 1.0 to 2.0 halfway through the days if k%3==2. ROUTE53 objects have a quarter of
--rows-per-object rows.

Examples:
  ipinsights simulate --out lake
  ipinsights simulate --out lake --days 14 --accounts 3 --instances 200 --anomalies 24 --seed 42
  ipinsights simulate --out lake --estate basic --days 14 --anomalies 50
  ipinsights simulate --out bench --estate basic --days 1 --accounts 1 --instances 2000 \\
      --sources VPC_FLOW --rows-per-object 1000000 --compression zstd --anomalies 0
  ipinsights pairs lake --format json")]
pub struct Args {
    /// Output directory (created if needed; files of the same name are overwritten).
    #[arg(long)]
    out: PathBuf,
    /// Seed of every random choice: the same seed and flags write byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Estate profile: realistic (tiers, habits, churn, attacks as connections) or basic.
    #[arg(long, default_value = "realistic")]
    estate: EstateProfile,
    /// Number of consecutive days (eventDay partitions) [default: 10 realistic, 7 basic].
    #[arg(long)]
    days: Option<u32>,
    /// First day, YYYYMMDD.
    #[arg(long, default_value = "20260105")]
    start_day: String,
    /// Member accounts [default: 3 realistic, 2 basic].
    #[arg(long)]
    accounts: Option<usize>,
    /// EC2 instances in the whole estate, spread over the accounts (realistic: the first day's
    /// fleet, at least 5 per account and region; churn adds more) [default: 90 realistic, 40 basic].
    #[arg(long)]
    instances: Option<usize>,
    /// Rows per VPC_FLOW object, ROUTE53 objects get a quarter (realistic: connections are not
    /// cut, so an object may have a few more) [default: 20000 realistic, 5000 basic].
    #[arg(long)]
    rows_per_object: Option<usize>,
    /// Objects per source, version, account, region and day.
    #[arg(long, default_value_t = 1)]
    objects_per_day: usize,
    /// Rows per parquet row group.
    #[arg(long, default_value_t = simulate::DEFAULT_ROW_GROUP_ROWS)]
    row_group_rows: usize,
    /// Injected anomalies (basic) or attacks, round-robin over the six kinds (realistic), on
    /// the last third of the days only [default: 12 realistic, 20 basic].
    #[arg(long)]
    anomalies: Option<usize>,
    /// Column compression: gzip (what Security Lake writes), zstd, snappy or none.
    #[arg(long, default_value = "gzip")]
    compression: Codec,
    /// Regions, comma-separated; each gets its own bucket.
    #[arg(long, value_delimiter = ',', default_value = "us-east-1")]
    regions: Vec<String>,
    /// Sources, comma-separated: VPC_FLOW, ROUTE53.
    #[arg(long, value_delimiter = ',', default_value = "VPC_FLOW,ROUTE53")]
    sources: Vec<Source>,
    /// Source versions: by-account, both, 1.0 or 2.0.
    #[arg(long, default_value = "by-account")]
    versions: VersionPlan,
    /// Print one line per object on stderr.
    #[arg(long, short)]
    verbose: bool,
    /// Also write Security Hub findings (SH_FINDINGS 1.0 and 2.0) over this many days from
    /// --start-day (at least 28; 0: none) into the first region's bucket, with planted trends,
    /// an outlier day and level shifts recorded in sh-findings-ground-truth.json.
    #[arg(long, default_value_t = 0)]
    sh_findings_days: u32,
}

/// 1234567 -> "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let defaults = match args.estate {
        EstateProfile::Basic => SimConfig::default(),
        EstateProfile::Realistic => SimConfig::realistic(),
    };
    let cfg = SimConfig {
        seed: args.seed,
        start_day: args.start_day,
        days: args.days.unwrap_or(defaults.days),
        accounts: args.accounts.unwrap_or(defaults.accounts),
        instances: args.instances.unwrap_or(defaults.instances),
        regions: args.regions,
        sources: args.sources,
        versions: args.versions,
        rows_per_object: args.rows_per_object.unwrap_or(defaults.rows_per_object),
        objects_per_day: args.objects_per_day,
        row_group_rows: args.row_group_rows,
        anomalies: args.anomalies.unwrap_or(defaults.anomalies),
        compression: args.compression,
        estate: args.estate,
    };
    let started = Instant::now();
    let mut per_version: BTreeMap<(String, String), (usize, u64)> = BTreeMap::new();
    let verbose = args.verbose;
    let summary = simulate::simulate_with_progress(&cfg, &args.out, |o| {
        let e = per_version
            .entry((o.source.clone(), o.source_version.clone()))
            .or_default();
        e.0 += 1;
        e.1 += o.rows;
        if verbose {
            eprintln!(
                "{:>6} {} {} rows {} bytes{}",
                o.ordinal,
                o.path,
                o.rows,
                o.bytes,
                if o.anomaly_rows > 0 {
                    format!(" ({} anomaly rows)", o.anomaly_rows)
                } else {
                    String::new()
                }
            );
        }
    })
    .with_context(|| format!("simulating a lake under {}", args.out.display()))?;
    let secs = started.elapsed().as_secs_f64();
    if args.sh_findings_days > 0 {
        write_sh_findings(&args.out, &cfg, &summary, args.sh_findings_days)?;
    }

    let truth: simulate::GroundTruth = serde_json::from_str(
        &std::fs::read_to_string(&summary.ground_truth)
            .with_context(|| format!("reading back {}", summary.ground_truth.display()))?,
    )?;
    match print_summary(&args.out, &summary, &truth, &per_version, secs) {
        // `| head` closing the pipe is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn print_summary(
    out_dir: &std::path::Path,
    summary: &simulate::SimSummary,
    truth: &simulate::GroundTruth,
    per_version: &BTreeMap<(String, String), (usize, u64)>,
    secs: f64,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote {} objects, {} rows, {:.1} MiB in {:.2} s ({} rows/s) under {}",
        summary.objects,
        thousands(summary.rows),
        summary.bytes as f64 / (1024.0 * 1024.0),
        secs,
        thousands((summary.rows as f64 / secs.max(1e-9)) as u64),
        out_dir.display()
    )?;
    for ((source, version), (objects, rows)) in per_version {
        writeln!(
            out,
            "  {source:<8} {version}: {objects} objects, {} rows",
            thousands(*rows)
        )?;
    }
    for bucket in &summary.buckets {
        writeln!(out, "  bucket:       {}", out_dir.join(bucket).display())?;
    }
    let days = match (truth.anomaly_days.first(), truth.anomaly_days.last()) {
        (Some(a), Some(b)) if a != b => format!("{a}..{b}"),
        (Some(a), _) => a.clone(),
        _ => "-".to_string(),
    };
    if truth.attacks.is_empty() && truth.launched.is_empty() {
        writeln!(
            out,
            "  anomalies:    {} on {days} -> {}",
            summary.anomalies,
            summary.ground_truth.display()
        )?;
    } else {
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for a in &truth.attacks {
            *kinds
                .entry(
                    serde_json::to_value(a.kind)?
                        .as_str()
                        .unwrap_or("?")
                        .to_string(),
                )
                .or_default() += 1;
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(
            out,
            "  attacks:      {} on {days} ({}) -> {}",
            truth.attacks.len(),
            if kinds.is_empty() {
                "none".to_string()
            } else {
                kinds.join(", ")
            },
            summary.ground_truth.display()
        )?;
        let launched: usize = truth.launched.values().map(Vec::len).sum();
        writeln!(
            out,
            "  instances:    {launched} launched after the first day; groups: {}",
            out_dir.join("groups.csv").display()
        )?;
    }
    writeln!(out, "  manifest:     {}", summary.manifest.display())?;
    writeln!(
        out,
        "  SQS events:   {}/<n>.{{s3,eventbridge}}.json",
        summary.events_dir.display()
    )?;
    Ok(())
}

/// Security Hub findings with known series next to the simulated lake (`ipinsights trends`).
fn write_sh_findings(
    out: &std::path::Path,
    cfg: &SimConfig,
    summary: &simulate::SimSummary,
    days: u32,
) -> anyhow::Result<()> {
    let manifest: simulate::Manifest = serde_json::from_str(
        &std::fs::read_to_string(&summary.manifest)
            .with_context(|| format!("reading back {}", summary.manifest.display()))?,
    )?;
    let Some((region, bucket)) = manifest.buckets.first() else {
        anyhow::bail!("the simulated lake has no bucket to put Security Hub findings in");
    };
    let account = manifest
        .objects
        .first()
        .map(|o| o.account.clone())
        .unwrap_or_else(|| manifest.lake_account.clone());
    let first_day = trends::series::parse_day(&cfg.start_day)
        .with_context(|| format!("--start-day {:?}", cfg.start_day))?;
    let truth = simulate::findings::simulate_findings(
        &simulate::findings::FindingsSimConfig {
            seed: cfg.seed,
            first_day,
            days,
            account,
            region: region.clone(),
        },
        &out.join(bucket),
    )?;
    let path = out.join("sh-findings-ground-truth.json");
    std::fs::write(&path, serde_json::to_string_pretty(&truth)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "Security Hub findings: {} series over {days} days in {}, planted: {}",
        truth.series.len(),
        out.join(bucket).display(),
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
