//! `ipinsights bench-model`: train, then measure detection quality and speed.

use std::net::Ipv4Addr;
use std::time::Instant;

use anyhow::Context;
use ipinsights::eval;
use ipinsights::login_data::{self, LoginConfig};
use ipinsights::train::{self, Progress, TrainOptions};
use ipinsights::{Hyperparameters, Model};

use super::fit::{read_pairs, with_threads};

/// Train on login-style data (as SageMaker's `ipinsights_login` example generates it) or on
/// given pairs, then report ROC AUC of held-out normal pairs against (a) random-IP attacks
/// and (b) shuffled attacks (a known entity with another entity's address), SageMaker's
/// `validation:discriminator_auc`, and training and scoring speed.
///
/// Speeds are given per thread of the pool and per CPU-second of the process; on a machine
/// shared with other work the latter is the fairer "per core" figure.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  ipinsights bench-model                      # the tutorial's scale: 10,000 users, 5 epochs
  ipinsights bench-model --users 1000 --epochs 2
  ipinsights pairs lake/.../eventDay=2026010[5-9] > train.csv   # a simulated lake, by day
  ipinsights pairs lake/.../eventDay=2026011[01] > test.csv
  ipinsights bench-model --train train.csv --test test.csv --num-entity-vectors 200")]
pub struct Args {
    /// Users of the generated login data.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Synthetic autonomous systems of the generated data.
    #[arg(long, default_value_t = 400_000)]
    asns: usize,
    /// Cap on events per user.
    #[arg(long, default_value_t = 10_000)]
    max_events: usize,
    /// Train on these pairs instead of generated data (`entity,ip` CSV; a third count column,
    /// as `ipinsights pairs` writes, repeats the pair).
    #[arg(long, requires = "test")]
    train: Option<String>,
    /// Held-out pairs for `--train` (distinct: counts are ignored); pairs listed in
    /// `--attacks` are removed from them, the rest count as normal.
    #[arg(long, requires = "train")]
    test: Option<String>,
    /// Known attack pairs (e.g. the injected anomalies of `ipinsights simulate`'s
    /// ground-truth.json): their AUC against the normal pairs is reported too.
    #[arg(long)]
    attacks: Option<String>,
    /// Held-out normal pairs scored (sampled), and as many attacks of each kind.
    #[arg(long, default_value_t = 100_000)]
    test_samples: usize,
    /// Entity rows (default: 2 × training entities, SageMaker's recommendation).
    #[arg(long)]
    num_entity_vectors: Option<u64>,
    /// Embedding size.
    #[arg(long, default_value_t = 128)]
    vector_dim: u32,
    /// Epochs: 3, not the tutorial's 5, which overfit the random-address attacks (AUC (a)
    /// at seeds 1/2/3: 0.9852/0.9858/0.9853 after 3 epochs, 0.9848/0.9854/0.9847 after 5)
    #[arg(long, default_value_t = 3)]
    epochs: u32,
    /// Mini-batch size (the tutorial's value).
    #[arg(long, default_value_t = 1000)]
    mini_batch_size: u32,
    /// Learning rate (the tutorial's value).
    #[arg(long, default_value_t = 0.01)]
    learning_rate: f64,
    /// Random negatives per pair (the tutorial's value).
    #[arg(long, default_value_t = 5)]
    random_negative_sampling_rate: u32,
    /// Shuffled negatives per pair (SageMaker's default is 1; 3 measured better on the
    /// login-style data: AUC vs shuffled attacks 0.9857 against 0.9845 at seed 1).
    #[arg(long, default_value_t = 3)]
    shuffled_negative_sampling_rate: u32,
    /// IP encoder layers.
    #[arg(long, default_value_t = 1)]
    num_ip_encoder_layers: u32,
    /// Weight decay.
    #[arg(long, default_value_t = 0.00001)]
    weight_decay: f64,
    /// Seed of the data, the training and the attacks.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds spent measuring scoring speed (per measurement).
    #[arg(long, default_value_t = 3.0)]
    score_seconds: f64,
    /// Also write the trained model here.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Print the report as JSON on standard output.
    #[arg(long)]
    json: bool,
    /// Write the training and held-out pairs as `train.csv` and `test.csv` (headerless
    /// `entity,ip`, SageMaker's training format) into this directory.
    #[arg(long)]
    save_data: Option<std::path::PathBuf>,
    /// Stop after writing the data (with `--save-data`).
    #[arg(long, requires = "save_data")]
    data_only: bool,
}

