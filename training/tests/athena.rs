//! `prepare --athena` and `trends --athena` against moto's Athena and S3, with DuckDB standing
//! in for Athena's engine (moto accepts queries but never runs them).
//!
//! Each test holds the query in RUNNING through moto's state manager, reads the SQL the CLI
//! sent, runs that exact text in DuckDB over the simulated lake (`athena_duckdb.py`), puts the
//! result where Athena would (UNLOAD files in S3, or moto's query-results queue), lets the query
//! succeed, and then checks that the CLI's output equals the output of the local path on the same
//! lake. So the SQL is checked for meaning, not only for shape.
#![cfg(feature = "aws-control-plane")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e_tests::{moto_api, moto_endpoint, put_object, s3_client, test_python};

/// moto's state manager and query-results queue are global: one Athena test at a time.
static ATHENA: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const DATABASE: &str = "amazon_security_lake_glue_db_us_east_1";

fn ipinsights(endpoint: Option<&str>) -> Command {
    let mut c = e2e_tests::command(env!("CARGO_BIN_EXE_ipinsights"));
    if let Some(endpoint) = endpoint {
        c.env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
    }
    c
}

fn run(cmd: &mut Command) -> String {
    e2e_tests::run_ok(cmd).0
}

fn athena_client(endpoint: &str) -> aws_sdk_athena::Client {
    aws_sdk_athena::Client::new(&e2e_tests::sdk_config(endpoint))
}

fn glue_client(endpoint: &str) -> aws_sdk_glue::Client {
    aws_sdk_glue::Client::new(&e2e_tests::sdk_config(endpoint))
}

/// Creates the Glue database and the named tables (names only: Athena's part is DuckDB's here).
async fn glue_tables(endpoint: &str, database: &str, tables: &[&str]) {
    let glue = glue_client(endpoint);
    let _ = glue
        .create_database()
        .database_input(
            aws_sdk_glue::types::DatabaseInput::builder()
                .name(database)
                .build()
                .unwrap(),
        )
        .send()
        .await;
    for t in tables {
        let _ = glue
            .create_table()
            .database_name(database)
            .table_input(
                aws_sdk_glue::types::TableInput::builder()
                    .name(*t)
                    .build()
                    .unwrap(),
            )
            .send()
            .await;
    }
}

/// Every Security Lake table of the simulated lake.
const ALL_TABLES: &[&str] = &[
    "amazon_security_lake_table_us_east_1_vpc_flow_1_0",
    "amazon_security_lake_table_us_east_1_vpc_flow_2_0",
    "amazon_security_lake_table_us_east_1_route53_1_0",
    "amazon_security_lake_table_us_east_1_route53_2_0",
    "amazon_security_lake_table_us_east_1_sh_findings_1_0",
    "amazon_security_lake_table_us_east_1_sh_findings_2_0",
];

/// A simulated lake with both source versions; returns its bucket directory.
fn simulated_lake(dir: &Path, extra: &[&str]) -> PathBuf {
    let lake = dir.join("lake");
    run(ipinsights(None)
        .args(["simulate", "--out"])
        .arg(&lake)
        .args([
            "--estate",
            "basic",
            "--days",
            "4",
            "--accounts",
            "3",
            "--rows-per-object",
            "2000",
            "--anomalies",
            "4",
        ])
        .args(extra));
    std::fs::read_dir(&lake)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("aws-"))
        .expect("bucket directory")
}

/// Keeps every new Athena query RUNNING until [`release_queries`].
fn hold_queries(endpoint: &str) {
    moto_api(
        endpoint,
        "/moto-api/state-manager/set-transition",
        r#"{"model_name": "athena::execution", "transition": {"progression": "manual", "times": 1000000000}}"#,
    );
}

fn release_queries(endpoint: &str) {
    moto_api(
        endpoint,
        "/moto-api/state-manager/set-transition",
        r#"{"model_name": "athena::execution", "transition": {"progression": "immediate"}}"#,
    );
}

