//! Objects on which parquet 60 hung (fuzz/regressions/parquet_footer and parquet_object): its
//! thrift skipper looped for a minute or more on a few bytes of footer or page header. With
//! the vendored, patched parquet crate (vendor/README.md) the function rejects them at once
//! (acknowledged with a `rejected` record, never retried) and finishes the rest of the batch.
//! Before the patch, the footer object was handed back at the deadline on every delivery
//! until it reached the dead-letter queue.

mod common;

use common::*;

fn fuzz_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The fuzzer's second footer hang, framed as the `parquet_footer` target frames it: the body
/// of a real object, the footer, its length and `PAR1`.
fn footer_hang_object() -> Vec<u8> {
    let fuzz = fuzz_dir();
    let input =
        std::fs::read(fuzz.join("regressions/parquet_footer/thrift-skip-typed-read-bool-map-hang"))
            .unwrap();
    let footer = &input[1..];
    let mut object = std::fs::read(fuzz.join("seeds/vpc_flow_1.0.body")).unwrap();
    object.extend_from_slice(footer);
    object.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    object.extend_from_slice(b"PAR1");
    object
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_the_parquet_crate_hung_on_are_rejected_and_the_batch_finished() {
    let Some(moto) = moto_endpoint() else { return };
    logs();
    let lake = lake(&moto);
    let s3 = s3_client(&moto);
    let (url, _server) = start_server(lake.model.clone(), ServerConfig::default()).await;
    let (bucket, good_key, _) = &lake.scored_objects[0];
    let day_prefix = good_key.rsplit_once('/').unwrap().0;
    // A bucket of its own: other test binaries list the lake's bucket and would read it.
    let hang_bucket = "ipinsights-e2e-parquet-hangs";
    let footer_hang = format!("{day_prefix}/footer-hang.gz.parquet");
    put_object(&s3, hang_bucket, &footer_hang, footer_hang_object()).await;
    let page_hang = format!("{day_prefix}/page-header-hang.gz.parquet");
    let page_bytes = std::fs::read(
        fuzz_dir().join("regressions/parquet_object/page-header-skip-binary-list-hang"),
    )
    .unwrap();
    put_object(&s3, hang_bucket, &page_hang, page_bytes).await;

    let deps = endpoint_deps(config(&[("ENDPOINT_NAME", "ipinsights-e2e")]), &moto, &url);
    let p = "hang-";
    let messages = vec![
        (
            format!("{p}footer"),
            s3_body(hang_bucket, &footer_hang, None),
        ),
        (format!("{p}page"), s3_body(hang_bucket, &page_hang, None)),
        (format!("{p}good"), s3_body(bucket, good_key, None)),
    ];
    // A 60 s invocation: were either object still to hang, the batch would report it as a
    // failure at the deadline, and the assertions below would fail.
    let (response, metrics) = handle_batch(invocation(sqs_event(&messages), 60), &deps)
        .await
        .unwrap();
    let recs = records(p);
    assert_eq!(failures(&response), BTreeSet::new(), "{recs:?}");
    assert_eq!(metrics.objects_scored, 1);
    assert!(of_kind(&recs, "failed").is_empty(), "{recs:?}");
    let rejected: BTreeSet<(String, String)> = of_kind(&recs, "rejected")
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        BTreeSet::from([
            (footer_hang.clone(), "not_parquet".to_string()),
            (page_hang.clone(), "not_parquet".to_string()),
        ]),
        "{recs:?}"
    );
    let scored = of_kind(&recs, "object_scored");
    assert_eq!(scored.len(), 1, "{scored:?}");
    assert_eq!(scored[0]["key"], good_key.as_str());
}
