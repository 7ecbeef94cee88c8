//! `ipinsights::wire::parse_predictions`: what an endpoint answers. The first byte picks the
//! content type (JSON, JSON Lines, verbose, or an unknown/empty type recognised from the body).
#![no_main]

use ipinsights::wire::parse_predictions;
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [&str; 6] = [
    "application/json",
    "application/jsonlines",
    "application/json;verbose=True",
    "",
    "text/plain",
    "application/jsonl; verbose=True",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let ct = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    if let Err(e) = parse_predictions(ct, body) {
        let _ = e.to_string();
    }
});
