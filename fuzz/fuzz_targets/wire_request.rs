//! `ipinsights::wire::parse_request`: SageMaker IP Insights request bodies. The first byte
//! picks the content type (CSV, JSON, JSON Lines, with and without parameters).
#![no_main]

use ipinsights::wire::parse_request;
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [&str; 6] = [
    "text/csv",
    "application/json",
    "application/jsonlines",
    "text/csv; charset=utf-8",
    "application/json; charset=utf-8",
    "application/x-jsonlines",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let ct = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    match parse_request(ct, body) {
        Ok(pairs) => {
            for (entity, _ip) in &pairs {
                assert!(!entity.is_empty(), "empty entity accepted from {ct}");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
