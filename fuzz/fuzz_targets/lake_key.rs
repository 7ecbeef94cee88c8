//! `seclake::LakeKey::parse`: an object key (URL-decoded) to its place in the lake.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seclake::LakeKey;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = std::str::from_utf8(data) else {
        return;
    };
    match LakeKey::parse(key) {
        Ok(k) => {
            // What the scorer does with a parsed key: print it, and rebuild the day prefix.
            let _ = format!("{k:?} {}", k.event_day);
            assert!(k.event_hour.is_none_or(|h| h < 24));
            assert_eq!(k.account.len(), 12);
            if let Some(v) = k.version {
                let prefix = LakeKey::day_prefix(&k.source, v, &k.region, &k.account, k.event_day);
                assert!(prefix.ends_with('/'));
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
