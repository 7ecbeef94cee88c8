//! `ipinsights demo`: the main job end to end on a simulated estate, with no AWS account.
//!
//! It is `ipinsights evaluate` with a terminal report: a realistic estate is simulated, then
//! prepare, fit and calibrate run as the commands a user types, and the attack days' objects go
//! through the Lambda's own handler (`ipcheck::handle_batch`) from the SQS events that announce
//! them. The terminal shows the evaluation table and the alerts; the JSON records go to
//! `<out>/records.jsonl`. The ground truth is only read for the report.

use std::collections::BTreeMap;

use anyhow::bail;

use crate::cmd::evaluate::{self, LogSink};

#[derive(clap::Args)]
#[command(
    after_help = "The demo calibrates for an alert budget of 5 per day on the held-out day
beside --max-fpr (the lower threshold wins, and the fan-out rule keeps scans), unless
--alert-budget says otherwise.

Examples:
  ipinsights demo
  ipinsights demo --out /tmp/demo --seed 7 --alert-budget 10"
)]
#[group(skip)]
pub struct Args {
    #[command(flatten)]
    run: evaluate::Args,
    /// Alerts listed in the terminal (lowest scores first).
    #[arg(long, default_value_t = 15)]
    show: usize,
}

/// Alerts per day the demo calibrates for when --alert-budget is not given.
const DEFAULT_ALERT_BUDGET: f64 = 5.0;

pub fn run(mut args: Args) -> anyhow::Result<()> {
    if args.run.days < 3 {
        bail!("--days must be at least 3: training days, a held-out day and attack days");
    }
    if args.run.out == std::path::Path::new("eval-out") {
        args.run.out = "demo-out".into();
    }
    // What the README recommends: a budget an analyst can read, and the fan-out rule for the
    // scans it would miss (the evaluation table shows why).
    if args.run.alert_budget.is_none() {
        args.run.alert_budget = Some(DEFAULT_ALERT_BUDGET);
    }
    let sink = LogSink::default();
    ipcheck::logging::init(true, {
        let sink = sink.clone();
        move || sink.clone()
    });
    let o = evaluate::pipeline(&args.run, &sink)?;
    let of = |kind: &'static str| o.records.iter().filter(move |r| r["record"] == kind);
    let sum = |field: &str| {
        of("object_scored")
            .map(|r| r[field].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    // One alert per (day, instance, address), lowest score first.
    let mut alerts: BTreeMap<(String, String, String), &serde_json::Value> = BTreeMap::new();
    for r in of("anomaly") {
        let key = r["key"].as_str().unwrap_or_default();
        let day = key
            .split('/')
            .find_map(|p| p.strip_prefix("eventDay="))
            .unwrap_or_default();
        let unit = (
            day.to_string(),
            r["entity"].as_str().unwrap_or_default().to_string(),
            r["ip"].as_str().unwrap_or_default().to_string(),
        );
        let score = |v: &serde_json::Value| v["dot_product"].as_f64().unwrap_or(f64::INFINITY);
        let keep = alerts.get(&unit).is_none_or(|old| score(r) < score(old));
        if keep {
            alerts.insert(unit, r);
        }
    }
    let mut listed: Vec<_> = alerts.into_iter().collect();
    listed.sort_by(|a, b| {
        let s = |v: &serde_json::Value| v["dot_product"].as_f64().unwrap_or(f64::INFINITY);
        s(a.1).total_cmp(&s(b.1))
    });

    eprintln!();
    eprintln!("== summary");
    eprintln!(
        "  training            days {}..{} ({} train + {} held-out pairs, {} entities: instances and their groups)",
        o.train_days.0,
        o.train_days.1,
        o.prepared["train"]["stats"]["pairs"],
        o.prepared["validation"]["stats"]["pairs"],
        o.prepared["distinct_entities"]
    );
    eprintln!(
        "  threshold           {:.4} (the lower of: at most {:.1}% of held-out normal pairs below it, at most {} alerts per day on the held-out day)",
        o.threshold,
        args.run.max_fpr * 100.0,
        args.run.alert_budget.unwrap_or(DEFAULT_ALERT_BUDGET)
    );
    if let (Some(t), Some(n)) = (o.report.fanout_threshold, o.report.fanout_min_addresses) {
        eprintln!(
            "  fan-out             {n} or more addresses below {t:.4} from one instance in one object are alerts too"
        );
    }
    eprintln!(
        "  scored              {} objects of {}, {} rows, {} distinct pairs ({} as their group, {} unseen)",
        o.metrics.objects_scored,
        o.scored_days.join(", "),
        sum("rows"),
        o.metrics.pairs_scored,
        o.metrics.group_scored_pairs,
        o.metrics.unseen_pairs
    );
    eprintln!(
        "  findings            {} anomaly records, {} alerts (day, instance, address), {} rejected, {} messages to retry",
        o.metrics.anomalies,
        listed.len(),
        o.metrics.rejected,
        o.retries
    );
    for (name, seconds) in &o.stages {
        eprintln!("  time {name:<14} {seconds:>7.2} s");
    }
    eprintln!("  records             {}", o.records_path.display());
    eprintln!();
    eprintln!("== evaluation against the ground truth");
    eprint!("{}", o.report.render());
    eprintln!();
    eprintln!(
        "== alerts (lowest scores first; {} of {})",
        args.show.min(listed.len()),
        listed.len()
    );
    eprintln!(
        "  {:<9} {:<21} {:<16} {:>9}  {:<12} scored as",
        "day", "instance", "address", "score", "rule"
    );
    for ((day, entity, ip), r) in listed.iter().take(args.show) {
        let rule = match r["fanout_addresses"].as_u64() {
            Some(n) if n > 0 => format!("fan-out {n}"),
            _ => "threshold".to_string(),
        };
        eprintln!(
            "  {:<9} {:<21} {:<16} {:>9.3}  {:<12} {} {}",
            day,
            entity,
            ip,
            r["dot_product"].as_f64().unwrap_or(f64::NAN),
            rule,
            r["entity_scope"].as_str().unwrap_or(""),
            r["scored_as"].as_str().unwrap_or(""),
        );
    }
    Ok(())
}
