//! `ipinsights trends`: Security Hub findings per day and key, then trends, outlier days and
//! change points (the `trends` crate's detectors) for a security team to look at.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use seclake::findings::{Finding, read_findings};
use seclake::lake::{self, LakeRoot, Window};
use seclake::{EventDay, ObjectLocation, Source, SourceVersion};
use serde::Serialize;

use crate::athena::{Athena, AthenaArgs, Finished};
use trends::series::{format_day, parse_day};
use trends::{
    ChangePoint, CusumConfig, DailySeries, MannKendall, OutlierConfig, OutlierReport, OutlierRule,
};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  ipinsights trends --lake s3://aws-security-data-lake-us-east-1-abc --since 2026-01-01 --until 2026-03-31
  ipinsights trends --lake demo-lake/aws-security-data-lake-us-east-1-sim --since 20260105 \\
      --until 20260220 --key product,severity --format json
  ipinsights trends --athena --database amazon_security_lake_glue_db_us_east_1 \\
      --workgroup primary --athena-results s3://my-athena-results/ --since 2026-01-01 --until 2026-03-31

Series: findings per UTC day of `time`, per key, zero-filled between the first and the last day
the key was seen; series shorter than --min-days are skipped. Findings missing a key field are
left out (as the AWS sample's SQL drops NULL keys) and counted. With --athena the same counts
come from one GROUP BY query (1.0 tables pruned on eventday, 2.0 tables on time_dt, one day
beyond --until for late findings).")]
pub struct Args {
    /// The lake: s3://BUCKET[/prefix] or a directory holding aws/SH_FINDINGS/… ; a directory
    /// without aws/ is searched for .parquet files instead.
    #[arg(long, required_unless_present = "athena", conflicts_with = "athena")]
    lake: Option<String>,
    /// Count findings per day and key with an Athena query over the lake's sh_findings Glue
    /// tables instead of reading the objects here (only the daily counts come back).
    #[arg(long, requires = "database")]
    athena: bool,
    #[command(flatten)]
    athena_args: AthenaArgs,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
    /// First day, YYYYMMDD or YYYY-MM-DD.
    #[arg(long)]
    since: String,
    /// Last day (included), YYYYMMDD or YYYY-MM-DD.
    #[arg(long)]
    until: String,
    /// Series key fields, comma-separated, joined by " | ": product (metadata.product.feature.name),
    /// type (first finding type), severity, account, region.
    #[arg(long, value_delimiter = ',', default_value = "product,type")]
    key: Vec<KeyField>,
    /// Source versions, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1.0,2.0", value_parser = parse_version)]
    versions: Vec<SourceVersion>,
    /// Growing and shrinking series listed.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Outlier rule: fences (Q1 - k*IQR, Q3 + k*IQR, as Kats) or ratio (|residual|/IQR > k, as
    /// the AWS sample).
    #[arg(long, default_value = "fences")]
    outlier_rule: RuleArg,
    /// The IQR multiplier k.
    #[arg(long, default_value_t = 3.0)]
    iqr_mult: f64,
    /// Extrapolate the weekly trend at both ends so the first and last 3 days can be flagged.
    #[arg(long)]
    extrapolate_trend: bool,
    /// Significance level of the CUSUM likelihood-ratio test.
    #[arg(long, default_value_t = 0.01)]
    cusum_threshold: f64,
    /// Significance level of the Mann-Kendall test.
    #[arg(long, default_value_t = 0.05)]
    mk_alpha: f64,
    /// Shortest series analysed, in days.
    #[arg(long, default_value_t = trends::MIN_SERIES_DAYS)]
    min_days: usize,
    /// Output format.
    #[arg(long, default_value = "table")]
    format: Format,
    /// Write one PNG per flagged series here: counts (blue), least-squares trend (grey), weekly
    /// moving average (orange), outlier days (red), change points (black) and the means before
    /// and after (green). The images carry no text, so they need no fonts.
    #[arg(long)]
    plots: Option<PathBuf>,
}

/// A field a series can be keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyField {
    Product,
    Type,
    Severity,
    Account,
    Region,
}

impl KeyField {
    fn field(self) -> seclake::athena::FindingField {
        use seclake::athena::FindingField;
        match self {
            KeyField::Product => FindingField::Product,
            KeyField::Type => FindingField::Type,
            KeyField::Severity => FindingField::Severity,
            KeyField::Account => FindingField::Account,
            KeyField::Region => FindingField::Region,
        }
    }

