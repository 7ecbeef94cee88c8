use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::{Array, RecordBatch, StringArray, StructArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{ConvertedType, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::Type;

use super::*;

const SAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/security-lake-samples"
);

/// The AWS samples directory, or `None` (with a note) when it is absent outside CI.
fn samples_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(SAMPLES);
    if dir.join("SCHEMAS.txt").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{SAMPLES}/SCHEMAS.txt is missing (CI=true)");
    }
    eprintln!("note: {SAMPLES}/SCHEMAS.txt not found; skipping the comparison with AWS's schemas");
    None
}

/// Renders a schema the way pyarrow/parquet-cpp print it (SCHEMAS.txt), without field ids.
fn render(t: &Type, depth: usize, out: &mut String) {
    let info = t.get_basic_info();
    let pad = "  ".repeat(depth);
    let rep = if depth == 0 || !info.has_repetition() {
        "required".to_string()
    } else {
        info.repetition().to_string().to_lowercase()
    };
    // A logical type would mean we did not write what parquet-mr 1.10 writes.
    let logical = info
        .logical_type_ref()
        .map(|l| format!(" (LOGICAL {l:?})"))
        .unwrap_or_default();
    let annot = match info.converted_type() {
        ConvertedType::UTF8 => " (String)".to_string(),
        ConvertedType::LIST => " (List)".to_string(),
        ConvertedType::MAP | ConvertedType::MAP_KEY_VALUE => " (Map)".to_string(),
        ConvertedType::TIMESTAMP_MILLIS => " (Timestamp(isAdjustedToUTC=true, timeUnit=milliseconds, is_from_converted_type=true, force_set_converted_type=false))".to_string(),
        ConvertedType::NONE => String::new(),
        other => format!(" ({other})"),
    };
    match t {
        Type::PrimitiveType { physical_type, .. } => {
            let phys = match physical_type {
                PhysicalType::BYTE_ARRAY => "binary".to_string(),
                other => other.to_string().to_lowercase(),
            };
            out.push_str(&format!(
                "{pad}{rep} {phys} {}{annot}{logical};\n",
                t.name()
            ));
        }
        Type::GroupType { fields, .. } => {
            out.push_str(&format!(
                "{pad}{rep} group {}{annot}{logical} {{\n",
                t.name()
            ));
            for f in fields {
                render(f, depth + 1, out);
            }
            out.push_str(&format!("{pad}}}\n"));
        }
    }
}

fn rendered_schema(path: &Path) -> String {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let mut out = String::new();
    render(
        reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema(),
        0,
        &mut out,
    );
    out
}

/// The schema text of the SCHEMAS.txt section whose header contains `needle`.
fn schemas_txt_section(dir: &Path, needle: &str) -> String {
    let text = std::fs::read_to_string(dir.join("SCHEMAS.txt")).unwrap();
    let section = text
        .split("================================================================================")
        .find(|s| s.lines().nth(1).is_some_and(|l| l.contains(needle)))
        .unwrap_or_else(|| panic!("no {needle} section in SCHEMAS.txt"));
    let mut out = String::new();
    for line in section.lines().skip(3) {
        if line.trim().is_empty() {
            break;
        }
        out.push_str(&line.replace("field_id=-1 ", ""));
        out.push('\n');
    }
    out
}

fn small_config() -> SimConfig {
    SimConfig {
        seed: 7,
        days: 3,
        accounts: 3,
        instances: 12,
        rows_per_object: 600,
        row_group_rows: 256,
        anomalies: 9,
        ..SimConfig::default()
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `src_endpoint` (instance_uid, ip) of one row.
type SrcPair = (Option<String>, Option<String>);

/// (instance_uid, ip) of `src_endpoint` of every row, through the arrow reader with a two-leaf
/// projection.
fn src_pairs(path: &Path) -> Vec<SrcPair> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let descr = builder.metadata().file_metadata().schema_descr();
    let leaf = |p: &str| {
        descr
            .columns()
            .iter()
            .position(|c| c.path().string() == p)
            .unwrap_or_else(|| panic!("no leaf {p}"))
    };
    let mask = ProjectionMask::leaves(
        descr,
        [leaf("src_endpoint.instance_uid"), leaf("src_endpoint.ip")],
    );
    let reader = builder.with_projection(mask).build().unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch: RecordBatch = batch.unwrap();
        let src = batch
            .column_by_name("src_endpoint")
            .unwrap()
            .as_any()
            .downcast_ref::<StructArray>()
            .unwrap();
        let strings = |name: &str| {
            src.column_by_name(name)
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone()
        };
        let (iid, ip) = (strings("instance_uid"), strings("ip"));
        for i in 0..batch.num_rows() {
            let get = |a: &StringArray| (!a.is_null(i)).then(|| a.value(i).to_string());
            out.push((get(&iid), get(&ip)));
        }
    }
    out
}