/// Writes pairs as headerless `entity,ip` CSV.
fn write_pairs<'a>(
    path: &std::path::Path,
    pairs: impl Iterator<Item = (&'a str, Ipv4Addr)>,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut line = String::new();
    for (e, ip) in pairs {
        line.clear();
        ipinsights::wire::push_csv_field(&mut line, e);
        writeln!(f, "{line},{ip}")?;
    }
    f.flush()?;
    Ok(())
}

/// CPU seconds (user + system) used by this process so far, from /proc/self/stat.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux platform Rust targets.
    Some((utime + stime) / 100.0)
}

/// A timed run: wall seconds and CPU seconds.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, Option<f64>) {
    let c0 = cpu_seconds();
    let t = Instant::now();
    let out = f();
    let wall = t.elapsed().as_secs_f64();
    let cpu = c0.and_then(|c0| cpu_seconds().map(|c1| c1 - c0));
    (out, wall, cpu)
}

/// Scores `pairs` repeatedly for about `seconds`; returns (pairs, wall, cpu).
fn score_speed(
    model: &Model,
    pairs: &[(&str, Ipv4Addr)],
    seconds: f64,
) -> (usize, f64, Option<f64>) {
    let (n, wall, cpu) = timed(|| {
        let start = Instant::now();
        let mut n = 0;
        while n == 0 || start.elapsed().as_secs_f64() < seconds {
            n += std::hint::black_box(model.score_pairs(pairs)).len();
        }
        n
    });
    (n, wall, cpu)
}

fn rate(n: f64, secs: Option<f64>) -> Option<f64> {
    secs.filter(|s| *s > 0.0).map(|s| n / s)
}

fn fmt_rate(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.0}")).unwrap_or_else(|| "n/a".into())
}

fn fmt_auc(a: Option<f64>) -> String {
    a.map(|a| format!("{a:.4}")).unwrap_or_else(|| "n/a".into())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let threads = args.threads.unwrap_or_else(rayon::current_num_threads);
    with_threads(Some(threads), || bench(&args, threads))?
}