    fn get(self, f: &Finding) -> Option<&str> {
        match self {
            KeyField::Product => f.product_feature.as_deref(),
            KeyField::Type => f.first_type.as_deref(),
            KeyField::Severity => f.severity.as_deref(),
            KeyField::Account => f.account.as_deref(),
            KeyField::Region => f.region.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RuleArg {
    Fences,
    Ratio,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

fn parse_version(s: &str) -> Result<SourceVersion, String> {
    SourceVersion::parse(s).ok_or_else(|| format!("{s:?}: expected 1.0 or 2.0"))
}

/// Everything found about one series.
#[derive(Serialize)]
struct SeriesReport {
    key: String,
    first_day: String,
    last_day: String,
    days: usize,
    total: f64,
    ols_slope: f64,
    mann_kendall: Option<MannKendall>,
    outliers: OutlierReport,
    outlier_days: Vec<String>,
    change_points: Vec<ChangePointReport>,
    /// The PNG written for this series, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    plot: Option<String>,
    #[serde(skip)]
    values: Vec<f64>,
}

#[derive(Serialize)]
struct ChangePointReport {
    /// The last day at the old level.
    day: String,
    #[serde(flatten)]
    cp: ChangePoint,
}

/// The whole report.
#[derive(Serialize)]
struct Report {
    since: String,
    until: String,
    key: Vec<KeyField>,
    /// Objects read (null with --athena).
    objects: Option<usize>,
    /// Findings read (with --athena: those in the window).
    findings: usize,
    findings_in_window: usize,
    findings_without_key: usize,
    /// The query that counted, with --athena.
    #[serde(skip_serializing_if = "Option::is_none")]
    athena: Option<Finished>,
    series_skipped_short: usize,
    outlier_rule: String,
    cusum: CusumConfig,
    top_growing: Vec<String>,
    top_shrinking: Vec<String>,
    series: Vec<SeriesReport>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let since = parse_day(&args.since)
        .with_context(|| format!("--since {:?}: expected YYYY-MM-DD", args.since))?;
    let until = parse_day(&args.until)
        .with_context(|| format!("--until {:?}: expected YYYY-MM-DD", args.until))?;
    if since > until {
        bail!("--since {} is after --until {}", args.since, args.until);
    }
    if args.key.is_empty() {
        bail!("--key needs at least one field");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let counts = if args.athena {
        match runtime.block_on(count_athena(&args, since, until))? {
            Some(counts) => counts,
            // --print-sql: the query was printed instead.
            None => return Ok(()),
        }
    } else {
        let (objects, findings) = runtime.block_on(load(&args, since, until))?;
        count_findings(&args, since, until, objects, &findings)
    };
    let mut report = analyse(&args, since, until, counts);
    if let Some(dir) = &args.plots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (i, x) in report.series.iter_mut().enumerate() {
            if x.outliers.outliers.is_empty() && x.change_points.is_empty() {
                continue;
            }
            let path = dir.join(format!("{i:03}-{}.png", file_stem(&x.key)));
            plot(&path, x)?;
            x.plot = Some(path.display().to_string());
        }
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln_out(&mut out, "")?;
        }
        Format::Table => writeln_out(&mut out, &table(&report))?,
    }
    Ok(())
}

fn writeln_out(out: &mut impl std::io::Write, s: &str) -> anyhow::Result<()> {
    writeln!(out, "{s}")?;
    Ok(())
}

fn event_day(day: i64) -> anyhow::Result<EventDay> {
    let s = format_day(day);
    EventDay::parse_flexible(&s).map_err(|e| anyhow::anyhow!("{s}: {e}"))
}

/// Reads the findings objects of the window: `(objects read, findings)`.
async fn load(args: &Args, since: i64, until: i64) -> anyhow::Result<(usize, Vec<Finding>)> {
    let root = LakeRoot::parse(
        args.lake
            .as_deref()
            .context("--lake is required without --athena")?,
    )?;
    if let LakeRoot::Local(dir) = &root
        && !dir.join("aws").is_dir()
    {
        // Not a lake layout (e.g. a folder of sample objects): read every parquet file.
        let mut files = Vec::new();
        walk_parquet(dir, &mut files)?;
        let mut findings = Vec::new();
        for f in &files {
            findings.extend(read_local(f)?);
        }
        return Ok((files.len(), findings));
    }
    // Findings land in partitions by event time, but a day's late findings can sit in the next
    // day's partition: list one day beyond the window and filter on `time`.
    let window = Window {
        sources: vec![Source::ShFindings],
        versions: args.versions.clone(),
        since: event_day(since)?,
        until: event_day(until + 1)?,
        regions: None,
        accounts: None,
    };
    let s3 = match root {
        LakeRoot::S3 { .. } => Some(seclake::s3_client(&aws_config::load_from_env().await)),
        LakeRoot::Local(_) => None,
    };
    let objects = lake::list_window(&root, &window, s3.as_ref()).await?;
    let mut findings = Vec::new();
    for obj in &objects {
        let rows = match (&obj.location, &s3) {
            (ObjectLocation::Local(p), _) => read_local(p)?,
            (ObjectLocation::S3 { bucket, key }, Some(client)) => {
                let resp = client
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .with_context(|| format!("reading s3://{bucket}/{key}"))?;
                let bytes = resp
                    .body
                    .collect()
                    .await
                    .with_context(|| format!("reading s3://{bucket}/{key}"))?
                    .into_bytes();
                read_findings(bytes).with_context(|| format!("s3://{bucket}/{key}"))?
            }
            (ObjectLocation::S3 { .. }, None) => bail!("an S3 object in a local lake"),
        };
        findings.extend(rows);
    }
    Ok((objects.len(), findings))
}

fn read_local(path: &Path) -> anyhow::Result<Vec<Finding>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    read_findings(file).with_context(|| format!("{}", path.display()))
}

fn walk_parquet(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk_parquet(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "parquet") {
            out.push(p);
        }
    }
    Ok(())
}

/// Findings counted per key and time, before the series are built.
struct Counts {
    /// `(key, time in ms, findings)`.
    events: Vec<(String, i64, f64)>,
    objects: Option<usize>,
    findings: usize,
    in_window: usize,
    without_key: usize,
    athena: Option<Finished>,
}

fn count_findings(
    args: &Args,
    since: i64,
    until: i64,
    objects: usize,
    findings: &[Finding],
) -> Counts {
    let (start_ms, end_ms) = (since * 86_400_000, (until + 1) * 86_400_000);
    let mut in_window = 0;
    let mut without_key = 0;
    let mut events = Vec::new();
    for f in findings {
        if f.time_ms < start_ms || f.time_ms >= end_ms {
            continue;
        }
        in_window += 1;
        let parts: Option<Vec<&str>> = args.key.iter().map(|k| k.get(f)).collect();
        match parts {
            Some(parts) => events.push((parts.join(" | "), f.time_ms, 1.0)),
            None => without_key += 1,
        }
    }
    Counts {
        events,
        objects: Some(objects),
        findings: findings.len(),
        in_window,
        without_key,
        athena: None,
    }
}

/// The same counts from Athena: one GROUP BY over the sh_findings tables.
async fn count_athena(args: &Args, since: i64, until: i64) -> anyhow::Result<Option<Counts>> {
    let (config, tables) = args
        .athena_args
        .resolve(&[Source::ShFindings], &args.versions)
        .await?;
    let database = tables.database.clone();
    let select = seclake::athena::FindingsQuery {
        tables,
        versions: args.versions.clone(),
        filter: seclake::athena::Filter {
            since: event_day(since)?,
            until: event_day(until)?,
            regions: None,
            accounts: None,
        },
        key: args.key.iter().map(|k| k.field()).collect(),
    }
    .select()?;
    let Some(config) = config else {
        println!("{select};");
        return Ok(None);
    };
    let athena = Athena::new(&config, &database, &args.athena_args, None, args.quiet)?;
    let finished = athena.run(&select, "findings per day").await?;
    let rows = athena
        .rows(&finished.query_execution_id, &["key", "day", "findings"])
        .await?;
    let (mut events, mut in_window, mut without_key) = (Vec::new(), 0usize, 0usize);
    for row in rows {
        let day: i64 = row[1]
            .as_deref()
            .and_then(|d| d.parse().ok())
            .with_context(|| format!("Athena returned day {:?}, expected a day number", row[1]))?;
        let n: usize = row[2]
            .as_deref()
            .and_then(|d| d.parse().ok())
            .with_context(|| format!("Athena returned count {:?}", row[2]))?;
        in_window += n;
        match &row[0] {
            Some(key) => events.push((key.clone(), day * 86_400_000, n as f64)),
            None => without_key += n,
        }
    }
    Ok(Some(Counts {
        events,
        objects: None,
        findings: in_window,
        in_window,
        without_key,
        athena: Some(finished),
    }))
}

fn analyse(args: &Args, since: i64, until: i64, counts: Counts) -> Report {
    let Counts {
        events,
        objects,
        findings,
        in_window,
        without_key,
        athena,
    } = counts;
    let all = trends::group_daily(events, 1);
    let skipped = all.iter().filter(|s| s.len() < args.min_days).count();
    let series: Vec<DailySeries> = all
        .into_iter()
        .filter(|s| s.len() >= args.min_days)
        .collect();
    let ocfg = OutlierConfig {
        rule: match args.outlier_rule {
            RuleArg::Fences => OutlierRule::IqrFences,
            RuleArg::Ratio => OutlierRule::IqrRatio,
        },
        mult: args.iqr_mult,
        extrapolate_trend: args.extrapolate_trend,
        ..OutlierConfig::default()
    };
    let ccfg = CusumConfig {
        threshold: args.cusum_threshold,
        ..CusumConfig::default()
    };
    let reports: Vec<SeriesReport> = series
        .iter()
        .map(|s| {
            let outliers = trends::detect_outliers(&s.values, &ocfg);
            let outlier_days = outliers.outliers.iter().map(|o| s.date(o.index)).collect();
            SeriesReport {
                key: s.key.clone(),
                first_day: s.date(0),
                last_day: s.date(s.len() - 1),
                days: s.len(),
                total: s.values.iter().sum(),
                ols_slope: trends::ols_slope(&s.values).unwrap_or(0.0),
                mann_kendall: trends::mann_kendall(&s.values, args.mk_alpha),
                outliers,
                outlier_days,
                change_points: trends::detect_change_points(&s.values, &ccfg)
                    .into_iter()
                    .map(|cp| ChangePointReport {
                        day: s.date(cp.index),
                        cp,
                    })
                    .collect(),
                plot: None,
                values: s.values.clone(),
            }
        })
        .collect();
    let mut by_slope: Vec<&SeriesReport> = reports.iter().collect();
    by_slope.sort_by(|a, b| b.ols_slope.total_cmp(&a.ols_slope));
    let top_growing = by_slope
        .iter()
        .filter(|r| r.ols_slope > 0.0)
        .take(args.top)
        .map(|r| r.key.clone())
        .collect();
    let top_shrinking = by_slope
        .iter()
        .rev()
        .filter(|r| r.ols_slope < 0.0)
        .take(args.top)
        .map(|r| r.key.clone())
        .collect();
    Report {
        since: format_day(since),
        until: format_day(until),
        key: args.key.clone(),
        objects,
        findings,
        findings_in_window: in_window,
        findings_without_key: without_key,
        athena,
        series_skipped_short: skipped,
        outlier_rule: ocfg.rule.describe(ocfg.mult, ocfg.extrapolate_trend),
        cusum: ccfg,
        top_growing,
        top_shrinking,
        series: reports,
    }
}

fn table(r: &Report) -> String {
    let mut s = String::new();
    let by_key: BTreeMap<&str, &SeriesReport> =
        r.series.iter().map(|x| (x.key.as_str(), x)).collect();
    let _ = writeln!(
        s,
        "Security Hub findings {} to {}: {}, {} findings in the window ({} without a key), {} series ({} shorter than the minimum skipped)",
        r.since,
        r.until,
        match &r.athena {
            Some(a) => format!("Athena query {}", a.query_execution_id),
            None => format!("{} objects", r.objects.unwrap_or(0)),
        },
        r.findings_in_window,
        r.findings_without_key,
        r.series.len(),
        r.series_skipped_short
    );
    for (title, keys) in [
        (
            "Growing (least-squares slope, findings/day per day)",
            &r.top_growing,
        ),
        ("Shrinking", &r.top_shrinking),
    ] {
        let _ = writeln!(s, "\n{title}:");
        if keys.is_empty() {
            let _ = writeln!(s, "  none");
        }
        for k in keys {
            let Some(x) = by_key.get(k.as_str()) else {
                continue;
            };
            let mk = x
                .mann_kendall
                .as_ref()
                .map(|m| {
                    format!(
                        "Mann-Kendall tau {:+.2} p {:.3} ({}), Sen {:+.3}",
                        m.tau,
                        m.p,
                        serde_json::to_value(m.trend)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        m.sen_slope
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  {:+9.3}  {k}  [{} days from {}, {} findings; {mk}]",
                x.ols_slope, x.days, x.first_day, x.total
            );
        }
    }
    let _ = writeln!(s, "\nOutlier days ({}):", r.outlier_rule);
    let mut any = false;
    for x in &r.series {
        for (o, day) in x.outliers.outliers.iter().zip(&x.outlier_days) {
            any = true;
            let _ = writeln!(
                s,
                "  {day}  {}  count {} residual {:+.2} score {:.2} (Q1 {:.2}, Q3 {:.2}{})",
                x.key,
                o.value,
                o.residual,
                o.score,
                x.outliers.q1,
                x.outliers.q3,
                if x.outliers.seasonal_removed {
                    ", weekly pattern removed"
                } else {
                    ""
                }
            );
        }
    }
    if !any {
        let _ = writeln!(s, "  none");
    }
    let _ = writeln!(
        s,
        "\nChange points (CUSUM, likelihood-ratio test at {}; day = last day at the old level):",
        r.cusum.threshold
    );
    let mut any = false;
    for x in &r.series {
        for c in &x.change_points {
            any = true;
            let _ = writeln!(
                s,
                "  {}  {}  {:?}: mean {:.2} -> {:.2} (confidence {:.4}, llr {:.2}{})",
                c.day,
                x.key,
                c.cp.direction,
                c.cp.mu0,
                c.cp.mu1,
                c.cp.confidence,
                c.cp.llr,
                if c.cp.stable { "" } else { ", unstable" }
            );
        }
    }
    if !any {
        let _ = writeln!(s, "  none");
    }
    s
}

/// A file name from a series key: letters, digits, '-' and '_' kept, the rest '_'.
fn file_stem(key: &str) -> String {
    let s: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    s
}

fn plot(path: &Path, x: &SeriesReport) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let y = &x.values;
    let n = y.len();
    let top = y.iter().copied().fold(1.0, f64::max) * 1.1;
    let slope = x.ols_slope;
    let mean = y.iter().sum::<f64>() / n as f64;
    let mid = (n as f64 - 1.0) / 2.0;
    let draw =
        || -> Result<(), Box<dyn std::error::Error>> {
            let root = BitMapBackend::new(path, (1000, 400)).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .margin(15)
                .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..top)?;
            // Only PathElement: plotters' line_series feature is not enabled in this workspace.
            let line = |points: Vec<(f64, f64)>, style: ShapeStyle| {
                std::iter::once(PathElement::new(points, style))
            };
            chart.draw_series(line(
                y.iter().enumerate().map(|(t, v)| (t as f64, *v)).collect(),
                RGBColor(31, 119, 180).stroke_width(2),
            ))?;
            chart.draw_series(line(
                vec![
                    (0.0, mean - slope * mid),
                    (n as f64 - 1.0, mean + slope * mid),
                ],
                RGBColor(127, 127, 127).stroke_width(1),
            ))?;
            chart.draw_series(line(
                x.outliers
                    .trend
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| !v.is_nan())
                    .map(|(t, v)| (t as f64, *v))
                    .collect(),
                RGBColor(255, 127, 14).stroke_width(1),
            ))?;
            for c in &x.change_points {
                let at = c.cp.index as f64 + 0.5;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(at, 0.0), (at, top)],
                    BLACK.stroke_width(2),
                )))?;
                let green = RGBColor(44, 160, 44).stroke_width(2);
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(-0.5, c.cp.mu0), (at, c.cp.mu0)],
                    green,
                )))?;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(at, c.cp.mu1), (n as f64 - 0.5, c.cp.mu1)],
                    green,
                )))?;
            }
            chart.draw_series(x.outliers.outliers.iter().map(|o| {
                Circle::new((o.index as f64, o.value), 6, RGBColor(214, 39, 40).filled())
            }))?;
            root.present()?;
            Ok(())
        };
    draw().map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))
}
