//! `ipinsights train` and `ipinsights deploy`: SageMaker's built-in IP Insights algorithm,
//! from training data in S3 to an InService endpoint.

//!
//! The calls live in `jobs`, built with the `aws-control-plane` feature (on by default): the
//! SageMaker SDK is the slowest crate of the whole build, so the demo's build leaves it out.

use super::fit::HyperparameterArgs;

#[cfg(feature = "aws-control-plane")]
mod jobs;

#[derive(clap::Args)]
#[command(
    after_help = "Hyperparameters are checked against SageMaker's ranges before any call
(num_entity_vectors and vector_dim are required; prepare's manifest.json recommends
num_entity_vectors). The image is the region's ipinsights:1 (AWS_REGION).

Examples:
  ipinsights train --train s3://my-bucket/ipinsights/data/train.csv \\
      --validation s3://my-bucket/ipinsights/data/validation.csv \\
      --role-arn arn:aws:iam::111122223333:role/SageMakerExecutionRole \\
      --output s3://my-bucket/ipinsights/models/ --num_entity_vectors 20000 --vector_dim 128 --wait
  ipinsights train … --instance-type ml.p3.2xlarge --epochs 20 --job-name ipinsights-2026-01"
)]
pub struct TrainArgs {
    /// Training pairs in S3 (a file or a prefix), headerless entity,ip CSV.
    #[arg(long)]
    train: String,
    /// Validation pairs in S3; gives the validation:discriminator_auc metric.
    #[arg(long)]
    validation: Option<String>,
    /// The role SageMaker assumes (needs read on the data, write on --output); you need
    /// iam:PassRole on it.
    #[arg(long)]
    role_arn: String,
    /// Where SageMaker writes the model artifact (s3://bucket/prefix/).
    #[arg(long)]
    output: String,
    /// Training instance type.
    #[arg(long, default_value = "ml.m5.large")]
    instance_type: String,
    /// Training instances.
    #[arg(long, default_value_t = 1)]
    instance_count: i32,
    /// Storage per instance, GB.
    #[arg(long, default_value_t = 10)]
    volume_gb: i32,
    /// Longest the job may run, seconds.
    #[arg(long, default_value_t = 86_400)]
    max_runtime_seconds: i32,
    #[command(flatten)]
    hp: HyperparameterArgs,
    /// Job name (default ipinsights-<unix time>).
    #[arg(long)]
    job_name: Option<String>,
    /// Follow the job until it ends, then print its metrics and model artifact; Ctrl-C offers
    /// to stop it.
    #[arg(long)]
    wait: bool,
    /// Seconds between status checks with --wait.
    #[arg(long, default_value_t = 30)]
    poll_seconds: u64,
}

#[derive(clap::Args)]
#[command(
    after_help = "Creates a model and an endpoint configuration named <endpoint>-<unix time>,
then creates the endpoint, or updates it in place if it exists, and waits for InService.

Examples:
  ipinsights deploy --training-job ipinsights-1767225600 --endpoint ip-insights-prod
  ipinsights deploy --model-data s3://my-bucket/models/job/output/model.tar.gz \\
      --role-arn arn:aws:iam::111122223333:role/SageMakerExecutionRole \\
      --endpoint ip-insights-prod --serverless-memory 2048"
)]
pub struct DeployArgs {
    /// A completed training job: its model artifact and role are used.
    #[arg(
        long,
        required_unless_present = "model_data",
        conflicts_with = "model_data"
    )]
    training_job: Option<String>,
    /// A model artifact (model.tar.gz) in S3.
    #[arg(long)]
    model_data: Option<String>,
    /// Endpoint name.
    #[arg(long)]
    endpoint: String,
    /// The role the model runs as (default with --training-job: the job's role).
    #[arg(long)]
    role_arn: Option<String>,
    /// Instance type of a provisioned endpoint.
    #[arg(
        long,
        default_value = "ml.m5.large",
        conflicts_with = "serverless_memory"
    )]
    instance_type: String,
    /// Instances of a provisioned endpoint.
    #[arg(long, default_value_t = 1)]
    instance_count: i32,
    /// A serverless endpoint with this much memory, MB (1024 to 6144, in steps of 1024).
    #[arg(long)]
    serverless_memory: Option<i32>,
    /// Concurrent invocations of a serverless endpoint.
    #[arg(long, default_value_t = 5)]
    serverless_concurrency: i32,
    /// Do not wait for InService.
    #[arg(long)]
    no_wait: bool,
    /// Seconds between status checks.
    #[arg(long, default_value_t = 15)]
    poll_seconds: u64,
}

/// `ipinsights train`.
pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    #[cfg(feature = "aws-control-plane")]
    return jobs::train(args);
    #[cfg(not(feature = "aws-control-plane"))]
    {
        let _ = args;
        Err(not_built("train"))
    }
}

/// `ipinsights deploy`.
pub fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    #[cfg(feature = "aws-control-plane")]
    return jobs::deploy(args);
    #[cfg(not(feature = "aws-control-plane"))]
    {
        let _ = args;
        Err(not_built("deploy"))
    }
}

/// The error of a build without the SageMaker SDK (the demo's).
#[cfg(not(feature = "aws-control-plane"))]
fn not_built(command: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "this ipinsights was built without SageMaker's control plane (the demo's build, --no-default-features): `cargo build --release -p ipinsights-cli` builds one that can {command}"
    )
}
