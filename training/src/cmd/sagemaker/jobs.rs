//! The SageMaker calls of `train` and `deploy`.

use std::io::IsTerminal;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use aws_sdk_sagemaker::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sagemaker::types::{
    AlgorithmSpecification, Channel, CompressionType, ContainerDefinition, DataSource,
    OutputDataConfig, ProductionVariant, ProductionVariantInstanceType,
    ProductionVariantServerlessConfig, RecordWrapper, ResourceConfig, S3DataDistribution,
    S3DataSource, S3DataType, StoppingCondition, TrainingInputMode, TrainingInstanceType,
};
use indicatif::ProgressBar;

use super::{DeployArgs, TrainArgs};

/// The error of a SageMaker call, with what to do for the usual causes.
fn explain<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: SdkError<E>,
    action: &str,
) -> anyhow::Error {
    let hint = match err.as_service_error().and_then(|e| e.code()) {
        Some("AccessDeniedException") => format!(
            " (grant sagemaker:{action} to this identity, and iam:PassRole on the role it passes)"
        ),
        Some("ResourceLimitExceeded") => {
            " (a service quota is reached: pick another instance type or ask for more in Service Quotas)".to_string()
        }
        Some("ResourceInUse") => " (the name is taken: choose another)".to_string(),
        _ => String::new(),
    };
    anyhow::anyhow!("{action} failed: {}{hint}", DisplayErrorContext(&err))
}

async fn client() -> anyhow::Result<(aws_sdk_sagemaker::Client, String)> {
    let sdk = aws_config::load_from_env().await;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .context("no AWS region: set AWS_REGION (or a profile's region)")?;
    Ok((aws_sdk_sagemaker::Client::new(&sdk), region))
}

