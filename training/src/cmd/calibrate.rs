//! `ipinsights calibrate`: the `ANOMALY_THRESHOLD` for a wanted false-positive rate.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use findings::labels::{Label, Verdict};
use ipinsights::alert::fanout_min_addresses;
use ipinsights::auc::roc_auc;
use ipinsights::{Model, eval};

use super::fit::read_pairs;
use super::score::score_endpoint;

#[derive(clap::Args)]
#[command(
    after_help = "Scores held-out normal pairs and generated attacks (an entity of the held-out
data with a random IPv4 address; an entity with another entity's address), then prints the ROC
AUC, the threshold below which at most --max-fpr of the normal pairs fall, and the share of
attacks caught there. The last line, ANOMALY_THRESHOLD=<value>, is the ipcheck Lambda's setting.

The plot (PNG, no text: the legend is printed): blue bars are normal pairs, red random-address
attacks, orange shuffled attacks, each normalised to its own count; the black line is the
threshold; the x axis runs from the lowest to the highest score printed.

Examples:
  ipinsights calibrate --model model.ipim --normal data/validation.csv --plot scores.png
  ipinsights calibrate --endpoint ip-insights-prod --normal s3://my-bucket/data/validation.csv \\
      --max-fpr 0.001 --attacks 100000"
)]
pub struct Args {
    /// Model file written by `ipinsights fit`.
    #[arg(
        long,
        required_unless_present = "endpoint",
        conflicts_with = "endpoint"
    )]
    model: Option<PathBuf>,
    /// SageMaker endpoint name (honours AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME).
    #[arg(long)]
    endpoint: Option<String>,
    /// Held-out normal pairs: headerless `entity,ip` CSV (a file or s3:// URI), e.g. the
    /// validation.csv of `ipinsights prepare`.
    #[arg(long)]
    normal: String,
    /// Random-address attacks to generate (default: as many as normal pairs).
    #[arg(long)]
    attacks: Option<usize>,
    /// Largest share of normal pairs that may fall below the threshold (0 < f < 1).
    #[arg(long, default_value_t = 0.01)]
    max_fpr: f64,
    /// Alerts per day the threshold may give on normal traffic: with it, the threshold is the
    /// lower of the two (both limits hold) and both are printed.
    #[arg(long)]
    alert_budget: Option<f64>,
    /// With --alert-budget: print no fan-out rule. By default, when the budget's threshold is
    /// below the false-positive rate's, the fan-out rule is printed too: a pair below the
    /// latter is an alert when its instance reaches more such addresses than any instance of
    /// the --normal pairs did (at least --fanout-floor).
    #[arg(long)]
    no_fanout: bool,
    /// The smallest fan-out size to alert at.
    #[arg(long, default_value_t = 10)]
    fanout_floor: usize,
    /// Days the --normal pairs cover (prepare's --validation-days), to turn the budget into
    /// a count.
    #[arg(long, default_value_t = 1)]
    normal_days: u32,
    /// Draw both score distributions with the threshold to this PNG.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Seed of the attack generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The analysts' labels (`ipinsights feedback`; a path or s3://…): false positives count
    /// as normal pairs in the threshold choice, true positives as confirmed attacks; the
    /// threshold, false-positive rate and recall are printed before and after.
    #[arg(long)]
    labels: Option<String>,
}

/// One threshold choice: by false-positive rate, by alert budget when given, and the lower.
#[derive(Debug, Clone, Copy)]
struct Choice {
    fpr_threshold: f64,
    budget: Option<(f64, f64)>,
    threshold: f64,
}

fn choose(normal: &[f64], args: &Args) -> anyhow::Result<Choice> {
    let (fpr_threshold, _) =
        threshold_at_fpr(normal, args.max_fpr).context("the scores include NaN")?;
    let budget = args.alert_budget.map(|b| {
        let alerts = (b * f64::from(args.normal_days)).floor() as usize;
        (
            b,
            threshold_at_budget(normal, alerts).unwrap_or(fpr_threshold),
        )
    });
    let threshold = match budget {
        Some((_, t)) => t.min(fpr_threshold),
        None => fpr_threshold,
    };
    Ok(Choice {
        fpr_threshold,
        budget,
        threshold,
    })
}

