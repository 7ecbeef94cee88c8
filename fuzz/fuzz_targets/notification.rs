//! `seclake::parse_body`: one SQS message body (S3 notification, EventBridge "Object Created",
//! SNS envelope, s3:TestEvent, double-encoded JSON, or anything else a queue may hold).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seclake::{Notification, parse_body};

fuzz_target!(|data: &[u8]| {
    // SQS bodies are strings: non-UTF-8 input cannot reach the parser.
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    match parse_body(body) {
        Ok(Notification::Objects(objects)) => {
            // Documented: `Objects` is never empty, and every object names a bucket and a key.
            assert!(!objects.is_empty());
            for o in &objects {
                assert!(!o.bucket.is_empty());
                assert!(!o.key.is_empty());
            }
        }
        Ok(Notification::TestEvent) => {}
        Err(e) => {
            // Error messages are logged: formatting them must not panic either.
            let _ = e.to_string();
        }
    }
});