fn image(region: &str) -> anyhow::Result<String> {
    ipinsights::image::image_uri(region).with_context(|| {
        format!("SageMaker has no IP Insights image in {region}: use one of the regions listed in ipinsights::image::REGISTRIES")
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// SageMaker's names: 1-63 letters, digits and single hyphens inside.
fn check_name(what: &str, name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        bail!(
            "{what} {name:?}: use 1-63 letters, digits and hyphens, not starting or ending with a hyphen"
        );
    }
    Ok(())
}

fn check_s3(flag: &str, uri: &str) -> anyhow::Result<()> {
    match uri.strip_prefix("s3://") {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
        _ => bail!(
            "{flag} {uri:?}: SageMaker reads and writes S3 only; give s3://bucket/key (ipinsights prepare --out s3://… writes there)"
        ),
    }
}

fn spinner() -> ProgressBar {
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    }
}

/// Asks on the terminal; anything but y/yes is no.
async fn confirm(question: String) -> bool {
    tokio::task::spawn_blocking(move || {
        eprint!("{question} [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok()
            && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    })
    .await
    .unwrap_or(false)
}

fn channel(name: &str, uri: &str) -> Channel {
    Channel::builder()
        .channel_name(name)
        .content_type("text/csv")
        .compression_type(CompressionType::None)
        .record_wrapper_type(RecordWrapper::None)
        .data_source(
            DataSource::builder()
                .s3_data_source(
                    S3DataSource::builder()
                        .s3_data_type(S3DataType::S3Prefix)
                        .s3_uri(uri)
                        .s3_data_distribution_type(S3DataDistribution::FullyReplicated)
                        .build(),
                )
                .build(),
        )
        .build()
}

pub(super) fn train(args: TrainArgs) -> anyhow::Result<()> {
    // Everything that can be checked locally is, before any call.
    let hp = args.hp.hyperparameters()?;
    check_s3("--train", &args.train)?;
    if let Some(v) = &args.validation {
        check_s3("--validation", v)?;
    }
    check_s3("--output", &args.output)?;
    if !args.role_arn.starts_with("arn:aws") || !args.role_arn.contains(":role/") {
        bail!(
            "--role-arn {:?}: give an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
            args.role_arn
        );
    }
    if args.instance_count < 1 {
        bail!("--instance-count must be at least 1");
    }
    let job = args
        .job_name
        .clone()
        .unwrap_or_else(|| format!("ipinsights-{}", unix_now()));
    check_name("--job-name", &job)?;

    tokio::runtime::Runtime::new()?.block_on(async {
        let (client, region) = client().await?;
        let image = image(&region)?;
        let mut channels = vec![channel("train", &args.train)];
        if let Some(v) = &args.validation {
            channels.push(channel("validation", v));
        }
        client
            .create_training_job()
            .training_job_name(&job)
            .algorithm_specification(
                AlgorithmSpecification::builder()
                    .training_image(&image)
                    .training_input_mode(TrainingInputMode::File)
                    .build(),
            )
            .role_arn(&args.role_arn)
            .set_hyper_parameters(Some(hp.to_map().into_iter().collect()))
            .set_input_data_config(Some(channels))
            .output_data_config(
                OutputDataConfig::builder()
                    .s3_output_path(&args.output)
                    .build(),
            )
            .resource_config(
                ResourceConfig::builder()
                    .instance_type(TrainingInstanceType::from(args.instance_type.as_str()))
                    .instance_count(args.instance_count)
                    .volume_size_in_gb(args.volume_gb)
                    .build(),
            )
            .stopping_condition(
                StoppingCondition::builder()
                    .max_runtime_in_seconds(args.max_runtime_seconds)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| explain(e, "CreateTrainingJob"))?;
        println!("training job {job} created ({image})");
        if args.wait {
            let mut interrupt =
                crate::interrupt::Interrupt::new().context("listening for Ctrl-C")?;
            wait_training(
                &client,
                &job,
                Duration::from_secs(args.poll_seconds),
                &mut interrupt,
                confirm,
            )
            .await?;
        } else {
            println!(
                "follow it with: aws sagemaker describe-training-job --training-job-name {job}"
            );
        }
        anyhow::Ok(())
    })
}

/// Follows a training job to its end; on Ctrl-C, `ask` whether to stop it (yes: StopTrainingJob,
/// then follow it to Stopped; no: leave it running and return).
async fn wait_training<F, Fut>(
    client: &aws_sdk_sagemaker::Client,
    job: &str,
    poll: Duration,
    interrupt: &mut crate::interrupt::Interrupt,
    ask: F,
) -> anyhow::Result<()>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let bar = spinner();
    let mut last = String::new();
    loop {
        let d = client
            .describe_training_job()
            .training_job_name(job)
            .send()
            .await
            .map_err(|e| explain(e, "DescribeTrainingJob"))?;
        let status = d.training_job_status().map_or("Unknown", |s| s.as_str());
        let secondary = d.secondary_status().map_or("", |s| s.as_str());
        let detail = d
            .secondary_status_transitions()
            .last()
            .and_then(|t| t.status_message())
            .unwrap_or("");
        let line = format!("{status} / {secondary}: {detail}");
        if line != last {
            bar.suspend(|| eprintln!("{job}: {line}"));
            bar.set_message(format!("{job}: {status} / {secondary}"));
            last = line;
        }
        match status {
            "Completed" => {
                bar.finish_and_clear();
                for m in d.final_metric_data_list() {
                    println!(
                        "{} = {}",
                        m.metric_name().unwrap_or("?"),
                        m.value().map_or("-".to_string(), |v| v.to_string())
                    );
                }
                let artifact = d
                    .model_artifacts()
                    .and_then(|a| a.s3_model_artifacts())
                    .unwrap_or("-");
                println!("model artifact: {artifact}");
                println!(
                    "deploy it with: ipinsights deploy --training-job {job} --endpoint <name>"
                );
                return Ok(());
            }
            "Failed" => bail!(
                "training job {job} failed: {}",
                d.failure_reason().unwrap_or("no reason given")
            ),
            "Stopped" => bail!("training job {job} was stopped"),
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = interrupt.recv() => {
                if ask(format!("\nstop training job {job}?")).await {
                    client
                        .stop_training_job()
                        .training_job_name(job)
                        .send()
                        .await
                        .map_err(|e| explain(e, "StopTrainingJob"))?;
                    eprintln!("stopping {job}; waiting for it to stop (Ctrl-C again leaves it stopping)");
                } else {
                    bar.finish_and_clear();
                    println!("{job} keeps running; follow it with: aws sagemaker describe-training-job --training-job-name {job}");
                    return Ok(());
                }
            }
        }
    }
}

/// Follows an endpoint until InService; a failed creation or update is an error with SageMaker's
/// reason.
async fn wait_endpoint(
    client: &aws_sdk_sagemaker::Client,
    endpoint: &str,
    poll: Duration,
) -> anyhow::Result<()> {
    let bar = spinner();
    let mut last = String::new();
    loop {
        let d = client
            .describe_endpoint()
            .endpoint_name(endpoint)
            .send()
            .await
            .map_err(|e| explain(e, "DescribeEndpoint"))?;
        let status = d
            .endpoint_status()
            .map_or("Unknown", |s| s.as_str())
            .to_string();
        if status != last {
            bar.suspend(|| eprintln!("{endpoint}: {status}"));
            bar.set_message(format!("{endpoint}: {status}"));
            last = status.clone();
        }
        match status.as_str() {
            "InService" => {
                bar.finish_and_clear();
                println!(
                    "endpoint {endpoint} InService; score with: ipinsights score --endpoint {endpoint} --input pairs.csv"
                );
                return Ok(());
            }
            "Failed" | "UpdateRollbackFailed" | "OutOfService" => bail!(
                "endpoint {endpoint} is {status}: {}",
                d.failure_reason().unwrap_or("no reason given")
            ),
            _ => tokio::time::sleep(poll).await,
        }
    }
}

/// Points `endpoint` at `config`: UpdateEndpoint when it exists (in place, no downtime),
/// CreateEndpoint when it does not. Returns whether it was an update.
async fn create_or_update(
    client: &aws_sdk_sagemaker::Client,
    endpoint: &str,
    config: &str,
) -> anyhow::Result<bool> {
    let exists = match client
        .describe_endpoint()
        .endpoint_name(endpoint)
        .send()
        .await
    {
        Ok(_) => true,
        // SageMaker answers an unknown endpoint with a ValidationException.
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("ValidationException") => {
            false
        }
        Err(e) => return Err(explain(e, "DescribeEndpoint")),
    };
    if exists {
        client
            .update_endpoint()
            .endpoint_name(endpoint)
            .endpoint_config_name(config)
            .send()
            .await
            .map_err(|e| explain(e, "UpdateEndpoint"))?;
    } else {
        client
            .create_endpoint()
            .endpoint_name(endpoint)
            .endpoint_config_name(config)
            .send()
            .await
            .map_err(|e| explain(e, "CreateEndpoint"))?;
    }
    Ok(exists)
}

pub(super) fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    check_name("--endpoint", &args.endpoint)?;
    if let Some(mb) = args.serverless_memory
        && (!(1024..=6144).contains(&mb) || mb % 1024 != 0)
    {
        bail!("--serverless-memory {mb}: SageMaker takes 1024, 2048, 3072, 4096, 5120 or 6144");
    }
    if let Some(m) = &args.model_data {
        check_s3("--model-data", m)?;
    }
    tokio::runtime::Runtime::new()?.block_on(async {
        let (client, region) = client().await?;
        let image = image(&region)?;
        let (model_data, role) = match &args.training_job {
            Some(job) => {
                let d = client
                    .describe_training_job()
                    .training_job_name(job)
                    .send()
                    .await
                    .map_err(|e| explain(e, "DescribeTrainingJob"))?;
                let artifact = d
                    .model_artifacts()
                    .and_then(|a| a.s3_model_artifacts())
                    .map(str::to_string)
                    .filter(|a| !a.is_empty())
                    .with_context(|| {
                        format!(
                            "training job {job} has no model artifact (status {}): wait for it to complete",
                            d.training_job_status().map_or("unknown", |s| s.as_str())
                        )
                    })?;
                let role = args
                    .role_arn
                    .clone()
                    .or_else(|| d.role_arn().map(str::to_string))
                    .context("give --role-arn")?;
                (artifact, role)
            }
            None => (
                args.model_data.clone().context("give --training-job or --model-data")?,
                args.role_arn
                    .clone()
                    .context("--model-data needs --role-arn (the role the model runs as)")?,
            ),
        };
        // Endpoint names are at most 63 characters, like the model's; keep room for the time.
        let stem: String = args.endpoint.chars().take(52).collect();
        let name = format!("{}-{}", stem.trim_end_matches('-'), unix_now());
        client
            .create_model()
            .model_name(&name)
            .execution_role_arn(&role)
            .primary_container(
                ContainerDefinition::builder()
                    .image(&image)
                    .model_data_url(&model_data)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| explain(e, "CreateModel"))?;
        println!("model {name} ({model_data})");
        let variant = ProductionVariant::builder()
            .variant_name("AllTraffic")
            .model_name(&name);
        let variant = match args.serverless_memory {
            Some(mb) => variant.serverless_config(
                ProductionVariantServerlessConfig::builder()
                    .memory_size_in_mb(mb)
                    .max_concurrency(args.serverless_concurrency)
                    .build(),
            ),
            None => variant
                .instance_type(ProductionVariantInstanceType::from(
                    args.instance_type.as_str(),
                ))
                .initial_instance_count(args.instance_count)
                .initial_variant_weight(1.0),
        };
        client
            .create_endpoint_config()
            .endpoint_config_name(&name)
            .production_variants(variant.build())
            .send()
            .await
            .map_err(|e| explain(e, "CreateEndpointConfig"))?;
        println!("endpoint configuration {name}");

        if create_or_update(&client, &args.endpoint, &name).await? {
            println!("endpoint {} updating in place", args.endpoint);
        } else {
            println!("endpoint {} creating", args.endpoint);
        }
        if args.no_wait {
            return Ok(());
        }
        wait_endpoint(&client, &args.endpoint, Duration::from_secs(args.poll_seconds)).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput;
    use aws_sdk_sagemaker::operation::describe_training_job::DescribeTrainingJobOutput;
    use aws_sdk_sagemaker::types::{
        EndpointStatus, MetricData, ModelArtifacts, SecondaryStatus, SecondaryStatusTransition,
        TrainingJobStatus,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn job(status: TrainingJobStatus, secondary: SecondaryStatus) -> DescribeTrainingJobOutput {
        DescribeTrainingJobOutput::builder()
            .training_job_name("job")
            .training_job_status(status)
            .secondary_status(secondary.clone())
            .secondary_status_transitions(
                SecondaryStatusTransition::builder()
                    .status(secondary)
                    .status_message("step")
                    .start_time(aws_smithy_types::DateTime::from_secs(0))
                    .build(),
            )
            .build()
    }

    fn no_interrupt() -> crate::interrupt::Interrupt {
        crate::interrupt::Interrupt::for_test().0
    }

    async fn never_asked(question: String) -> bool {
        panic!("asked {question:?} without a Ctrl-C")
    }

    /// Follows "job" with no Ctrl-C.
    async fn wait(client: &aws_sdk_sagemaker::Client) -> anyhow::Result<()> {
        wait_training(
            client,
            "job",
            Duration::from_millis(1),
            &mut no_interrupt(),
            never_asked,
        )
        .await
    }

    #[tokio::test]
    async fn ctrl_c_offers_to_stop_the_job() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        for stop_it in [true, false] {
            let stopped = Arc::new(AtomicBool::new(false));
            let seen = stopped.clone();
            let describe =
                mock!(aws_sdk_sagemaker::Client::describe_training_job).then_output(move || {
                    if seen.load(Ordering::SeqCst) {
                        job(TrainingJobStatus::Stopped, SecondaryStatus::Stopped)
                    } else {
                        job(TrainingJobStatus::InProgress, SecondaryStatus::Training)
                    }
                });
            let flag = stopped.clone();
            let stop = mock!(aws_sdk_sagemaker::Client::stop_training_job).then_output(move || {
                flag.store(true, Ordering::SeqCst);
                aws_sdk_sagemaker::operation::stop_training_job::StopTrainingJobOutput::builder()
                    .build()
            });
            let client = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, [&describe, &stop]);
            let (mut interrupt, press) = crate::interrupt::Interrupt::for_test();
            let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
            let log = asked.clone();
            let waiting = tokio::spawn(async move {
                wait_training(
                    &client,
                    "job",
                    Duration::from_millis(2),
                    &mut interrupt,
                    move |q| {
                        log.lock().unwrap().push(q);
                        async move { stop_it }
                    },
                )
                .await
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            press.send(()).unwrap();
            let result = waiting.await.unwrap();
            assert_eq!(
                *asked.lock().unwrap(),
                vec!["\nstop training job job?".to_string()]
            );
            if stop_it {
                let err = result.unwrap_err().to_string();
                assert!(err.contains("training job job was stopped"), "{err}");
                assert_eq!(stop.num_calls(), 1);
            } else {
                result.unwrap();
                assert_eq!(stop.num_calls(), 0);
                assert!(!stopped.load(Ordering::SeqCst));
            }
            assert!(describe.num_calls() >= 2);
        }
    }

    #[tokio::test]
    async fn training_is_followed_to_completion() {
        let starting = mock!(aws_sdk_sagemaker::Client::describe_training_job)
            .then_output(|| job(TrainingJobStatus::InProgress, SecondaryStatus::Starting));
        let training = mock!(aws_sdk_sagemaker::Client::describe_training_job)
            .then_output(|| job(TrainingJobStatus::InProgress, SecondaryStatus::Training));
        let done = mock!(aws_sdk_sagemaker::Client::describe_training_job).then_output(|| {
            let mut d = job(TrainingJobStatus::Completed, SecondaryStatus::Completed);
            d.final_metric_data_list = Some(vec![
                MetricData::builder()
                    .metric_name("validation:discriminator_auc")
                    .value(0.98)
                    .build(),
            ]);
            d.model_artifacts = Some(
                ModelArtifacts::builder()
                    .s3_model_artifacts("s3://b/job/output/model.tar.gz")
                    .build(),
            );
            d
        });
        let client = mock_client!(
            aws_sdk_sagemaker,
            RuleMode::Sequential,
            [&starting, &training, &done]
        );
        wait(&client).await.unwrap();
        assert_eq!(
            (starting.num_calls(), training.num_calls(), done.num_calls()),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn a_failed_or_stopped_job_is_an_error_with_the_reason() {
        let failed = mock!(aws_sdk_sagemaker::Client::describe_training_job).then_output(|| {
            let mut d = job(TrainingJobStatus::Failed, SecondaryStatus::Failed);
            d.failure_reason = Some("ClientError: num_entity_vectors too large".into());
            d
        });
        let client = mock_client!(aws_sdk_sagemaker, [&failed]);
        let err = wait(&client).await.unwrap_err().to_string();
        assert!(
            err.contains("training job job failed: ClientError: num_entity_vectors"),
            "{err}"
        );
        let stopped = mock!(aws_sdk_sagemaker::Client::describe_training_job)
            .then_output(|| job(TrainingJobStatus::Stopped, SecondaryStatus::Stopped));
        let client = mock_client!(aws_sdk_sagemaker, [&stopped]);
        let err = wait(&client).await.unwrap_err().to_string();
        assert!(err.contains("was stopped"), "{err}");
    }

    fn endpoint(status: EndpointStatus, reason: Option<&str>) -> DescribeEndpointOutput {
        let mut b = DescribeEndpointOutput::builder()
            .endpoint_name("ep")
            .endpoint_arn("arn:aws:sagemaker:us-east-1:111122223333:endpoint/ep")
            .endpoint_config_name("ep-1")
            .endpoint_status(status)
            .creation_time(aws_smithy_types::DateTime::from_secs(0))
            .last_modified_time(aws_smithy_types::DateTime::from_secs(0));
        if let Some(r) = reason {
            b = b.failure_reason(r);
        }
        b.build()
    }

    #[tokio::test]
    async fn an_existing_endpoint_is_updated_in_place_and_a_new_one_created() {
        use aws_sdk_sagemaker::operation::create_endpoint::CreateEndpointOutput;
        use aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointError;
        use aws_sdk_sagemaker::operation::update_endpoint::UpdateEndpointOutput;
        use aws_smithy_types::error::ErrorMetadata;

        let found = mock!(aws_sdk_sagemaker::Client::describe_endpoint)
            .then_output(|| endpoint(EndpointStatus::InService, None));
        let update = mock!(aws_sdk_sagemaker::Client::update_endpoint)
            .match_requests(|r| {
                r.endpoint_name() == Some("ep") && r.endpoint_config_name() == Some("ep-2")
            })
            .then_output(|| {
                UpdateEndpointOutput::builder()
                    .endpoint_arn("arn:aws:sagemaker:us-east-1:111122223333:endpoint/ep")
                    .build()
            });
        let client = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, [&found, &update]);
        assert!(create_or_update(&client, "ep", "ep-2").await.unwrap());
        assert_eq!(update.num_calls(), 1);

        let unknown = mock!(aws_sdk_sagemaker::Client::describe_endpoint).then_error(|| {
            DescribeEndpointError::generic(
                ErrorMetadata::builder()
                    .code("ValidationException")
                    .message("Could not find endpoint \"ep\".")
                    .build(),
            )
        });
        let create = mock!(aws_sdk_sagemaker::Client::create_endpoint)
            .match_requests(|r| r.endpoint_config_name() == Some("ep-2"))
            .then_output(|| {
                CreateEndpointOutput::builder()
                    .endpoint_arn("arn:aws:sagemaker:us-east-1:111122223333:endpoint/ep")
                    .build()
            });
        let client = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, [&unknown, &create]);
        assert!(!create_or_update(&client, "ep", "ep-2").await.unwrap());
        assert_eq!(create.num_calls(), 1);

        let denied = mock!(aws_sdk_sagemaker::Client::describe_endpoint).then_error(|| {
            DescribeEndpointError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized to perform: sagemaker:DescribeEndpoint")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_sagemaker, [&denied]);
        let err = create_or_update(&client, "ep", "ep-2")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("DescribeEndpoint"), "{err}");
    }

    #[tokio::test]
    async fn an_endpoint_is_followed_to_in_service_or_its_failure() {
        let creating = mock!(aws_sdk_sagemaker::Client::describe_endpoint)
            .then_output(|| endpoint(EndpointStatus::Creating, None));
        let updating = mock!(aws_sdk_sagemaker::Client::describe_endpoint)
            .then_output(|| endpoint(EndpointStatus::Updating, None));
        let in_service = mock!(aws_sdk_sagemaker::Client::describe_endpoint)
            .then_output(|| endpoint(EndpointStatus::InService, None));
        let client = mock_client!(
            aws_sdk_sagemaker,
            RuleMode::Sequential,
            [&creating, &updating, &in_service]
        );
        wait_endpoint(&client, "ep", Duration::from_millis(1))
            .await
            .unwrap();
        assert_eq!(
            (
                creating.num_calls(),
                updating.num_calls(),
                in_service.num_calls()
            ),
            (1, 1, 1)
        );

        let rolled_back = mock!(aws_sdk_sagemaker::Client::describe_endpoint).then_output(|| {
            endpoint(
                EndpointStatus::Failed,
                Some("The primary container for production variant AllTraffic did not pass the ping health check"),
            )
        });
        let client = mock_client!(aws_sdk_sagemaker, [&rolled_back]);
        let err = wait_endpoint(&client, "ep", Duration::from_millis(1))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("endpoint ep is Failed: The primary container"),
            "{err}"
        );
    }
}