/// The pair each label is scored as: its entity when the model knows it, else its group (as
/// the Lambda scores a new instance), else `None`. Without a model (an endpoint), the entity.
fn label_pair(label: &Label, model: Option<&Model>) -> Option<(String, Ipv4Addr)> {
    let Some(model) = model else {
        return Some((label.entity.clone(), label.address));
    };
    if model.is_seen(&label.entity) {
        return Some((label.entity.clone(), label.address));
    }
    label
        .group
        .as_ref()
        .filter(|g| model.is_seen(g))
        .map(|g| (g.clone(), label.address))
}

/// The threshold and what it does on normal pairs: the lowest score such that at most
/// `max_fpr` of `normal` is strictly below it (pairs below the threshold are anomalies).
pub fn threshold_at_fpr(normal: &[f64], max_fpr: f64) -> Option<(f64, f64)> {
    if normal.is_empty() || normal.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut sorted = normal.to_vec();
    sorted.sort_by(f64::total_cmp);
    let k = ((max_fpr * sorted.len() as f64).floor() as usize).min(sorted.len() - 1);
    let threshold = sorted[k];
    Some((threshold, below(&sorted, threshold)))
}

/// The threshold for an alert budget: the lowest score such that at most `alerts` of `normal`
/// are strictly below it.
pub fn threshold_at_budget(normal: &[f64], alerts: usize) -> Option<f64> {
    if normal.is_empty() || normal.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut sorted = normal.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(sorted[alerts.min(sorted.len() - 1)])
}

