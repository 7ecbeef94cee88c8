//! The parquet footer (thrift `FileMetaData`) alone. `parse_footer` in seclake is private, so
//! each input is framed as an object: the body (everything before the footer) of a real
//! object, then the fuzzed footer, its length and `PAR1`, and goes through
//! `seclake::extract_bytes`. The first byte picks the body and the source; the seeds in
//! corpus/parquet_footer are the real footers of those bodies, so mutations start from valid
//! metadata whose column chunk offsets point into the body.
//! A panic inside the parquet or arrow crates is contained as the function contains it
//! (`contained.rs`); any other panic is a crash.
#![no_main]

mod contained;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use seclake::{ExtractOptions, Pairing, ReadOptions, Source, extract_bytes};

/// Bodies (object bytes up to the footer) of two uncompressed simulated objects.
const BODIES: [(&[u8], Source); 2] = [
    (
        include_bytes!("../seeds/vpc_flow_1.0.body"),
        Source::VpcFlow,
    ),
    (include_bytes!("../seeds/route53_2.0.body"), Source::Route53),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, footer)) = data.split_first() else {
        return;
    };
    let (body, source) = &BODIES[usize::from(selector & 1)];
    let pairing = Pairing::ALL[usize::from(selector >> 1) % 4];
    let mut object = Vec::with_capacity(body.len() + footer.len() + 8);
    object.extend_from_slice(body);
    object.extend_from_slice(footer);
    object.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    object.extend_from_slice(b"PAR1");
    let read = ReadOptions {
        threads: 1,
        ..ReadOptions::default()
    };
    let options = ExtractOptions {
        pairing,
        ..ExtractOptions::default()
    };
    if let Some(Err(e)) =
        contained::run(|| extract_bytes(Bytes::from(object), source, &options, &read))
    {
        let _ = e.to_string();
    }
});