#[test]
fn v1_schemas_match_aws_samples() {
    let Some(dir) = samples_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for (source, needle, fixture) in [
        (
            Source::VpcFlow,
            "1.0.0-rc.2/VPC_FLOW/",
            "1.0.0-rc.2/VPC_FLOW/example1.gz.parquet",
        ),
        (
            Source::Route53,
            "1.0.0-rc.2/ROUTE53/",
            "1.0.0-rc.2/ROUTE53/example3.json.gz.parquet",
        ),
    ] {
        let path = tmp.path().join(format!("{source}.parquet"));
        write_single_object(
            &path,
            &ObjectSpec {
                source: source.clone(),
                rows: 50,
                instances: 5,
                ..ObjectSpec::default()
            },
        )
        .unwrap();
        let ours = rendered_schema(&path);
        let mut printed = Vec::new();
        parquet::schema::printer::print_schema(
            &mut printed,
            &schema::schema(&source, SourceVersion::V1).unwrap(),
        );
        assert_eq!(
            ours,
            schemas_txt_section(&dir, needle),
            "{source} vs SCHEMAS.txt; print_schema:\n{}",
            String::from_utf8_lossy(&printed)
        );
        // The fixture file itself, read by the same reader: same tree, same annotations.
        assert_eq!(
            ours,
            rendered_schema(&dir.join(fixture)),
            "{source} vs {fixture}"
        );

        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let md = reader.metadata().file_metadata();
        assert_eq!(md.created_by(), Some(schema::CREATED_BY));
        let kv: BTreeMap<_, _> = md
            .key_value_metadata()
            .unwrap()
            .iter()
            .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
            .collect();
        assert_eq!(kv["writer.model.name"], "avro");
        let avro: serde_json::Value = serde_json::from_str(&kv["parquet.avro.schema"]).unwrap();
        assert_eq!(avro["type"], "record");
        assert_eq!(avro["version"], "1.0.0-rc.2");
        let codec = reader.metadata().row_group(0).column(0).compression();
        assert!(
            matches!(codec, parquet::basic::Compression::GZIP(_)),
            "{codec:?}"
        );
    }
}

#[test]
fn v1_avro_schemas_match_aws_samples() {
    let Some(dir) = samples_dir() else { return };
    for (source, fixture) in [
        (Source::VpcFlow, "1.0.0-rc.2/VPC_FLOW/example1.gz.parquet"),
        (
            Source::Route53,
            "1.0.0-rc.2/ROUTE53/example3.json.gz.parquet",
        ),
    ] {
        let reader = SerializedFileReader::new(File::open(dir.join(fixture)).unwrap()).unwrap();
        let theirs = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap()
            .iter()
            .find(|k| k.key == "parquet.avro.schema")
            .and_then(|k| k.value.clone())
            .unwrap();
        let ours = schema::avro_schema(
            &schema::schema(&source, SourceVersion::V1).unwrap(),
            SourceVersion::V1,
        );
        assert_eq!(ours, theirs, "{source}");
    }
}

