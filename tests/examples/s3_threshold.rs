//! Whole-object GET or ranged GETs? Times pair extraction of simulated VPC Flow objects of
//! growing size through a proxy that gives moto S3's network shape (first-byte latency and
//! per-connection bandwidth), both ways, and prints where ranged reads start to win.
//!
//! usage (moto running, as scripts/test.sh starts it):
//!   MOTO_ENDPOINT=http://127.0.0.1:PORT cargo run --release -p e2e-tests --example s3_threshold \
//!       [FIRST_BYTE_MS] [MB_PER_S]

use std::time::{Duration, Instant};

use e2e_tests::{fault_proxy, put_object, s3_client};
use seclake::simulate::{Codec, ObjectSpec, write_single_object};
use seclake::{ExtractOptions, ReadOptions, S3Reader, Source, SourceVersion};

#[tokio::main]
async fn main() {
    let moto = std::env::var("MOTO_ENDPOINT").expect("MOTO_ENDPOINT (moto_server on 127.0.0.1)");
    let args: Vec<String> = std::env::args().collect();
    let first_byte_ms: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let mb_per_s: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(90);
    let proxy = fault_proxy::start(
        &moto,
        fault_proxy::Fault {
            path_contains: "\u{0}never".into(),
            first_byte_delay: Duration::from_millis(first_byte_ms),
            bytes_per_second: Some(mb_per_s * 1_000_000),
            ..Default::default()
        },
    )
    .await;
    let direct = s3_client(&moto);
    let reader = S3Reader::new(s3_client(&proxy.url));
    let dir = tempfile::tempdir().expect("tempdir");
    println!(
        "network: {first_byte_ms} ms to first byte, {mb_per_s} MB/s per connection; medians of 5\n"
    );
    println!(
        "{:>9} {:>11} {:>10} {:>11} {:>10} {:>9}",
        "rows", "object MB", "whole ms", "ranged ms", "ranged MB", "GETs"
    );
    for rows in [
        5_000usize, 20_000, 50_000, 100_000, 200_000, 400_000, 800_000,
    ] {
        let path = dir.path().join(format!("{rows}.parquet"));
        let stats = write_single_object(
            &path,
            &ObjectSpec {
                source: Source::VpcFlow,
                version: SourceVersion::V1,
                rows,
                compression: Codec::Gzip,
                row_group_rows: 131_072,
                seed: 1,
                instances: 500,
            },
        )
        .expect("simulate");
        let key = format!(
            "aws/VPC_FLOW/1.0/region=us-east-1/accountId=111122223333/eventDay=20260105/{rows}.gz.parquet"
        );
        put_object(
            &direct,
            "s3-threshold",
            &key,
            std::fs::read(&path).expect("read"),
        )
        .await;
        let mut results = Vec::new();
        for whole in [true, false] {
            let read = ReadOptions {
                whole_object_max_bytes: if whole { u64::MAX } else { 0 },
                ..Default::default()
            };
            let mut times = Vec::new();
            let mut last = None;
            for _ in 0..5 {
                let t = Instant::now();
                let set = reader
                    .extract(
                        "s3-threshold",
                        &key,
                        Some(stats.bytes),
                        &Source::VpcFlow,
                        &ExtractOptions::default(),
                        &read,
                    )
                    .await
                    .expect("extract");
                times.push(t.elapsed().as_secs_f64() * 1e3);
                last = Some(set.stats);
            }
            times.sort_by(f64::total_cmp);
            results.push((times[2], last.expect("ran")));
        }
        let ((whole_ms, _), (ranged_ms, ranged)) = (&results[0], &results[1]);
        println!(
            "{rows:>9} {:>11.2} {whole_ms:>10.0} {ranged_ms:>11.0} {:>10.2} {:>9}",
            stats.bytes as f64 / 1e6,
            ranged.bytes_read as f64 / 1e6,
            ranged.requests
        );
    }
}