/// The share of `scores` strictly below `threshold`.
fn below(scores: &[f64], threshold: f64) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.iter().filter(|s| **s < threshold).count() as f64 / scores.len() as f64
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !(args.max_fpr > 0.0 && args.max_fpr < 1.0) {
        bail!(
            "--max-fpr {} is out of range: give a share between 0 and 1, e.g. 0.01",
            args.max_fpr
        );
    }
    if let Some(b) = args.alert_budget
        && !(b >= 0.0 && b.is_finite())
    {
        bail!("--alert-budget {b} is out of range: give alerts per day, e.g. 20");
    }
    if args.normal_days == 0 {
        bail!("--normal-days must be at least 1");
    }
    let labels = match &args.labels {
        Some(uri) => super::feedback::load_labels(uri)?,
        None => Vec::new(),
    };
    let data = read_pairs(&args.normal, false)?;
    let normal: Vec<(String, Ipv4Addr)> = data.pairs().map(|(e, ip)| (e.to_string(), ip)).collect();
    if normal.is_empty() {
        bail!("{} has no pairs", args.normal);
    }
    let mut entities: Vec<&str> = normal.iter().map(|(e, _)| e.as_str()).collect();
    entities.sort_unstable();
    entities.dedup();
    let random =
        eval::random_ip_attacks(&entities, args.attacks.unwrap_or(normal.len()), args.seed);
    let shuffled = eval::shuffled_attacks(&normal, args.seed);
    let model = match &args.model {
        Some(path) => {
            Some(Model::load(path).with_context(|| format!("loading {}", path.display()))?)
        }
        None => None,
    };
    // The labels' pairs (latest verdict per pair), scored after the rest.
    let mut fp_pairs = Vec::new();
    let mut tp_pairs = Vec::new();
    let mut unknown_labels = 0usize;
    for label in findings::labels::latest_per_pair(&labels) {
        match (label_pair(label, model.as_ref()), label.verdict) {
            (None, _) => unknown_labels += 1,
            (Some(p), Verdict::FalsePositive) => fp_pairs.push(p),
            (Some(p), Verdict::TruePositive) => tp_pairs.push(p),
        }
    }

    // One batch, so an endpoint sees a single stream of requests.
    let all: Vec<(&str, Ipv4Addr)> = normal
        .iter()
        .chain(&random)
        .chain(&shuffled)
        .chain(&fp_pairs)
        .chain(&tp_pairs)
        .map(|(e, ip)| (e.as_str(), *ip))
        .collect();
    // With a model file, also whether each pair's entity was trained on.
    let (scores, seen): (Vec<f64>, Option<Vec<bool>>) = match (&model, &args.endpoint) {
        (Some(model), _) => {
            let unseen = entities.iter().filter(|e| !model.is_seen(e)).count();
            if unseen > 0 {
                // New instances are scored as their group in production, and the group's
                // rows are in the file too; their own rows would only add noise.
                eprintln!(
                    "{unseen} of {} entities in {} are unknown to the model (e.g. instances launched after training): their pairs are left out; their groups' pairs count",
                    entities.len(),
                    args.normal
                );
            }
            let scored = model.score_pairs(&all);
            (
                scored.iter().map(|s| s.dot_product).collect(),
                Some(scored.iter().map(|s| s.entity_seen).collect()),
            )
        }
        (None, Some(name)) => (
            score_endpoint(name, &all, 5 * 1024 * 1024 - 1, 50_000, 4)?,
            None,
        ),
        (None, None) => bail!("give --model FILE or --endpoint NAME"),
    };
    let (n, r) = (normal.len(), random.len());
    let (normal_all, rest) = scores.split_at(n);
    let (random_s, rest) = rest.split_at(r);
    let (shuffled_s, rest) = rest.split_at(shuffled.len());
    let (fp_s, tp_s) = rest.split_at(fp_pairs.len());
    let kept: Vec<f64> = match &seen {
        Some(seen) => normal_all
            .iter()
            .zip(seen)
            .filter(|(_, known)| **known)
            .map(|(s, _)| *s)
            .collect(),
        None => normal_all.to_vec(),
    };
    if kept.is_empty() {
        bail!("no pair of {} has an entity the model knows", args.normal);
    }
    let heldout = &kept[..];
    let before = choose(heldout, &args)?;
    // With labels, the analysts' false positives are normal traffic too.
    let with_labels: Vec<f64> = heldout.iter().chain(fp_s).copied().collect();
    let normal_s = if args.labels.is_some() {
        &with_labels[..]
    } else {
        heldout
    };
    let n = normal_s.len();
    let Choice {
        fpr_threshold,
        budget,
        threshold,
    } = choose(normal_s, &args)?;
    let fpr = below(normal_s, threshold);
    let per_day =
        |t: f64| normal_s.iter().filter(|s| **s < t).count() as f64 / f64::from(args.normal_days);
    let auc = |attacks: &[f64]| {
        roc_auc(normal_s, attacks)
            .map(|a| format!("{a:.4}"))
            .unwrap_or_else(|| "-".into())
    };
    let attacks: Vec<f64> = random_s.iter().chain(shuffled_s).copied().collect();
    println!(
        "normal pairs {n}, random-address attacks {r}, shuffled attacks {}",
        shuffled_s.len()
    );
    println!(
        "ROC AUC: {} (random {}, shuffled {})",
        auc(&attacks),
        auc(random_s),
        auc(shuffled_s)
    );
    println!(
        "threshold at max FPR {}: {fpr_threshold} (normal pairs below it: {:.4}, {:.1} alerts per day)",
        args.max_fpr,
        below(normal_s, fpr_threshold),
        per_day(fpr_threshold)
    );
    if let Some((b, t)) = budget {
        println!(
            "threshold at alert budget {b} per day: {t} (normal pairs below it: {:.4}, {:.1} alerts per day)",
            below(normal_s, t),
            per_day(t)
        );
        println!(
            "chosen: {threshold} (the lower; false-positive rate {fpr:.4}, {:.1} alerts per day)",
            per_day(threshold)
        );
    }
    println!(
        "recall there: random {:.4}, shuffled {:.4}, all {:.4}",
        below(random_s, threshold),
        below(shuffled_s, threshold),
        below(&attacks, threshold)
    );
    if let Some(uri) = &args.labels {
        println!(
            "labels {uri}: {} labels, {} false-positive pairs (counted as normal), {} confirmed-attack pairs{}",
            labels.len(),
            fp_s.len(),
            tp_s.len(),
            if unknown_labels > 0 {
                format!(
                    ", {unknown_labels} pairs left out (neither entity nor group known to the model)"
                )
            } else {
                String::new()
            }
        );
        let fp_below = |t: f64| fp_s.iter().filter(|s| **s < t).count();
        let recall = |t: f64| {
            if tp_s.is_empty() {
                "- (no confirmed attacks)".to_string()
            } else {
                let caught = tp_s.iter().filter(|s| **s < t).count();
                format!(
                    "{:.4} ({caught} of {})",
                    caught as f64 / tp_s.len() as f64,
                    tp_s.len()
                )
            }
        };
        for (name, t) in [
            ("before labels", before.threshold),
            ("with labels", threshold),
        ] {
            println!(
                "threshold {name}: {t} (false-positive rate {:.4} on held-out and labelled normal pairs; {} of {} labelled false positives still alert; recall on confirmed attacks {})",
                below(normal_s, t),
                fp_below(t),
                fp_s.len(),
                recall(t)
            );
        }
    }
    if let Some(path) = &args.plot {
        let (lo, hi) = plot(path, normal_s, random_s, shuffled_s, threshold)?;
        println!(
            "plot: {} (x from {lo:.3} to {hi:.3}; blue normal, red random, orange shuffled, black threshold)",
            path.display()
        );
    }
    if !args.no_fanout && threshold < fpr_threshold {
        // Per instance (the Lambda counts per instance and object), over every day of the
        // file: at least as many addresses as one object holds, so the size errs high.
        let known = |i: usize| seen.as_ref().is_none_or(|s| s[i]);
        let instances = normal
            .iter()
            .zip(normal_all)
            .enumerate()
            .filter(|(i, ((e, _), _))| known(*i) && e.starts_with("i-"))
            .map(|(_, ((e, ip), s))| (e.as_str(), *ip, *s));
        let min = fanout_min_addresses([instances], fpr_threshold, args.fanout_floor);
        println!(
            "fan-out: {min} or more addresses below {fpr_threshold} from one instance in one object are alerts too (the most any instance of the normal pairs reached, plus one, at least --fanout-floor)"
        );
        println!("FANOUT_THRESHOLD={fpr_threshold}");
        println!("FANOUT_MIN_ADDRESSES={min}");
    }
    println!("ANOMALY_THRESHOLD={threshold}");
    Ok(())
}