#[test]
fn v2_schemas_have_the_ocsf_1_1_layout() {
    let tmp = tempfile::tempdir().unwrap();
    for source in [Source::VpcFlow, Source::Route53] {
        let path = tmp.path().join(format!("{source}-v2.parquet"));
        write_single_object(
            &path,
            &ObjectSpec {
                source: source.clone(),
                version: SourceVersion::V2,
                rows: 200,
                row_group_rows: 64,
                instances: 6,
                compression: Codec::Zstd,
                ..ObjectSpec::default()
            },
        )
        .unwrap();
        let text = rendered_schema(&path);
        for line in [
            "  required group cloud {\n    optional group account {\n      optional binary uid (String);\n    }\n",
            "  required int64 time;\n",
            "  optional int64 time_dt (Timestamp(",
            "  optional binary action (String);\n  optional int32 action_id;\n",
            "  required int64 type_uid;\n",
            "  optional group observables (List) {\n    repeated group array {\n      optional binary name (String);\n      optional binary value (String);\n      optional binary type (String);\n      optional int32 type_id;\n    }\n  }\n",
        ] {
            assert!(
                text.contains(line),
                "{source} v2 schema lacks {line:?}:\n{text}"
            );
        }
        assert!(!text.contains("account_uid"));
        if source == Source::VpcFlow {
            assert!(text.contains("  optional int64 start_time_dt (Timestamp("));
            assert!(text.contains("  optional int64 end_time_dt (Timestamp("));
            // Endpoints are the same as in 1.0.
            let v1 = schema::message_text(&source, SourceVersion::V1).unwrap();
            let v2 = schema::message_text(&source, SourceVersion::V2).unwrap();
            let block = |t: &str| {
                let s = t.find("required group src_endpoint").unwrap();
                let e = t.find("required group connection_info").unwrap();
                t[s..e].to_string()
            };
            assert_eq!(block(&v1), block(&v2));
        }

        // The whole file decodes through arrow, nested lists and timestamps included.
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let mut rows = 0;
        for batch in reader {
            let batch = batch.unwrap();
            rows += batch.num_rows();
            let time_dt = batch.column_by_name("time_dt").unwrap();
            assert!(
                matches!(
                    time_dt.data_type(),
                    arrow_schema::DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, _)
                ),
                "{:?}",
                time_dt.data_type()
            );
            let obs = batch.column_by_name("observables").unwrap();
            assert!(matches!(obs.data_type(), arrow_schema::DataType::List(_)));
        }
        assert_eq!(rows, 200);
        // And through the record API, which walks every level.
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.get_row_iter(None).unwrap().count(), 200);
        assert_eq!(reader.metadata().num_row_groups(), 4);
    }
}

#[test]
fn rows_look_like_vpc_flow_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vpc.parquet");
    let stats = write_single_object(
        &path,
        &ObjectSpec {
            rows: 20_000,
            row_group_rows: 5_000,
            instances: 30,
            compression: Codec::Snappy,
            ..ObjectSpec::default()
        },
    )
    .unwrap();
    assert_eq!((stats.rows, stats.row_groups), (20_000, 4));
    assert_eq!(stats.bytes, std::fs::metadata(&path).unwrap().len());
    assert_eq!(stats.etag, util::md5_hex(&std::fs::read(&path).unwrap()));
    let pairs = src_pairs(&path);
    assert_eq!(pairs.len(), 20_000);
    let count = |f: &dyn Fn(&SrcPair) -> bool| pairs.iter().filter(|p| f(p)).count();
    let with_instance = count(&|p| p.0.as_deref().is_some_and(|i| i.starts_with("i-0")));
    let null_instance = count(&|p| p.0.is_none());
    let dash_both = count(&|p| p.0.as_deref() == Some("-") && p.1.as_deref() == Some("-"));
    let dash_instance = count(&|p| p.0.as_deref() == Some("-") && p.1.as_deref() != Some("-"));
    let v6 = count(&|p| p.1.as_deref().is_some_and(|ip| ip.contains(':')));
    for (what, n, lo, hi) in [
        ("instance in src", with_instance, 0.25, 0.75),
        ("null src instance (ingress)", null_instance, 0.20, 0.65),
        ("NODATA rows", dash_both, 0.001, 0.03),
        ("ENIs without instance", dash_instance, 0.02, 0.15),
        ("IPv6", v6, 0.002, 0.06),
    ] {
        let share = n as f64 / pairs.len() as f64;
        assert!((lo..=hi).contains(&share), "{what}: {share}");
    }
    for (iid, ip) in &pairs {
        if let Some(i) = iid.as_deref().filter(|i| i.starts_with("i-")) {
            assert_eq!(i.len(), 19, "{i}");
            let ip = ip.as_deref().unwrap();
            assert!(
                ip.contains(':') || ip.starts_with("10.") || ip.starts_with("172.31."),
                "instance {i} with non-private {ip}"
            );
        }
    }
}