fn bench(args: &Args, threads: usize) -> anyhow::Result<()> {
    let (train_set, test, source) = match (&args.train, &args.test) {
        (Some(tr), Some(te)) => {
            let train_set = read_pairs(tr, true)?;
            let test = read_pairs(te, false)?;
            let test: Vec<(String, Ipv4Addr)> =
                test.pairs().map(|(e, ip)| (e.to_string(), ip)).collect();
            (
                train_set,
                test,
                format!("pairs from {tr} (train) and {te} (test)"),
            )
        }
        _ => {
            let cfg = LoginConfig {
                num_users: args.users,
                num_asns: args.asns,
                max_events_per_user: args.max_events,
                seed: args.seed,
                ..Default::default()
            };
            let (data, secs, _) = timed(|| login_data::generate(&cfg));
            eprintln!(
                "generated login data in {secs:.1} s: {} users, {} ASNs, {} training events, {} test events",
                args.users,
                args.asns,
                data.train.len(),
                data.test.len()
            );
            (
                data.train,
                data.test,
                format!(
                    "ipinsights_login-style data: {} users, {} synthetic ASNs, days 1-7 train, 8-10 test",
                    args.users, args.asns
                ),
            )
        }
    };
    if let Some(dir) = &args.save_data {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_pairs(&dir.join("train.csv"), train_set.pairs())?;
        write_pairs(
            &dir.join("test.csv"),
            test.iter().map(|(e, ip)| (e.as_str(), *ip)),
        )?;
        eprintln!("wrote {}/train.csv and test.csv", dir.display());
        if args.data_only {
            return Ok(());
        }
    }
    let entities = train_set.entities().len() as u64;
    let mut hp = Hyperparameters::new(
        args.num_entity_vectors.unwrap_or((2 * entities).max(1)),
        args.vector_dim,
    );
    hp.epochs = args.epochs;
    hp.mini_batch_size = args.mini_batch_size;
    hp.learning_rate = args.learning_rate;
    hp.random_negative_sampling_rate = args.random_negative_sampling_rate;
    hp.shuffled_negative_sampling_rate = args.shuffled_negative_sampling_rate;
    hp.num_ip_encoder_layers = args.num_ip_encoder_layers;
    hp.weight_decay = args.weight_decay;
    hp.validate()?;

    let attacks: Vec<(String, Ipv4Addr)> = match &args.attacks {
        Some(a) => read_pairs(a, false)?
            .pairs()
            .map(|(e, ip)| (e.to_string(), ip))
            .collect(),
        None => Vec::new(),
    };
    let attack_set: std::collections::HashSet<&(String, Ipv4Addr)> = attacks.iter().collect();
    // Held-out normal pairs: a seeded sample, as the tutorial samples 100,000 test events.
    let mut normal: Vec<(String, Ipv4Addr)> = test
        .iter()
        .filter(|p| !attack_set.contains(p))
        .cloned()
        .collect();
    sample_in_place(&mut normal, args.test_samples, args.seed);

    let opts = TrainOptions {
        seed: args.seed,
        ..Default::default()
    };
    eprintln!(
        "training on {} pairs, {} entities, {threads} threads: {}",
        train_set.len(),
        entities,
        serde_json::to_string(&hp.to_map())?
    );
    let (model, train_wall, train_cpu) = timed(|| {
        train::train(&hp, &train_set, None, &opts, &mut |p| {
            if let Progress::Epoch(e) = p {
                eprintln!(
                    "  epoch {}: loss {:.4}, {:.1} s, {:.0} pairs/s",
                    e.epoch, e.loss, e.seconds, e.pairs_per_second
                );
            }
        })
    });
    let model = model?;
    if let Some(out) = &args.out {
        model
            .save(out)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    let pair_steps = (train_set.len() as u64 * u64::from(hp.epochs)) as f64;
    let step_seconds = model.training_stats().seconds;

    let (ev, eval_secs, _) = timed(|| eval::evaluate(&model, &normal, args.seed));
    // The model-free baseline on the same pairs and attacks.
    let base = eval::PrefixCounts::new(&train_set).evaluate(&normal, args.seed);
    let given_attacks_auc = (!attacks.is_empty()).then(|| {
        let dots = |v: &[(String, Ipv4Addr)]| -> Vec<f64> {
            let pairs: Vec<(&str, Ipv4Addr)> = v
                .iter()
                .filter(|(e, _)| model.is_seen(e))
                .map(|(e, ip)| (e.as_str(), *ip))
                .collect();
            model
                .score_pairs(&pairs)
                .iter()
                .map(|s| s.dot_product)
                .collect()
        };
        (
            ipinsights::auc::roc_auc(&dots(&normal), &dots(&attacks)),
            attacks.iter().filter(|(e, _)| model.is_seen(e)).count(),
        )
    });
    eprintln!("evaluated in {eval_secs:.1} s");

    // Scoring speed on everything the evaluation scored: normal pairs and both attacks.
    let seen: Vec<(String, Ipv4Addr)> = normal
        .iter()
        .filter(|(e, _)| model.is_seen(e))
        .cloned()
        .collect();
    let mut ents: Vec<&str> = seen.iter().map(|(e, _)| e.as_str()).collect();
    ents.sort_unstable();
    ents.dedup();
    let random = eval::random_ip_attacks(&ents, seen.len(), args.seed);
    let shuffled = eval::shuffled_attacks(&seen, args.seed);
    let mix: Vec<(&str, Ipv4Addr)> = seen
        .iter()
        .chain(&random)
        .chain(&shuffled)
        .map(|(e, ip)| (e.as_str(), *ip))
        .collect();
    let (n_all, wall_all, cpu_all) = score_speed(&model, &mix, args.score_seconds);
    let (n_one, wall_one, _) =
        with_threads(Some(1), || score_speed(&model, &mix, args.score_seconds))?;

    let report = serde_json::json!({
        "data": source,
        "hyperparameters": hp.to_map(),
        "train_pairs": train_set.len(),
        "train_entities": entities,
        "threads": threads,
        "normal_pairs": ev.normal_pairs,
        "unseen_entity_pairs": ev.unseen_entity_pairs,
        "auc_random_ip_attacks": ev.auc_random_ip,
        "auc_shuffled_attacks": ev.auc_shuffled,
        "validation_discriminator_auc": ev.discriminator_auc,
        "baseline_prefix_counts": {
            "auc_random_ip_attacks": base.auc_random_ip,
            "auc_shuffled_attacks": base.auc_shuffled,
            "validation_discriminator_auc": base.discriminator_auc,
        },
        "auc_given_attacks": given_attacks_auc.map(|(a, _)| a),
        "given_attacks_of_seen_entities": given_attacks_auc.map(|(_, n)| n),
        "train_seconds": train_wall,
        "train_pairs_per_second": pair_steps / step_seconds.max(1e-9),
        "train_pairs_per_second_per_thread": pair_steps / step_seconds.max(1e-9) / threads as f64,
        "train_pairs_per_cpu_second": rate(pair_steps, train_cpu),
        "score_pairs_per_second": n_all as f64 / wall_all,
        "score_pairs_per_second_per_thread": n_all as f64 / wall_all / threads as f64,
        "score_pairs_per_cpu_second": rate(n_all as f64, cpu_all),
        "score_pairs_per_second_one_thread": n_one as f64 / wall_one,
        "epochs": model.training_stats().epochs.iter().map(|e| serde_json::json!({
            "epoch": e.epoch, "loss": e.loss, "seconds": e.seconds})).collect::<Vec<_>>(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("data:                           {source}");
    println!(
        "model:                          vector_dim {}, num_entity_vectors {}, {} encoder layer(s), {} epochs",
        hp.vector_dim, hp.num_entity_vectors, hp.num_ip_encoder_layers, hp.epochs
    );
    println!(
        "held-out normal pairs:          {} ({} of unseen entities left out)",
        ev.normal_pairs - ev.unseen_entity_pairs,
        ev.unseen_entity_pairs
    );
    println!(
        "AUC vs random-IP attacks (a):   {}",
        fmt_auc(ev.auc_random_ip)
    );
    println!(
        "AUC vs shuffled attacks (b):    {}",
        fmt_auc(ev.auc_shuffled)
    );
    println!(
        "validation:discriminator_auc:   {}",
        fmt_auc(ev.discriminator_auc)
    );
    println!(
        "baseline, prefix counts (a/b/d): {} / {} / {} (the entity's training pairs sharing the /32, /24, /16)",
        fmt_auc(base.auc_random_ip),
        fmt_auc(base.auc_shuffled),
        fmt_auc(base.discriminator_auc)
    );
    if let Some((auc, n)) = given_attacks_auc {
        println!(
            "AUC vs the given attacks:       {} ({n} pairs of seen entities)",
            fmt_auc(auc)
        );
    }
    println!(
        "training:                       {:.0} pairs/s on {threads} threads = {:.0} per thread; {} per CPU-second ({:.1} s wall)",
        pair_steps / step_seconds.max(1e-9),
        pair_steps / step_seconds.max(1e-9) / threads as f64,
        fmt_rate(rate(pair_steps, train_cpu)),
        train_wall
    );
    println!(
        "scoring in process:             {:.0} pairs/s on {threads} threads = {:.0} per thread; {} per CPU-second; {:.0} on one thread",
        n_all as f64 / wall_all,
        n_all as f64 / wall_all / threads as f64,
        fmt_rate(rate(n_all as f64, cpu_all)),
        n_one as f64 / wall_one
    );
    Ok(())
}

/// Keeps a seeded random sample of `n` elements (all of them if there are fewer).
fn sample_in_place<T>(v: &mut Vec<T>, n: usize, seed: u64) {
    if v.len() <= n {
        return;
    }
    // A seeded partial Fisher-Yates with a SplitMix64 stream: no extra dependency needed.
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        ipinsights::hash::mix64(state)
    };
    for i in 0..n {
        let j = i + (ipinsights::hash::reduce(next(), (v.len() - i) as u64) as usize);
        v.swap(i, j);
    }
    v.truncate(n);
}
