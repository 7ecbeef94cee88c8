//! `ipinsights train` and `ipinsights deploy` against moto's SageMaker control plane: what
//! the server recorded is exactly what the commands must send.
#![cfg(feature = "aws-control-plane")]

use e2e_tests::moto_endpoint;
use std::collections::HashMap;
use std::process::{Command, Output};

fn ipinsights(endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ipinsights"));
    c.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    c
}

fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed:\n{stderr}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

const ROLE: &str = "arn:aws:iam::123456789012:role/SageMakerExecutionRole";
const IMAGE: &str = "382416733822.dkr.ecr.us-east-1.amazonaws.com/ipinsights:1";

#[test]
fn hyperparameters_are_checked_before_any_call() {
    // Port 9 (discard) is closed: any call would fail differently.
    let out = ipinsights("http://127.0.0.1:9")
        .args(["train", "--train", "s3://b/train.csv", "--role-arn", ROLE])
        .args(["--output", "s3://b/models/", "--num_entity_vectors", "80"])
        .args(["--vector_dim", "5000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("vector_dim"), "{stderr}");
    assert!(!stderr.contains("CreateTrainingJob"), "{stderr}");

    let out = ipinsights("http://127.0.0.1:9")
        .args(["train", "--train", "data/train.csv", "--role-arn", ROLE])
        .args(["--output", "s3://b/models/", "--num_entity_vectors", "80"])
        .args(["--vector_dim", "16"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("S3 only"));
}

#[test]
fn train_then_deploy() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    let job = format!("ipinsights-test-{unique}");
    let stdout = ok(ipinsights(&endpoint)
        .args(["train", "--train", "s3://data/ipinsights/train.csv"])
        .args(["--validation", "s3://data/ipinsights/validation.csv"])
        .args(["--role-arn", ROLE, "--output", "s3://data/models/"])
        .args([
            "--num_entity_vectors",
            "80",
            "--vector_dim",
            "16",
            "--epochs",
            "3",
        ])
        .args(["--job-name", &job, "--wait", "--poll-seconds", "0"])
        .output()
        .unwrap());
    assert!(
        stdout.contains(&format!("training job {job} created")),
        "{stdout}"
    );
    assert!(stdout.contains("model artifact: s3://"), "{stdout}");

    let config = aws_sdk_sagemaker::Config::builder()
        .behavior_version(aws_sdk_sagemaker::config::BehaviorVersion::latest())
        .region(aws_sdk_sagemaker::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sagemaker::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .endpoint_url(&endpoint)
        .build();
    let sm = aws_sdk_sagemaker::Client::from_conf(config);
    let rt = tokio::runtime::Runtime::new().unwrap();

    // CreateTrainingJob, as recorded.
    let d = rt
        .block_on(sm.describe_training_job().training_job_name(&job).send())
        .unwrap();
    let spec = d.algorithm_specification().unwrap();
    assert_eq!(spec.training_image(), Some(IMAGE));
    assert_eq!(spec.training_input_mode().unwrap().as_str(), "File");
    assert_eq!(d.role_arn(), Some(ROLE));
    let expected: HashMap<String, String> = ipinsights::Hyperparameters::from_map([
        ("num_entity_vectors", "80"),
        ("vector_dim", "16"),
        ("epochs", "3"),
    ])
    .unwrap()
    .to_map()
    .into_iter()
    .collect();
    assert_eq!(d.hyper_parameters().unwrap(), &expected);
    let channels: Vec<_> = d
        .input_data_config()
        .iter()
        .map(|c| {
            let s3 = c.data_source().unwrap().s3_data_source().unwrap();
            (
                c.channel_name().unwrap_or("").to_string(),
                c.content_type().unwrap_or("").to_string(),
                s3.s3_data_type().map_or("", |t| t.as_str()).to_string(),
                s3.s3_uri().unwrap_or("").to_string(),
                s3.s3_data_distribution_type()
                    .map(|t| t.as_str().to_string()),
            )
        })
        .collect();
    let fully = Some("FullyReplicated".to_string());
    assert_eq!(
        channels,
        [
            (
                "train".into(),
                "text/csv".into(),
                "S3Prefix".into(),
                "s3://data/ipinsights/train.csv".into(),
                fully.clone()
            ),
            (
                "validation".into(),
                "text/csv".into(),
                "S3Prefix".into(),
                "s3://data/ipinsights/validation.csv".into(),
                fully
            ),
        ]
    );
    assert_eq!(
        d.output_data_config().unwrap().s3_output_path(),
        Some("s3://data/models/")
    );
    let rc = d.resource_config().unwrap();
    assert_eq!(rc.instance_type().unwrap().as_str(), "ml.m5.large");
    assert_eq!(rc.instance_count(), Some(1));
    assert_eq!(rc.volume_size_in_gb(), Some(10));
    assert_eq!(
        d.stopping_condition().unwrap().max_runtime_in_seconds(),
        Some(86_400)
    );
    let artifact = d
        .model_artifacts()
        .unwrap()
        .s3_model_artifacts()
        .unwrap()
        .to_string();

    // CreateModel, CreateEndpointConfig and CreateEndpoint, as recorded.
    let name = format!("ipi-test-{unique}");
    let stdout = ok(ipinsights(&endpoint)
        .args(["deploy", "--training-job", &job, "--endpoint", &name])
        .args(["--poll-seconds", "0"])
        .output()
        .unwrap());
    assert!(stdout.contains("InService"), "{stdout}");
    let e = rt
        .block_on(sm.describe_endpoint().endpoint_name(&name).send())
        .unwrap();
    assert_eq!(e.endpoint_status().unwrap().as_str(), "InService");
    let config_name = e.endpoint_config_name().unwrap().to_string();
    assert!(
        config_name.starts_with(&format!("{name}-")),
        "{config_name}"
    );
    let c = rt
        .block_on(
            sm.describe_endpoint_config()
                .endpoint_config_name(&config_name)
                .send(),
        )
        .unwrap();
    let v = &c.production_variants()[0];
    assert_eq!(v.variant_name(), Some("AllTraffic"));
    assert_eq!(v.model_name(), Some(config_name.as_str()));
    assert_eq!(v.instance_type().unwrap().as_str(), "ml.m5.large");
    assert_eq!(v.initial_instance_count(), Some(1));
    assert_eq!(v.initial_variant_weight(), Some(1.0));
    let m = rt
        .block_on(sm.describe_model().model_name(&config_name).send())
        .unwrap();
    let container = m.primary_container().unwrap();
    assert_eq!(container.image(), Some(IMAGE));
    assert_eq!(container.model_data_url(), Some(artifact.as_str()));
    assert_eq!(m.execution_role_arn(), Some(ROLE));

    // A second deploy updates the endpoint in place (moto answers UpdateEndpoint with a 500,
    // so the attempt is what can be seen).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = ipinsights(&endpoint)
        .args(["deploy", "--training-job", &job, "--endpoint", &name])
        .args(["--poll-seconds", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        assert!(stderr.contains("UpdateEndpoint"), "{stderr}");
    } else {
        assert!(String::from_utf8_lossy(&out.stdout).contains("updating in place"));
    }
}