/// Waits for a query the CLI started after `known` and returns (id, SQL, database, output).
async fn next_query(
    client: &aws_sdk_athena::Client,
    known: &[String],
    cli: &mut Child,
) -> (String, String, Option<String>, Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = cli.try_wait().unwrap() {
            panic!("the CLI ended before starting a query: {status}");
        }
        let ids = client
            .list_query_executions()
            .send()
            .await
            .unwrap()
            .query_execution_ids
            .unwrap_or_default();
        if let Some(id) = ids.into_iter().find(|id| !known.contains(id)) {
            let e = client
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .unwrap()
                .query_execution
                .unwrap();
            assert_eq!(
                e.status
                    .as_ref()
                    .and_then(|s| s.state.as_ref())
                    .map(|s| s.as_str()),
                Some("QUEUED"),
                "held queries stay queued"
            );
            assert_eq!(e.work_group.as_deref(), Some("primary"));
            return (
                id,
                e.query.unwrap(),
                e.query_execution_context.and_then(|c| c.database),
                e.result_configuration.and_then(|c| c.output_location),
            );
        }
        assert!(Instant::now() < deadline, "no Athena query started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn known_queries(client: &aws_sdk_athena::Client) -> Vec<String> {
    client
        .list_query_executions()
        .send()
        .await
        .unwrap()
        .query_execution_ids
        .unwrap_or_default()
}

/// Runs `sql` in DuckDB over the lake; returns the file written.
fn duckdb(python: &Path, lake: &Path, sql: &str, out: &Path) -> PathBuf {
    let sql_file = out.with_extension("sql");
    std::fs::write(&sql_file, sql).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/athena_duckdb.py");
    let status = Command::new(python)
        .arg(script)
        .arg(lake)
        .args([DATABASE, "us_east_1"])
        .arg(&sql_file)
        .arg(out)
        .status()
        .expect("run python");
    assert!(
        status.success(),
        "DuckDB could not run the CLI's SQL:\n{sql}"
    );
    out.to_path_buf()
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let body = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get s3://{bucket}/{key}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// Lines as a multiset.
fn line_counts(s: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in s.lines() {
        *m.entry(l.to_string()).or_default() += 1;
    }
    m
}

/// Fails with the lines whose counts differ, not with two whole files.
fn assert_same_lines(here: &str, there: &str, what: &str) {
    let (a, b) = (line_counts(here), line_counts(there));
    let differ: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .take(10)
        .map(|k| format!("{k}: local {:?}, athena {:?}", a.get(k), b.get(k)))
        .collect();
    assert!(
        differ.is_empty(),
        "{what}: lines differ:\n{}",
        differ.join("\n")
    );
}

/// Objects whose addresses and entities need every rule of the extractor (padding, leading
/// zeros, IPv4-mapped IPv6, IPv6, sentinels, nulls, out-of-range octets, unsafe entities,
/// duplicates that only normalisation reveals, A/AAAA/CNAME answers), written by DuckDB into
/// the lake beside the simulated ones.
const EDGE_CASES: &str = r#"
import sys, duckdb
lake = sys.argv[1]
part = "region=us-east-1/accountId=111111111111/eventDay=20260106"
con = duckdb.connect()
import os
for d in ("VPC_FLOW/1.0", "ROUTE53/1.0"):
    os.makedirs(f"{lake}/aws/{d}/{part}", exist_ok=True)
con.execute(f"""COPY (SELECT * FROM (VALUES
  ({{'instance_uid': ' i-0edge00000000001 ', 'ip': '012.000.022.033'}}, {{'instance_uid': 'i-0edge00000000002', 'ip': '::ffff:10.1.2.3'}}),
  ({{'instance_uid': 'i-0edge00000000001', 'ip': '12.0.22.33'}}, {{'instance_uid': '-', 'ip': '[::FFFF:10.1.2.4]'}}),
  ({{'instance_uid': 'i-0edge00000000003', 'ip': ' 10.9.9.9 '}}, {{'instance_uid': NULL, 'ip': '256.1.1.1'}}),
  ({{'instance_uid': '', 'ip': '10.1.1.1'}}, {{'instance_uid': 'i-0edge00000000004', 'ip': '1.2.3'}}),
  ({{'instance_uid': 'i-0edge,comma', 'ip': '10.1.1.2'}}, {{'instance_uid': 'i-0edge00000000005', 'ip': 'fe80::1'}}),
  ({{'instance_uid': 'i-0edge00000000006', 'ip': '1.2.3.4.5'}}, {{'instance_uid': 'i-0edge00000000007', 'ip': '0001.2.3.4'}}),
  ({{'instance_uid': 'i-0edge00000000008', 'ip': NULL}}, {{'instance_uid': 'i-0edge00000000008', 'ip': '-'}}),
  ({{'instance_uid': 'i-0edge00000000009', 'ip': '0:0:0:0:0:ffff:10.1.2.5'}}, {{'instance_uid': 'i-0edge0000000000a', 'ip': '0::ffff:10.1.2.6'}}),
  ({{'instance_uid': 'i-0edge0000000000b', 'ip': '::0:ffff:10.1.2.7'}}, {{'instance_uid': 'i-0edge0000000000c', 'ip': '::ffff:012.0.0.1'}}),
  ({{'instance_uid': 'i-0edge0000000000e', 'ip': '[::ffff:10.1.2.8'}}, {{'instance_uid': 'i-0edge0000000000f', 'ip': '0:0:0:0:0::ffff:10.1.2.9'}}),
  ({{'instance_uid': 'i-0edge0000000000g', 'ip': 'x' || chr(10) || '::ffff:10.1.2.10'}}, {{'instance_uid': 'i-0edge0000000000h', 'ip': '0000:0::FFFF:10.1.2.11'}})
) AS t(src_endpoint, dst_endpoint)) TO '{lake}/aws/VPC_FLOW/1.0/{part}/edge-cases.parquet' (FORMAT parquet)""")
con.execute(f"""COPY (SELECT * FROM (VALUES
  ({{'instance_uid': 'i-0edge0000000000d', 'ip': '10.3.3.3'}}, [
     {{'type': 'a', 'rdata': '010.0.0.1'}}, {{'type': 'AAAA', 'rdata': '::ffff:10.0.0.2'}},
     {{'type': 'AAAA', 'rdata': '2001:db8::1'}}, {{'type': 'CNAME', 'rdata': 'x.example.com'}},
     {{'type': 'A', 'rdata': NULL}}])
) AS t(src_endpoint, answers)) TO '{lake}/aws/ROUTE53/1.0/{part}/edge-cases.parquet' (FORMAT parquet)""")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn prepare_athena_equals_reading_the_lake() {
    let (Some(endpoint), Some(python)) = (moto_endpoint(), test_python()) else {
        return;
    };
    let _serial = ATHENA.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let lake = simulated_lake(dir.path(), &["--versions", "by-account"]);
    let status = Command::new(&python)
        .args(["-c", EDGE_CASES])
        .arg(&lake)
        .status()
        .unwrap();
    assert!(status.success(), "writing the edge-case objects");
    glue_tables(&endpoint, DATABASE, ALL_TABLES).await;
    let athena = athena_client(&endpoint);
    let s3 = s3_client(&endpoint);
    let bucket = "ipinsights-athena-out";
    let _ = s3.create_bucket().bucket(bucket).send().await;
    let window = ["--since", "20260105", "--until", "20260108"];

    // Every pairing with its instance groups (prepare's default --group-by subnet), so the
    // group rows and the initiator rules are compared too.
    for pairing in ["src", "peer", "initiator"] {
        let local = dir.path().join(format!("local-{pairing}"));
        run(ipinsights(None)
            .args(["prepare", "--lake"])
            .arg(&lake)
            .args(window)
            .args([
                "--pairing",
                pairing,
                "--validation-days",
                "1",
                "--quiet",
                "--out",
            ])
            .arg(&local));

        hold_queries(&endpoint);
        let known = known_queries(&athena).await;
        let out = format!("s3://{bucket}/{pairing}/");
        let mut cli = ipinsights(Some(&endpoint))
            .args(["prepare", "--athena", "--database", DATABASE])
            .args(window)
            .args([
                "--pairing",
                pairing,
                "--validation-days",
                "1",
                "--athena-poll-ms",
                "20",
            ])
            .args(["--output", &out])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (_, sql, database, results) = next_query(&athena, &known, &mut cli).await;
        assert_eq!(database.as_deref(), Some(DATABASE));
        assert!(
            results
                .as_deref()
                .is_some_and(|r| r.starts_with(&format!("{out}athena/results/"))),
            "{results:?}"
        );
        let location = sql
            .split("TO '")
            .nth(1)
            .and_then(|s| s.split('\'').next())
            .expect("UNLOAD … TO 'location'")
            .to_string();
        assert!(location.starts_with(&format!("{out}athena/")), "{location}");
        assert!(sql.contains("amazon_security_lake_table_us_east_1_vpc_flow_1_0"));
        assert!(sql.contains("amazon_security_lake_table_us_east_1_route53_2_0"));

        // Athena's part: run the SQL, write gzip CSV where the UNLOAD points, in two files.
        let result = duckdb(
            &python,
            &lake,
            &sql,
            &dir.path().join(format!("unload-{pairing}.csv")),
        );
        let text = std::fs::read_to_string(&result).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 100, "{} rows", lines.len());
        let key_prefix = location.trim_start_matches(&format!("s3://{bucket}/"));
        for (i, chunk) in lines.chunks(lines.len() / 2 + 1).enumerate() {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, (chunk.join("\n") + "\n").as_bytes()).unwrap();
            put_object(
                &s3,
                bucket,
                &format!("{key_prefix}20260108_{i:05}_part.gz"),
                gz.finish().unwrap(),
            )
            .await;
        }
        release_queries(&endpoint);
        let output = tokio::task::spawn_blocking(move || cli.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "prepare --athena failed:\n{stderr}"
        );
        assert!(
            stderr.contains("QUEUED after"),
            "progress is reported:\n{stderr}"
        );

        // Same pairs, same split, same counts as reading the objects here.
        for file in ["train.csv", "validation.csv"] {
            let here = std::fs::read_to_string(local.join(file)).unwrap();
            let there = get(&s3, bucket, &format!("{pairing}/{file}")).await;
            assert_same_lines(&here, &there, &format!("{pairing} {file}"));
            if file == "train.csv" {
                let expected: &[&str] = match pairing {
                    "src" => &[
                        "i-0edge00000000001,12.0.22.33",
                        "i-0edge00000000003,10.9.9.9",
                        "i-0edge00000000009,10.1.2.5",
                        "i-0edge0000000000b,10.1.2.7",
                        "i-0edge0000000000d,10.3.3.3",
                    ],
                    // The edge flow records carry no ports, flags or direction: undecided; the
                    // Route 53 answers are the querying instance's, as with peer.
                    "initiator" => &["i-0edge0000000000d,10.0.0.1", "i-0edge0000000000d,10.0.0.2"],
                    _ => &[
                        "i-0edge00000000001,10.1.2.3",
                        "i-0edge00000000001,10.1.2.4",
                        "i-0edge00000000002,12.0.22.33",
                        "i-0edge00000000004,10.1.1.1",
                        "i-0edge00000000005,10.1.1.2",
                        "i-0edge00000000009,10.1.2.6",
                        "i-0edge0000000000a,10.1.2.5",
                        "i-0edge0000000000c,10.1.2.7",
                        "i-0edge0000000000d,10.0.0.1",
                        "i-0edge0000000000d,10.0.0.2",
                        "i-0edge0000000000g,10.1.2.11",
                    ],
                };
                let mut edge: Vec<&str> =
                    here.lines().filter(|l| l.starts_with("i-0edge")).collect();
                edge.sort();
                assert_eq!(
                    edge, expected,
                    "{pairing}: the edge cases as the extractor reads them"
                );
            }
        }
        let here: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(local.join("manifest.json")).unwrap())
                .unwrap();
        let there: serde_json::Value =
            serde_json::from_str(&get(&s3, bucket, &format!("{pairing}/manifest.json")).await)
                .unwrap();
        for field in [
            "pairs",
            "distinct_entities",
            "recommended_num_entity_vectors",
        ] {
            assert_eq!(here[field], there[field], "{pairing} {field}");
        }
        assert_eq!(there["athena"]["files"], 2);
        assert!(there["objects"].is_null() && there["rows"].is_null());
        assert!(there["train"]["stats"].get("objects").is_none());
        // The UNLOAD files are gone once the outputs are written.
        let left = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(key_prefix)
            .send()
            .await
            .unwrap()
            .key_count();
        assert_eq!(left, Some(0), "UNLOAD files deleted");
        assert_eq!(there["athena"]["bad_lines"], 0);
        assert_eq!(there["validation"]["url"], format!("{out}validation.csv"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn trends_athena_and_s3_equal_the_local_report() {
    let (Some(endpoint), Some(python)) = (moto_endpoint(), test_python()) else {
        return;
    };
    let _serial = ATHENA.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let lake = simulated_lake(dir.path(), &["--sh-findings-days", "35"]);
    let window = [
        "--since", "20260105", "--until", "20260208", "--format", "json",
    ];
    let local: serde_json::Value = serde_json::from_str(&run(ipinsights(None)
        .args(["trends", "--lake"])
        .arg(&lake)
        .args(window)))
    .unwrap();
    assert!(local["series"].as_array().unwrap().len() >= 3);

    // The same objects in S3 (moto): reading findings from S3 gives the same report.
    let s3 = s3_client(&endpoint);
    let bucket = "ipinsights-trends-lake";
    let findings_dir = lake.join("aws/SH_FINDINGS");
    let mut stack = vec![findings_dir.clone()];
    let mut uploaded = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let key = p.strip_prefix(&lake).unwrap().to_string_lossy().to_string();
                put_object(&s3, bucket, &key, std::fs::read(&p).unwrap()).await;
                uploaded += 1;
            }
        }
    }
    assert!(uploaded >= 2);
    let from_s3: serde_json::Value = serde_json::from_str(&run(ipinsights(Some(&endpoint))
        .args(["trends", "--lake", &format!("s3://{bucket}")])
        .args(window)))
    .unwrap();
    assert_eq!(from_s3, local, "the report from S3 equals the local one");

    // Athena: the GROUP BY runs in DuckDB and its rows come back through GetQueryResults.
    glue_tables(&endpoint, DATABASE, ALL_TABLES).await;
    let athena = athena_client(&endpoint);
    hold_queries(&endpoint);
    let known = known_queries(&athena).await;
    let mut cli = ipinsights(Some(&endpoint))
        .args(["trends", "--athena", "--database", DATABASE, "--quiet"])
        .args([
            "--athena-results",
            "s3://ipinsights-athena-results/",
            "--athena-poll-ms",
            "20",
        ])
        .args(window)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (_, sql, _, results) = next_query(&athena, &known, &mut cli).await;
    assert_eq!(
        results
            .as_deref()
            .map(|r| r.starts_with("s3://ipinsights-athena-results/")),
        Some(true)
    );
    assert!(sql.contains("amazon_security_lake_table_us_east_1_sh_findings_1_0"));
    assert!(sql.contains("amazon_security_lake_table_us_east_1_sh_findings_2_0"));
    let csv = std::fs::read_to_string(duckdb(
        &python,
        &lake,
        &sql,
        &dir.path().join("findings.csv"),
    ))
    .unwrap();
    // As Athena returns a SELECT: the header row first, NULL as a value without VarCharValue.
    let rows: Vec<serde_json::Value> = csv
        .lines()
        .map(|line| {
            // Keys hold " | " but no commas; the last two fields are numbers.
            let mut f: Vec<&str> = line.rsplitn(3, ',').collect();
            f.reverse();
            let data: Vec<serde_json::Value> = f
                .iter()
                .map(|v| {
                    // athena_duckdb.py writes NULL as \N; an empty string stays a value.
                    if *v == "\\N" {
                        serde_json::json!({})
                    } else {
                        serde_json::json!({ "VarCharValue": v })
                    }
                })
                .collect();
            serde_json::json!({ "Data": data })
        })
        .collect();
    let body = serde_json::json!({
        "account_id": "123456789012",
        "region": "us-east-1",
        "results": [{ "rows": rows, "column_info": [] }],
    });
    moto_api(
        &endpoint,
        "/moto-api/static/athena/query-results",
        &body.to_string(),
    );
    release_queries(&endpoint);
    let output = tokio::task::spawn_blocking(move || cli.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "trends --athena failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let there: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for field in [
        "series",
        "top_growing",
        "top_shrinking",
        "findings_in_window",
        "findings_without_key",
        "series_skipped_short",
        "outlier_rule",
    ] {
        assert_eq!(there[field], local[field], "{field}");
    }
    let by_key: BTreeMap<&str, usize> = there["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap(),
                s["days"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert!(!by_key.is_empty());
    assert!(there["athena"]["query_execution_id"].is_string());
    assert!(there["objects"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_the_athena_query() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let _serial = ATHENA.lock().await;
    // A lake that collects source version 2.0 only: the 1.0 tables are left out, with a warning.
    let partial = "lake_v2_only";
    glue_tables(
        &endpoint,
        partial,
        &[
            "amazon_security_lake_table_us_east_1_vpc_flow_2_0",
            "amazon_security_lake_table_us_east_1_route53_2_0",
        ],
    )
    .await;
    let athena = athena_client(&endpoint);
    hold_queries(&endpoint);
    let known = known_queries(&athena).await;
    let mut cli = ipinsights(Some(&endpoint))
        .args([
            "prepare",
            "--athena",
            "--database",
            partial,
            "--table-region",
            "us-east-1",
        ])
        .args([
            "--since",
            "20260105",
            "--until",
            "20260108",
            "--athena-poll-ms",
            "20",
        ])
        .args(["--output", "s3://ipinsights-athena-out/interrupted/"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (id, sql, _, _) = next_query(&athena, &known, &mut cli).await;
    assert!(sql.contains("\"lake_v2_only\".\"amazon_security_lake_table_us_east_1_vpc_flow_2_0\""));
    assert!(
        sql.contains("route53_2_0") && !sql.contains("_1_0"),
        "{sql}"
    );
    // The listener exists before the query starts, so this Ctrl-C cannot be missed.
    let status = Command::new("kill")
        .args(["-INT", &cli.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || cli.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    release_queries(&endpoint);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "exits with an error:\n{stderr}"
    );
    assert!(
        stderr.contains(
            "lake_v2_only has no table amazon_security_lake_table_us_east_1_vpc_flow_1_0: skipped"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("interrupted: Athena query {id} stopped")),
        "{stderr}"
    );
    let state = athena
        .get_query_execution()
        .query_execution_id(&id)
        .send()
        .await
        .unwrap()
        .query_execution
        .and_then(|e| e.status)
        .and_then(|s| s.state)
        .map(|s| s.as_str().to_string());
    assert_eq!(state.as_deref(), Some("CANCELLED"));
}

#[test]
fn print_sql_makes_no_call() {
    // Port 9 is closed: any AWS call would fail the command.
    let closed = "http://127.0.0.1:9";
    let unload = run(ipinsights(Some(closed))
        .args(["prepare", "--athena", "--print-sql", "--database", DATABASE])
        .args([
            "--since",
            "2026-01-01",
            "--until",
            "2026-01-28",
            "--pairing",
            "peer",
        ])
        .args(["--out", "s3://my-bucket/ipinsights/data/"]));
    assert!(
        unload.starts_with("UNLOAD (\nSELECT entity, ip, day FROM ("),
        "{unload}"
    );
    assert!(unload.contains("TO 's3://my-bucket/ipinsights/data/athena/"));
    assert!(unload.contains("\"amazon_security_lake_table_us_east_1_route53_2_0\""));
    assert!(unload.trim_end().ends_with(';'));
    let select = run(ipinsights(Some(closed))
        .args(["trends", "--athena", "--print-sql", "--database", "my_link"])
        .args(["--table-region", "eu-west-2", "--key", "account,severity"])
        .args(["--since", "2026-01-01", "--until", "2026-01-31"]));
    assert!(
        select.starts_with("SELECT key, day, count(*) AS findings"),
        "{select}"
    );
    assert!(
        select.contains("\"my_link\".\"amazon_security_lake_table_eu_west_2_sh_findings_1_0\"")
    );
    assert!(select.contains("cloud.account.uid || ' | ' || severity"));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_table_to_query_is_an_error_before_any_query() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    glue_tables(
        &endpoint,
        "lake_findings_only",
        &["amazon_security_lake_table_us_east_1_sh_findings_2_0"],
    )
    .await;
    let out = ipinsights(Some(&endpoint))
        .args(["prepare", "--athena", "--database", "lake_findings_only"])
        .args([
            "--table-region",
            "us-east-1",
            "--since",
            "20260105",
            "--until",
            "20260108",
        ])
        .args(["--out", "s3://ipinsights-athena-out/none/"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("none of the tables"), "{stderr}");
    assert!(
        stderr.contains("tables there: amazon_security_lake_table_us_east_1_sh_findings_2_0"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("started in workgroup"),
        "no query ran:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_glue_listing_queries_every_table() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let _serial = ATHENA.lock().await;
    // A resource link that Glue does not list through looks like an empty database.
    glue_tables(&endpoint, "lake_link", &[]).await;
    let athena = athena_client(&endpoint);
    hold_queries(&endpoint);
    let known = known_queries(&athena).await;
    let mut cli = ipinsights(Some(&endpoint))
        .args([
            "trends",
            "--athena",
            "--database",
            "lake_link",
            "--table-region",
            "us-east-1",
        ])
        .args([
            "--athena-poll-ms",
            "20",
            "--since",
            "20260105",
            "--until",
            "20260131",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (_, sql, _, _) = next_query(&athena, &known, &mut cli).await;
    let _ = Command::new("kill")
        .args(["-INT", &cli.id().to_string()])
        .status();
    let output = tokio::task::spawn_blocking(move || cli.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    release_queries(&endpoint);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        sql.contains("sh_findings_1_0") && sql.contains("sh_findings_2_0"),
        "{sql}"
    );
    assert!(
        stderr.contains("Glue lists no tables in lake_link"),
        "{stderr}"
    );
}