#[test]
fn simulation_is_deterministic() {
    let cfg = SimConfig {
        days: 2,
        accounts: 2,
        instances: 6,
        rows_per_object: 300,
        row_group_rows: 128,
        anomalies: 4,
        ..SimConfig::default()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    simulate(&cfg, a.path()).unwrap();
    simulate(&cfg, b.path()).unwrap();
    let (fa, fb) = (files_under(a.path()), files_under(b.path()));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    assert!(fa.len() > 10);
    for (name, bytes) in &fa {
        assert!(
            bytes == &fb[name],
            "{} differs between runs",
            name.display()
        );
    }
    // A different seed gives a different lake.
    let c = tempfile::tempdir().unwrap();
    simulate(&SimConfig { seed: 8, ..cfg }, c.path()).unwrap();
    assert_ne!(
        std::fs::read(a.path().join("ground-truth.json")).unwrap(),
        std::fs::read(c.path().join("ground-truth.json")).unwrap()
    );
}

/// The crate's own notification parser reads the body back as this object.
fn assert_announces(body: &str, o: &ManifestObject) {
    match crate::parse_body(body).unwrap() {
        crate::Notification::Objects(objects) => {
            assert_eq!(objects.len(), 1);
            let r = &objects[0];
            assert_eq!(
                (r.bucket.as_str(), r.key.as_str()),
                (o.bucket.as_str(), o.key.as_str())
            );
            assert_eq!(r.size, Some(o.bytes));
            assert_eq!(r.etag.as_deref(), Some(o.etag.as_str()));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn lake_layout_rows_anomalies_and_events() {
    let cfg = small_config();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let summary = simulate(&cfg, out).unwrap();
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(&summary.manifest).unwrap()).unwrap();
    let truth: GroundTruth =
        serde_json::from_str(&std::fs::read_to_string(&summary.ground_truth).unwrap()).unwrap();

    // 3 days x 3 accounts x 2 sources, one version per account and day.
    assert_eq!(manifest.objects.len(), 18);
    assert_eq!(summary.objects, 18);
    assert_eq!(summary.anomalies, 9);
    let (region, bucket) = &manifest.buckets[0];
    assert_eq!(region, "us-east-1");
    let suffix = bucket
        .strip_prefix("aws-security-data-lake-us-east-1-")
        .unwrap();
    assert!(
        suffix.len() == 30
            && suffix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );

    let mut versions = BTreeMap::new();
    for o in &manifest.objects {
        let parts: Vec<&str> = o.key.split('/').collect();
        assert_eq!(parts.len(), 7, "{}", o.key);
        assert_eq!(parts[0], "aws");
        assert_eq!(parts[1], o.source);
        assert_eq!(parts[2], o.source_version);
        assert_eq!(parts[3], format!("region={}", o.region));
        assert_eq!(parts[4], format!("accountId={}", o.account));
        assert!(o.account.len() == 12 && o.account.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(parts[5], format!("eventDay={}", o.day));
        let name = parts[6].strip_suffix(".gz.parquet").unwrap();
        assert!(
            name.len() == 32
                && name
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(o.path, format!("{}/{}", o.bucket, o.key));
        *versions.entry(o.source_version.clone()).or_insert(0) += 1;

        // Row counts and row groups as announced.
        let path = out.join(&o.path);
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let md = reader.metadata();
        assert_eq!(md.file_metadata().num_rows() as u64, o.rows);
        let expected_rows = if o.source == "ROUTE53" { 150 } else { 600 };
        assert_eq!(o.rows, expected_rows);
        assert_eq!(md.num_row_groups(), o.rows.div_ceil(256) as usize);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), o.bytes);

        // Shape A: S3 event notification in a Lambda SQS event.
        let s3 = read_json(&out.join(&o.s3_event));
        let rec = &s3["Records"][0];
        assert_eq!(rec["eventSource"], "aws:sqs");
        assert_eq!(rec["awsRegion"], "us-east-1");
        let arn = rec["eventSourceARN"].as_str().unwrap();
        assert!(
            arn.starts_with("arn:aws:sqs:us-east-1:") && arn.ends_with("-Main-Queue"),
            "{arn}"
        );
        let body = rec["body"].as_str().unwrap();
        assert_eq!(rec["md5OfBody"], util::md5_hex(body.as_bytes()));
        assert!(rec["messageId"].as_str().unwrap().len() == 36);
        assert!(rec["receiptHandle"].is_string() && rec["attributes"]["SentTimestamp"].is_string());
        assert!(rec["messageAttributes"].as_object().unwrap().is_empty());
        assert_announces(body, o);
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        let s3rec = &body["Records"][0];
        assert_eq!(s3rec["eventName"], "ObjectCreated:Put");
        assert_eq!(s3rec["s3"]["bucket"]["name"], o.bucket.as_str());
        assert_eq!(s3rec["s3"]["object"]["key"], o.key.replace('=', "%3D"));
        assert_eq!(s3rec["s3"]["object"]["size"], o.bytes.to_string());
        assert_eq!(s3rec["s3"]["object"]["eTag"], o.etag.as_str());

        // Shape B: EventBridge "Object Created" in a Lambda SQS event.
        let eb = read_json(&out.join(&o.eventbridge_event));
        let rec = &eb["Records"][0];
        assert_eq!(rec["eventSource"], "aws:sqs");
        let body = rec["body"].as_str().unwrap();
        assert_eq!(rec["md5OfBody"], util::md5_hex(body.as_bytes()));
        assert_announces(body, o);
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["detail-type"], "Object Created");
        assert_eq!(body["source"], "aws.s3");
        assert_eq!(body["detail"]["bucket"]["name"], o.bucket.as_str());
        assert_eq!(body["detail"]["object"]["key"], o.key.as_str());
        assert_eq!(body["detail"]["object"]["size"], o.bytes);
        assert_eq!(body["detail"]["object"]["etag"], o.etag.as_str());
    }
    // Accounts 0/1/2 write 1.0, 2.0 and 1.0-then-2.0: both versions present.
    assert!(versions["1.0"] > 0 && versions["2.0"] > 0, "{versions:?}");

    // Anomalies: last third of the days only, in the named object, exactly `rows` times, and
    // their pairs appear nowhere else in the lake.
    assert_eq!(truth.clean_days.len(), 2);
    assert_eq!(truth.anomaly_days, vec!["20260107".to_string()]);
    let mut kinds = BTreeMap::new();
    let mut pairs_by_object = BTreeMap::new();
    for o in &manifest.objects {
        pairs_by_object.insert(o.key.clone(), src_pairs(&out.join(&o.path)));
    }
    for a in &truth.anomalies {
        *kinds.entry(a.kind).or_insert(0) += 1;
        assert!(truth.anomaly_days.contains(&a.day), "{a:?}");
        assert_eq!(a.endpoint, "src_endpoint");
        assert!(a.entity.starts_with("i-0"));
        let object = manifest
            .objects
            .iter()
            .find(|o| o.key == a.object_key)
            .unwrap();
        assert_eq!(
            (
                &object.day,
                &object.account,
                &object.source,
                &object.source_version,
                &object.bucket
            ),
            (&a.day, &a.account, &a.source, &a.source_version, &a.bucket)
        );
        for (key, pairs) in &pairs_by_object {
            let n = pairs
                .iter()
                .filter(|p| {
                    p.0.as_deref() == Some(a.entity.as_str())
                        && p.1.as_deref() == Some(a.ip.as_str())
                })
                .count();
            let expected = if *key == a.object_key { a.rows } else { 0 };
            assert_eq!(n, expected, "anomaly {} in {key}", a.id);
        }
        let ip: std::net::Ipv4Addr = a.ip.parse().unwrap();
        match a.kind {
            AnomalyKind::ShuffledInternal => assert!(ip.is_private()),
            AnomalyKind::ForeignPublicIp | AnomalyKind::UnseenNetwork => {
                assert!(!ip.is_private())
            }
        }
        if a.kind == AnomalyKind::UnseenNetwork {
            // No other row anywhere uses the /8.
            let first = ip.octets()[0];
            for pairs in pairs_by_object.values() {
                for p in pairs {
                    if p.1.as_deref() != Some(a.ip.as_str())
                        && let Some(Ok(other)) =
                            p.1.as_deref().map(str::parse::<std::net::Ipv4Addr>)
                    {
                        assert!(
                            other.octets()[0] != first
                                || truth.anomalies.iter().any(|b| b.ip == other.to_string()),
                            "{other} shares a network with unseen anomaly {}",
                            a.ip
                        );
                    }
                }
            }
        }
    }
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    let anomaly_rows: usize = manifest.objects.iter().map(|o| o.anomaly_rows).sum();
    assert_eq!(
        anomaly_rows,
        truth.anomalies.iter().map(|a| a.rows).sum::<usize>()
    );
}

#[test]
fn config_validation() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in [
        SimConfig {
            start_day: "20260230".into(),
            ..SimConfig::default()
        },
        SimConfig {
            days: 0,
            ..SimConfig::default()
        },
        SimConfig {
            accounts: 0,
            ..SimConfig::default()
        },
        SimConfig {
            sources: vec![Source::ShFindings],
            ..SimConfig::default()
        },
        SimConfig {
            regions: vec!["nowhere".into()],
            ..SimConfig::default()
        },
    ] {
        assert!(simulate(&bad, tmp.path()).is_err(), "{bad:?}");
    }
    assert_eq!("zstd".parse::<Codec>().unwrap(), Codec::Zstd);
    assert!("lzo".parse::<Codec>().is_err());
    assert_eq!(
        "2.0".parse::<VersionPlan>().unwrap(),
        VersionPlan::Only(SourceVersion::V2)
    );
}

/// Every file below `root` (relative path -> bytes), for byte-for-byte comparisons of lakes.
pub(super) fn files_under(root: &Path) -> BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}