/// Histograms of the three score sets, each normalised to its own size, and the threshold.
/// Returns the x range drawn.
fn plot(
    path: &Path,
    normal: &[f64],
    random: &[f64],
    shuffled: &[f64],
    threshold: f64,
) -> anyhow::Result<(f64, f64)> {
    use plotters::prelude::*;
    const BINS: usize = 80;
    let all = normal.iter().chain(random).chain(shuffled).copied();
    let (mut lo, mut hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
        (lo.min(s), hi.max(s))
    });
    lo = lo.min(threshold);
    hi = hi.max(threshold);
    if hi <= lo {
        hi = lo + 1.0;
    }
    let width = (hi - lo) / BINS as f64;
    let histogram = |scores: &[f64]| -> Vec<f64> {
        let mut h = vec![0.0; BINS];
        for s in scores {
            let i = (((s - lo) / width) as usize).min(BINS - 1);
            h[i] += 1.0 / scores.len().max(1) as f64;
        }
        h
    };
    let sets = [
        (histogram(normal), RGBColor(31, 119, 180)),
        (histogram(random), RGBColor(214, 39, 40)),
        (histogram(shuffled), RGBColor(255, 127, 14)),
    ];
    let top = sets
        .iter()
        .flat_map(|(h, _)| h.iter().copied())
        .fold(0.0, f64::max)
        * 1.05;

    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(path, (900, 500)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(20)
            .build_cartesian_2d(lo..hi, 0.0..top.max(1e-9))?;
        for (h, color) in &sets {
            chart.draw_series(h.iter().enumerate().map(|(i, y)| {
                let x0 = lo + i as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, *y)], color.mix(0.45).filled())
            }))?;
        }
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(threshold, 0.0), (threshold, top)],
            BLACK.stroke_width(2),
        )))?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))?;
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_keeps_the_false_positive_rate() {
        let normal: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let (t, fpr) = threshold_at_fpr(&normal, 0.01).unwrap();
        assert_eq!(t, 10.0);
        assert!((fpr - 0.01).abs() < 1e-12);
        // Ties cannot push the rate over the limit.
        let (t, fpr) = threshold_at_fpr(&[1.0, 1.0, 1.0, 2.0], 0.5).unwrap();
        assert_eq!((t, fpr), (1.0, 0.0));
        assert!(threshold_at_fpr(&[], 0.1).is_none());
        assert_eq!(below(&[0.0, 1.0, 2.0, 3.0], 2.0), 0.5);
    }

    #[test]
    fn threshold_keeps_the_alert_budget() {
        let normal: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        // At most 5 alerts: the sixth lowest score.
        assert_eq!(threshold_at_budget(&normal, 5), Some(5.0));
        assert_eq!(below(&normal, 5.0) * 1000.0, 5.0);
        assert_eq!(threshold_at_budget(&normal, 0), Some(0.0));
        assert_eq!(threshold_at_budget(&normal, 5000), Some(999.0));
        assert_eq!(threshold_at_budget(&[1.0, 1.0, 2.0], 1), Some(1.0));
        assert!(threshold_at_budget(&[], 1).is_none());
    }
}
