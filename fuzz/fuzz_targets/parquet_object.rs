//! Whole parquet objects through the pair extractor (`seclake::extract_bytes`), as VPC Flow
//! and as Route 53. The pairing is chosen from the input length, so every pairing's column
//! plan is exercised without spending input bytes on it.
//! A panic inside the parquet or arrow crates is contained as the function contains it
//! (`contained.rs`); any other panic is a crash.
#![no_main]

mod contained;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use seclake::{ExtractOptions, Pairing, ReadOptions, Source, extract_bytes};

fuzz_target!(|data: &[u8]| {
    let read = ReadOptions {
        threads: 1,
        ..ReadOptions::default()
    };
    let data = Bytes::copy_from_slice(data);
    let n = data.len();
    for (source, pairing) in [
        (Source::VpcFlow, Pairing::ALL[n % 4]),
        (Source::Route53, Pairing::ALL[(n / 4) % 4]),
    ] {
        let options = ExtractOptions {
            pairing,
            ..ExtractOptions::default()
        };
        match contained::run(|| extract_bytes(data.clone(), &source, &options, &read)) {
            Some(Ok(set)) => {
                let _ = set.stats;
            }
            Some(Err(e)) => {
                let _ = e.to_string();
            }
            None => {}
        }
    }
});
