//! Shared set-up of the end-to-end tests (in `tests/tests/`, and the function's own in
//! `functions/ipcheck/tests/`): the local AWS stand-ins that `scripts/test.sh` starts, a
//! fault-injecting proxy, a simulated lake with its model, a Lambda Runtime API that runs the
//! built function, an SQS event source mapping, and the paths of shared fixtures.

pub mod event_source;
pub mod fault_proxy;
pub mod lake;
pub mod runtime_api;

use std::path::PathBuf;

/// The moto server `scripts/test.sh` started (`MOTO_ENDPOINT`). Without it the calling test is
/// skipped, except under `CI=true`, where a missing server is a failure.
pub fn moto_endpoint() -> Option<String> {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(url) if url.starts_with("http://127.0.0.1:") => Some(url),
        Ok(url) => panic!("MOTO_ENDPOINT must be on 127.0.0.1, got {url}"),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but MOTO_ENDPOINT is not set: run the tests through scripts/test.sh"
            );
            eprintln!("skipping: MOTO_ENDPOINT not set (scripts/test.sh starts moto)");
            None
        }
    }
}

/// SDK configuration for the local server: test credentials, fixed region, the server as the
/// endpoint of every service, no IMDS. Build any service's client from it.
pub fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "tests"),
        ))
        .endpoint_url(endpoint)
        .build()
}

/// An S3 client for the local server ([`sdk_config`]) with path-style addressing.
pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk_config(endpoint))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A command for one of the workspace's binaries (pass `env!("CARGO_BIN_EXE_<name>")`), with
/// IMDS off so that nothing reaches beyond loopback.
pub fn command(bin: &str) -> std::process::Command {
    let mut c = std::process::Command::new(bin);
    c.env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

/// Runs `cmd` and fails the test with its standard error unless it succeeds; returns
/// `(stdout, stderr)`.
pub fn run_ok(cmd: &mut std::process::Command) -> (String, String) {
    let out = cmd.output().expect("run the command");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{stderr}");
    (stdout, stderr)
}

/// AWS's Security Lake sample objects (`../shared` beside the project).
pub fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/security-lake-samples")
}

/// Creates `bucket` (ignoring "already exists") and uploads `body` at `key`.
pub async fn put_object(client: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    let _ = client.create_bucket().bucket(bucket).send().await;
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
}

/// POSTs JSON to one of moto's own control routes (`/moto-api/…`), e.g. to script the state
/// transitions of Athena queries or queue query results; panics unless moto answers 2xx.
pub fn moto_api(endpoint: &str, path: &str, json: &str) {
    use std::io::{Read, Write};
    let addr = endpoint
        .strip_prefix("http://")
        .expect("moto endpoint is http://host:port");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to moto");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )
    .expect("write to moto");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read from moto");
    let status = response.split(' ').nth(1).unwrap_or("");
    assert!(
        status.starts_with('2'),
        "moto {path} answered: {}",
        response.lines().next().unwrap_or("")
    );
}

/// The Python of the test venv (with DuckDB), which `scripts/test.sh` exports as
/// `IPINSIGHTS_TEST_PYTHON`; `None` (the test is skipped) outside it, except under `CI=true`.
pub fn test_python() -> Option<PathBuf> {
    match std::env::var_os("IPINSIGHTS_TEST_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but IPINSIGHTS_TEST_PYTHON is not set: run the tests through scripts/test.sh"
            );
            eprintln!("skipping: IPINSIGHTS_TEST_PYTHON not set (scripts/test.sh sets it)");
            None
        }
    }
}

/// Our findings (generator `seclake-ipinsights/ipcheck`) that Security Hub holds for `account`,
/// by id. moto's GetFindings ignores filters, so they are applied here.
pub async fn our_findings(
    hub: &aws_sdk_securityhub::Client,
    account: &str,
) -> std::collections::BTreeMap<String, aws_sdk_securityhub::types::AwsSecurityFinding> {
    let mut out = std::collections::BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = hub
            .get_findings()
            .max_results(100)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("GetFindings");
        for f in page.findings() {
            if f.generator_id() == Some(findings::GENERATOR_ID)
                && f.aws_account_id() == Some(account)
                && let Some(id) = f.id()
            {
                out.insert(id.to_string(), f.clone());
            }
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return out;
        }
    }
}
