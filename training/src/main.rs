//! `ipinsights`: the companion CLI of the ipcheck Lambda.

mod athena;
mod cmd;
mod evaluation;
#[cfg(feature = "aws-control-plane")]
mod interrupt;

use clap::{Parser, Subcommand};

/// Build IP Insights training data from Amazon Security Lake, train and deploy models, and
/// look at what the scorer sees.
#[derive(Parser)]
#[command(name = "ipinsights", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job locally: simulate a lake, prepare, fit, calibrate, then score the later
    /// days through the Lambda's handler and compare with the ground truth.
    Demo(cmd::demo::Args),
    /// Detection on a simulated estate: prepare, fit, calibrate and the Lambda's handler,
    /// against the ground truth and beside simple rules.
    Evaluate(cmd::evaluate::Args),
    /// Build shuffled training and validation CSV from a window of the lake.
    Prepare(cmd::prepare::Args),
    /// Print the distinct (entity, IPv4) pairs of Security Lake objects, as the scorer sees them.
    Pairs(cmd::pairs::Args),
    /// Time pair extraction in process (used by bench/pairs.py).
    BenchPairs(cmd::bench_pairs::Args),
    /// Write a simulated Security Lake (real key layout and physical schemas) to a directory.
    Simulate(cmd::simulate::Args),
    /// Train an IP Insights model on CPU (SageMaker's hyperparameters and training format).
    Fit(cmd::fit::Args),
    /// Choose the ANOMALY_THRESHOLD for a false-positive rate: ROC AUC, recall, score plot.
    Calibrate(cmd::calibrate::Args),
    /// Train on SageMaker (the built-in IP Insights algorithm) from training data in S3.
    Train(cmd::sagemaker::TrainArgs),
    /// Deploy a trained model to a SageMaker endpoint (created, or updated in place).
    Deploy(cmd::sagemaker::DeployArgs),
    /// Score entity,ip pairs with a model file or a SageMaker endpoint.
    Score(cmd::score::Args),
    /// Serve a model like a SageMaker IP Insights endpoint (and container).
    Serve(cmd::serve::Args),
    /// Train on login-style data, then report AUCs and training and scoring speed.
    BenchModel(cmd::bench_model::Args),
    /// Security Hub findings per day: top trends, outlier days and change points.
    Trends(cmd::trends::Args),
    /// The analysts' verdicts on our Security Hub findings, as a labels CSV for prepare and
    /// calibrate.
    Feedback(cmd::feedback::Args),
    /// Suppression rules: validate a file and list what expires.
    #[command(subcommand)]
    Suppressions(cmd::suppressions::Command),
}

/// Stack of the thread the commands run on: the AWS SDK's (de)serializers of large shapes (a
/// page of Security Hub findings) recurse deeply, and the main thread's stack is whatever the
/// system gives.
const STACK_BYTES: usize = 16 << 20;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.command.trains() {
        keep_freed_memory();
    }
    std::thread::Builder::new()
        .name("ipinsights".into())
        .stack_size(STACK_BYTES)
        .spawn(move || run(cli))?
        .join()
        .map_err(|_| anyhow::anyhow!("the command's thread panicked"))?
}

impl Command {
    /// Whether the command trains the embedded model, the only work that needs the
    /// allocator's freed memory kept (`keep_freed_memory`). Everything else keeps glibc's
    /// defaults, so that `bench-pairs` measures the reader with the Lambda's allocator.
    fn trains(&self) -> bool {
        matches!(
            self,
            Command::Demo(_) | Command::Evaluate(_) | Command::Fit(_) | Command::BenchModel(_)
        )
    }
}

/// Training and scoring allocate and free buffers of a few MB per mini-batch. glibc may serve
/// those with `mmap` and return them on `free` (its threshold adapts, but not always in time),
/// and then every batch faults its pages in again: one `bench-model` run here took 18.4 M minor
/// page faults and 143 s of system time against 118 s of user time (26 s per epoch, not 10-12).
/// Heap allocations up to 512 MiB and a freed heap kept up to 1 GiB end it (0.2 M faults, 0.7 s
/// of system time in 3 epochs), for a higher peak RSS (802 MB against 602 MB). Only for the
/// commands that train: for everything else it only raised the peak RSS (pair extraction's
/// from 51.8 to 67.6 MiB on two threads).
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread
    // exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 512 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // The demo logs the Lambda's JSON records itself, as the Lambda does.
    if !matches!(cli.command, Command::Demo(_) | Command::Evaluate(_)) {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_writer(std::io::stderr)
            .init();
    }
    match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Evaluate(args) => cmd::evaluate::run(args),
        Command::Prepare(args) => cmd::prepare::run(args),
        Command::Pairs(args) => cmd::pairs::run(args),
        Command::BenchPairs(args) => cmd::bench_pairs::run(args),
        Command::Simulate(args) => cmd::simulate::run(args),
        Command::Fit(args) => cmd::fit::run(args),
        Command::Calibrate(args) => cmd::calibrate::run(args),
        Command::Train(args) => cmd::sagemaker::train(args),
        Command::Deploy(args) => cmd::sagemaker::deploy(args),
        Command::Score(args) => cmd::score::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::BenchModel(args) => cmd::bench_model::run(args),
        Command::Trends(args) => cmd::trends::run(args),
        Command::Feedback(args) => cmd::feedback::run(args),
        Command::Suppressions(command) => cmd::suppressions::run(command),
    }
}

/// The demo's build (`--no-default-features`) has no SageMaker, Athena or Glue SDK: the
/// commands that need them say which build runs them, before any call.
#[cfg(all(test, not(feature = "aws-control-plane")))]
mod without_the_control_plane {
    use super::*;

    fn parse(argv: &[&str]) -> Command {
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli.command,
            Err(e) => panic!("{argv:?}: {e}"),
        }
    }

    #[test]
    fn train_deploy_and_athena_name_the_build_that_runs_them() {
        let train = parse(&[
            "ipinsights",
            "train",
            "--train",
            "s3://b/train.csv",
            "--role-arn",
            "arn:aws:iam::111122223333:role/SageMaker",
            "--output",
            "s3://b/models/",
            "--num_entity_vectors",
            "100",
            "--vector_dim",
            "8",
        ]);
        let deploy = parse(&[
            "ipinsights",
            "deploy",
            "--model-data",
            "s3://b/model.tar.gz",
            "--endpoint",
            "e",
        ]);
        let prepare = parse(&[
            "ipinsights",
            "prepare",
            "--athena",
            "--database",
            "amazon_security_lake_glue_db_us_east_1",
            "--since",
            "2026-01-01",
            "--until",
            "2026-01-02",
            "--out",
            "s3://b/data/",
        ]);
        let trends = parse(&[
            "ipinsights",
            "trends",
            "--athena",
            "--database",
            "amazon_security_lake_glue_db_us_east_1",
            "--since",
            "2026-01-01",
            "--until",
            "2026-01-31",
        ]);
        for command in [train, deploy, prepare, trends] {
            let err = match command {
                Command::Train(a) => cmd::sagemaker::train(a),
                Command::Deploy(a) => cmd::sagemaker::deploy(a),
                Command::Prepare(a) => cmd::prepare::run(a),
                Command::Trends(a) => cmd::trends::run(a),
                _ => unreachable!("parsed above"),
            }
            .expect_err("no SDK to call");
            let err = format!("{err:#}");
            assert!(
                err.contains("built without")
                    && err.contains("cargo build --release -p ipinsights-cli"),
                "{err}"
            );
        }
    }
}
