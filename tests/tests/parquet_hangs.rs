//! An object on which the parquet crate hangs (fuzz/known-crashes/parquet_footer): the handler
//! hands its message back before the deadline and finishes the rest of the batch. (The
//! page-header hang of fuzz/known-crashes/parquet_object hangs the in-memory reader the CLI
//! uses; read from S3, the function rejects that object as `not_parquet`.) A test binary of its
//! own, because the abandoned parse keeps spinning on a blocking thread until the process
//! exits; here the process exits when this test ends.

mod common;

use common::*;

/// An object whose footer is the fuzzer's second footer hang: the body of a real object, the
/// footer, its length and `PAR1`, as the `parquet_footer` target frames it.
fn footer_hang_object() -> Vec<u8> {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let input = std::fs::read(
        fuzz.join("known-crashes/parquet_footer/thrift-skip-typed-read-bool-map-hang"),
    )
    .unwrap();
    let footer = &input[1..];
    let mut object = std::fs::read(fuzz.join("seeds/vpc_flow_1.0.body")).unwrap();
    object.extend_from_slice(footer);
    object.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    object.extend_from_slice(b"PAR1");
    object
}

#[test]
fn objects_the_parquet_crate_hangs_on_are_handed_back_before_the_deadline() {
    let Some(moto) = moto_endpoint() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(hung_objects(&moto));
    // Dropping the runtime would wait for the spinning parse (about a minute).
    rt.shutdown_background();
}

async fn hung_objects(moto: &str) {
    let moto = moto.to_string();
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

    let deps = endpoint_deps(config(&[("ENDPOINT_NAME", "ipinsights-e2e")]), &moto, &url);
    let p = "hang-";
    let messages = vec![
        (
            format!("{p}footer"),
            s3_body(hang_bucket, &footer_hang, None),
        ),
        (format!("{p}good"), s3_body(bucket, good_key, None)),
    ];
    let (response, metrics) = handle_batch(invocation(sqs_event(&messages), 6), &deps)
        .await
        .unwrap();
    // The hung object comes back, the good one is done.
    let recs = records(p);
    assert_eq!(
        failures(&response),
        BTreeSet::from([format!("{p}footer")]),
        "{recs:?}"
    );
    assert_eq!(metrics.objects_scored, 1);
    let failed = of_kind(&recs, "failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed.iter().all(|r| r["reason"] == "deadline"),
        "{failed:?}"
    );
    let scored = of_kind(&recs, "object_scored");
    assert_eq!(scored.len(), 1, "{scored:?}");
    assert_eq!(scored[0]["key"], good_key.as_str());
}
