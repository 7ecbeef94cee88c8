//! Reading OCSF objects from S3 (moto's server on loopback, reached through the real SDK):
//! ranged and whole-object reads agree with local reads; failures are classified for retry.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field, Schema};
use e2e_tests::{moto_endpoint, put_object, s3_client, samples_dir};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use seclake::{ExtractError, ExtractOptions, ReadOptions, S3Reader, Source, extract_local};

/// A VPC-Flow-like object of `rows` rows in row groups of `group` rows.
fn flows(rows: usize, group: usize) -> Vec<u8> {
    let uid: Vec<String> = (0..rows).map(|i| format!("i-{:017x}", i % 97)).collect();
    let ip: Vec<String> = (0..rows)
        .map(|i| format!("10.0.{}.{}", (i % 97) / 50, (i % 97) % 50 + (i % 3)))
        .collect();
    let src = StructArray::from(vec![
        (
            Arc::new(Field::new("instance_uid", DataType::Utf8, true)),
            Arc::new(StringArray::from(uid)) as ArrayRef,
        ),
        (
            Arc::new(Field::new("ip", DataType::Utf8, true)),
            Arc::new(StringArray::from(ip)) as ArrayRef,
        ),
    ]);
    // Incompressible, so the two leaves are a small part of the object.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let padding: ArrayRef = Arc::new(StringArray::from(
        (0..rows)
            .map(|_| {
                (0..4)
                    .map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        format!("{state:016x}")
                    })
                    .collect::<String>()
            })
            .collect::<Vec<_>>(),
    ));
    let schema = Arc::new(Schema::new(vec![
        Field::new("src_endpoint", src.data_type().clone(), true),
        Field::new("raw_data", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(src), padding]).unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(group))
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranged_and_whole_reads_agree_with_local() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let client = s3_client(&endpoint);
    let data = flows(50_000, 8_000);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("flows.parquet");
    std::fs::write(&local, &data).unwrap();
    let key =
        "aws/VPC_FLOW/2.0/region=us-east-1/accountId=111122223333/eventDay=20260101/a b.parquet";
    put_object(&client, "seclake-ranged", key, data.clone()).await;

    // These objects carry source endpoints only.
    let options = ExtractOptions {
        pairing: seclake::Pairing::Src,
        ..Default::default()
    };
    let expected =
        extract_local(&local, &Source::VpcFlow, &options, &ReadOptions::default()).unwrap();
    assert_eq!(expected.stats.row_groups, 7);
    assert_eq!(expected.pairs.len(), 97 * 3);

    let reader = S3Reader::new(client);
    let ranged_options = ReadOptions {
        whole_object_max_bytes: 0,
        coalesce_gap_bytes: 0,
        ..Default::default()
    };
    for size in [None, Some(data.len() as u64)] {
        let ranged = reader
            .extract(
                "seclake-ranged",
                key,
                size,
                &Source::VpcFlow,
                &options,
                &ranged_options,
            )
            .await
            .unwrap();
        assert_eq!(ranged.pairs, expected.pairs);
        assert_eq!(ranged.stats.rows, 50_000);
        // One footer GET, then one GET per row group (its two column chunks are adjacent);
        // far fewer bytes than the object.
        assert_eq!(ranged.stats.requests, 1 + 7, "{:?}", ranged.stats);
        assert!(ranged.stats.bytes_read < data.len() as u64 / 2);
    }
    let whole = reader
        .extract(
            "seclake-ranged",
            key,
            Some(data.len() as u64),
            &Source::VpcFlow,
            &options,
            &ReadOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(whole.pairs, expected.pairs);
    assert_eq!(
        (whole.stats.requests, whole.stats.bytes_read),
        (1, data.len() as u64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_samples_from_s3() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let client = s3_client(&endpoint);
    let path = samples_dir().join("1.0.0-rc.2/VPC_FLOW/example1.gz.parquet");
    let data = std::fs::read(&path).unwrap();
    let key = "aws/VPC_FLOW/1.0/region=us-east-1/accountId=123456789012/eventDay=20230726/example1.gz.parquet";
    put_object(&client, "seclake-samples", key, data.clone()).await;
    let reader = S3Reader::new(client);
    for read in [
        ReadOptions::default(),
        ReadOptions {
            whole_object_max_bytes: 0,
            footer_prefetch_bytes: 16,
            ..Default::default()
        },
    ] {
        let set = reader
            .extract(
                "seclake-samples",
                key,
                None,
                &Source::VpcFlow,
                &ExtractOptions::default(),
                &read,
            )
            .await
            .unwrap();
        let got: Vec<_> = set
            .pairs
            .iter()
            .map(|p| (p.entity.to_string(), p.ip.to_string()))
            .collect();
        // The default pairing: the instance's own connection to 172.31.2.52.
        assert_eq!(
            got,
            vec![(
                "i-000000000000000000".to_string(),
                "172.31.2.52".to_string()
            )]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_objects_are_permanent_failures() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let client = s3_client(&endpoint);
    let bucket = "seclake-bad";
    let good = flows(5_000, 1_000);
    put_object(
        &client,
        bucket,
        "not-parquet",
        b"{\"hello\": \"world\"}".to_vec(),
    )
    .await;
    put_object(
        &client,
        bucket,
        "truncated",
        good[..good.len() / 2].to_vec(),
    )
    .await;
    let mut cut_tail = good[good.len() / 2..].to_vec();
    cut_tail.splice(0..0, vec![0u8; 16]);
    put_object(&client, bucket, "footer-only", cut_tail).await;
    let reader = S3Reader::new(client);
    let opts = ExtractOptions::default();
    let ranged = ReadOptions {
        whole_object_max_bytes: 0,
        ..Default::default()
    };
    let run = |key: &'static str, read: ReadOptions, size: Option<u64>| {
        let reader = reader.clone();
        let opts = opts.clone();
        async move {
            reader
                .extract(bucket, key, size, &Source::VpcFlow, &opts, &read)
                .await
                .unwrap_err()
        }
    };

    let e = run("missing", ReadOptions::default(), None).await;
    assert!(matches!(e, ExtractError::NotFound(_)), "{e}");
    assert!(!e.is_retryable());
    for read in [ReadOptions::default(), ranged.clone()] {
        let e = run("not-parquet", read.clone(), Some(18)).await;
        assert!(!e.is_retryable(), "{e}");
        let e = run("truncated", read.clone(), None).await;
        assert!(!e.is_retryable(), "{e}");
        assert_eq!(e.reason(), "not_parquet", "{e}");
    }
    // The footer is intact but the column chunks are not: an error, never a panic or a
    // silent success.
    let e = run("footer-only", ranged.clone(), None).await;
    assert!(!e.is_retryable(), "{e}");
    let e = run(
        "not-parquet",
        ReadOptions {
            max_object_bytes: 10,
            ..Default::default()
        },
        Some(18),
    )
    .await;
    assert!(
        matches!(
            e,
            ExtractError::TooLarge {
                size: 18,
                limit: 10
            }
        ),
        "{e}"
    );
    let e = run(
        "not-parquet",
        ReadOptions {
            max_object_bytes: 10,
            whole_object_max_bytes: 0,
            ..Default::default()
        },
        None,
    )
    .await;
    assert!(
        matches!(
            e,
            ExtractError::TooLarge {
                size: 18,
                limit: 10
            }
        ),
        "{e}"
    );
    let e = reader
        .extract(
            "no-such-bucket-here",
            "k",
            None,
            &Source::VpcFlow,
            &opts,
            &ReadOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e}");
}
