//! Parsing the body of one message from a Security Lake subscriber queue into the objects it
//! announces.
//!
//! Security Lake has delivered two shapes over time, and a queue may also see messages that
//! announce nothing:
//!
//! * S3 event notifications (`{"Records":[{"s3":{…}}]}`), seen on v1 queues. Keys are URL-encoded
//!   with `+` for space, so they are decoded here.
//! * EventBridge "Object Created" events (`{"detail":{"bucket":…,"object":…}}`), current Security
//!   Lake. `detail-type`, `version` and `id` may be absent.
//! * Either of the above wrapped once in an SNS envelope (`{"Type":"Notification","Message":"…"}`),
//!   handled defensively although Security Lake is not known to use SNS.
//! * `s3:TestEvent`, sent by S3 when a bucket notification is configured: it announces nothing.
//!
//! A body that is a JSON string holding JSON (double-encoded) is accepted once.
//!
//! Every [`NotificationError`] is permanent: the same body will fail the same way on every
//! delivery, so a caller should not retry it.

use std::fmt;

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

/// One object a notification announces.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectRef {
    /// The bucket name.
    pub bucket: String,
    /// The object key, URL-decoded where the notification shape encodes it, i.e. usable as is
    /// with `GetObject`.
    pub key: String,
    /// The object size in bytes, if the notification carries it.
    pub size: Option<u64>,
    /// The object's ETag, if the notification carries it.
    pub etag: Option<String>,
}

/// What one message body announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Objects announced (never empty).
    Objects(Vec<ObjectRef>),
    /// An `s3:TestEvent`: announces nothing and can be acknowledged.
    TestEvent,
}

/// Where in a message a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The top level of the (possibly unwrapped) message.
    Body,
    /// `Records[i]` of an S3 event notification.
    Record(usize),
    /// The `detail` of an EventBridge event.
    EventBridge,
    /// An SNS envelope.
    SnsEnvelope,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Body => f.write_str("notification body"),
            Location::Record(i) => write!(f, "S3 record {i}"),
            Location::EventBridge => f.write_str("EventBridge event"),
            Location::SnsEnvelope => f.write_str("SNS envelope"),
        }
    }
}

/// Why a message body could not be turned into a [`Notification`].
///
/// Every variant is permanent: redelivering the same body fails the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    /// Some text (`what`: the body, a double-encoded body, an SNS `Message`) is not JSON.
    /// The message names the position only: message contents stay out of logs unless a
    /// caller chooses to show `snippet`.
    #[error("{what} is not JSON ({message})")]
    NotJson {
        /// Which text: `body`, `double-encoded body` or `SNS Message`.
        what: &'static str,
        /// serde_json's message (position, not content).
        message: String,
        /// At most the first 80 characters of the text.
        snippet: String,
    },
    /// Valid JSON of no known notification shape.
    #[error(
        "JSON of no known notification shape: {kind}{}",
        describe_keys(.keys, *.total_keys)
    )]
    UnknownShape {
        /// The JSON type found ("object", "array", …).
        kind: &'static str,
        /// Up to 10 of the object's top-level keys (empty for non-objects).
        keys: Vec<String>,
        /// How many top-level keys the object had.
        total_keys: usize,
    },
    /// An S3 event notification none of whose records is an `ObjectCreated:*` event.
    #[error("no ObjectCreated record among the {records} record(s) of the S3 event notification")]
    NoObjectCreated {
        /// How many records the notification had.
        records: usize,
    },
    /// A required field is missing, empty or not of the expected JSON type.
    #[error("{at} has no usable {field} (missing, empty or of the wrong type)")]
    MissingField {
        /// Where the field was expected.
        at: Location,
        /// The field's path within `at`, e.g. `s3.object.key`.
        field: &'static str,
    },
    /// `size` is neither a non-negative integer nor a string of decimal digits.
    #[error("{at} has a bad object size {value}")]
    BadSize {
        /// Where the size was found.
        at: Location,
        /// The JSON value found (truncated).
        value: String,
    },
    /// The key is not valid UTF-8 once URL-decoded.
    #[error("{at} has an object key that is not UTF-8 once URL-decoded: {raw_key:?}")]
    KeyNotUtf8 {
        /// Where the key was found.
        at: Location,
        /// The key as it appears in the notification.
        raw_key: String,
    },
    /// An EventBridge event that is not an S3 "Object Created" event.
    #[error("EventBridge event has detail-type {detail_type:?}, expected \"Object Created\"")]
    NotObjectCreated {
        /// The detail-type found (truncated).
        detail_type: String,
    },
    /// More wrapping than accepted: an SNS envelope inside an SNS envelope, or JSON encoded as a
    /// string more than once.
    #[error("{what}: only one level is accepted")]
    TooDeep {
        /// What was nested.
        what: &'static str,
    },
}

fn describe_keys(keys: &[String], total: usize) -> String {
    if total == 0 {
        return String::new();
    }
    let more = if total > keys.len() {
        format!(", … {} more", total - keys.len())
    } else {
        String::new()
    };
    format!(" with keys [{}{more}]", keys.join(", "))
}

/// At most `max` characters of `s`, for error messages that must not carry whole payloads.
fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

const SNIPPET_CHARS: usize = 80;
const MAX_KEYS_REPORTED: usize = 10;

/// Parses one SQS message body (the `body` string of a Lambda SQS record) into the objects it
/// announces. Never panics; every error is permanent.
pub fn parse_body(body: &str) -> Result<Notification, NotificationError> {
    let value = parse_json(body, "body")?;
    match value {
        // Double-encoded body: one level is accepted.
        Value::String(inner) => {
            let value = parse_json(&inner, "double-encoded body")?;
            if value.is_string() {
                return Err(NotificationError::TooDeep {
                    what: "body is JSON encoded as a string more than once",
                });
            }
            dispatch(value, true)
        }
        other => dispatch(other, true),
    }
}

fn parse_json(text: &str, what: &'static str) -> Result<Value, NotificationError> {
    serde_json::from_str(text).map_err(|e| NotificationError::NotJson {
        what,
        message: e.to_string(),
        snippet: truncate(text, SNIPPET_CHARS),
    })
}

fn dispatch(value: Value, allow_envelope: bool) -> Result<Notification, NotificationError> {
    let Value::Object(obj) = value else {
        return Err(unknown_shape(&value));
    };
    if let Some(records) = obj.get("Records") {
        return parse_s3_records(records);
    }
    if let Some(detail) = obj.get("detail") {
        return parse_eventbridge(&obj, detail);
    }
    if obj.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notification::TestEvent);
    }
    if obj.get("Type").and_then(Value::as_str) == Some("Notification")
        && obj.contains_key("Message")
    {
        if !allow_envelope {
            return Err(NotificationError::TooDeep {
                what: "SNS envelope inside an SNS envelope",
            });
        }
        let Some(message) = obj.get("Message").and_then(Value::as_str) else {
            return Err(NotificationError::MissingField {
                at: Location::SnsEnvelope,
                field: "Message",
            });
        };
        let inner = parse_json(message, "SNS Message")?;
        if inner.is_string() {
            return Err(NotificationError::TooDeep {
                what: "SNS Message is JSON encoded as a string",
            });
        }
        return dispatch(inner, false);
    }
    Err(unknown_shape(&Value::Object(obj)))
}

fn unknown_shape(value: &Value) -> NotificationError {
    let (kind, keys, total_keys) = match value {
        Value::Null => ("null", Vec::new(), 0),
        Value::Bool(_) => ("boolean", Vec::new(), 0),
        Value::Number(_) => ("number", Vec::new(), 0),
        Value::String(_) => ("string", Vec::new(), 0),
        Value::Array(_) => ("array", Vec::new(), 0),
        Value::Object(obj) => {
            // Sorted, so the message does not depend on whether serde_json keeps key order
            // (its `preserve_order` feature is switched on by other crates in some builds).
            let mut names: Vec<&String> = obj.keys().collect();
            names.sort();
            (
                "object",
                names
                    .into_iter()
                    .take(MAX_KEYS_REPORTED)
                    // Keys come from untrusted input; keep the message bounded.
                    .map(|k| truncate(k, 40))
                    .collect(),
                obj.len(),
            )
        }
    };
    NotificationError::UnknownShape {
        kind,
        keys,
        total_keys,
    }
}

fn parse_s3_records(records: &Value) -> Result<Notification, NotificationError> {
    let Some(records) = records.as_array() else {
        return Err(NotificationError::MissingField {
            at: Location::Body,
            field: "Records",
        });
    };
    let mut objects = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        let at = Location::Record(i);
        let Some(record) = record.as_object() else {
            return Err(NotificationError::MissingField {
                at,
                field: "(record object)",
            });
        };
        // A record without eventName is taken as a creation: Security Lake only announces new
        // objects, and a missing s3 object below still yields a precise error.
        if let Some(name) = record.get("eventName") {
            let created = name.as_str().is_some_and(|n| {
                // MinIO and some relays prefix "s3:".
                n.strip_prefix("s3:")
                    .unwrap_or(n)
                    .starts_with("ObjectCreated:")
            });
            if !created {
                continue;
            }
        }
        let s3 = record.get("s3").and_then(Value::as_object);
        let bucket = s3
            .and_then(|s| s.get("bucket"))
            .and_then(|b| nonempty_str(b.get("name")))
            .ok_or(NotificationError::MissingField {
                at,
                field: "s3.bucket.name",
            })?;
        let object = s3.and_then(|s| s.get("object")).and_then(Value::as_object);
        let raw_key = object.and_then(|o| nonempty_str(o.get("key"))).ok_or(
            NotificationError::MissingField {
                at,
                field: "s3.object.key",
            },
        )?;
        let key = decode_s3_key(raw_key, at)?;
        let size = parse_size(object.and_then(|o| o.get("size")), at)?;
        let etag = object.and_then(etag_of);
        objects.push(ObjectRef {
            bucket: bucket.to_string(),
            key,
            size,
            etag,
        });
    }
    if objects.is_empty() {
        return Err(NotificationError::NoObjectCreated {
            records: records.len(),
        });
    }
    Ok(Notification::Objects(objects))
}

fn parse_eventbridge(
    event: &Map<String, Value>,
    detail: &Value,
) -> Result<Notification, NotificationError> {
    let at = Location::EventBridge;
    // Absent detail-type is accepted: Security Lake's own samples omit it and only announce
    // creations. A present but different one (Object Deleted, …) must not be read as a creation.
    // `source` is deliberately not checked: Security Lake's value for it is not documented.
    match event.get("detail-type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "Object Created" => {}
        Some(other) => {
            let detail_type = match other {
                Value::String(s) => truncate(s, SNIPPET_CHARS),
                v => truncate(&v.to_string(), SNIPPET_CHARS),
            };
            return Err(NotificationError::NotObjectCreated { detail_type });
        }
    }
    let Some(detail) = detail.as_object() else {
        return Err(NotificationError::MissingField {
            at,
            field: "detail",
        });
    };
    let bucket = detail
        .get("bucket")
        .and_then(|b| nonempty_str(b.get("name")))
        .ok_or(NotificationError::MissingField {
            at,
            field: "detail.bucket.name",
        })?;
    let object = detail.get("object").and_then(Value::as_object);
    // S3 hands EventBridge the raw key (unlike its own notifications, which URL-encode it), so
    // it is taken verbatim. Should a URL-encoded key ever arrive, `LakeKey::parse` rejects it
    // ("region%3D…") instead of the object being silently misread.
    let key =
        object
            .and_then(|o| nonempty_str(o.get("key")))
            .ok_or(NotificationError::MissingField {
                at,
                field: "detail.object.key",
            })?;
    let size = parse_size(object.and_then(|o| o.get("size")), at)?;
    let etag = object.and_then(etag_of);
    Ok(Notification::Objects(vec![ObjectRef {
        bucket: bucket.to_string(),
        key: key.to_string(),
        size,
        etag,
    }]))
}

fn nonempty_str(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The two shapes spell it differently (`eTag` in S3 notifications, `etag` in EventBridge);
/// either is accepted in both.
fn etag_of(object: &Map<String, Value>) -> Option<String> {
    nonempty_str(object.get("eTag").or_else(|| object.get("etag"))).map(str::to_string)
}

/// `size` is a number in S3's documentation but a string in a captured Security Lake message.
fn parse_size(v: Option<&Value>, at: Location) -> Result<Option<u64>, NotificationError> {
    let bad = |v: &Value| NotificationError::BadSize {
        at,
        value: truncate(&v.to_string(), SNIPPET_CHARS),
    };
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(num @ Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| bad(num)),
        Some(s @ Value::String(text)) => {
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(s));
            }
            text.parse::<u64>().map(Some).map_err(|_| bad(s))
        }
        Some(other) => Err(bad(other)),
    }
}

/// Decodes an S3-notification key: `+` stands for space and must be replaced before
/// percent-decoding, otherwise an encoded plus (`%2B`) would turn into a space too.
fn decode_s3_key(raw: &str, at: Location) -> Result<String, NotificationError> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| NotificationError::KeyNotUtf8 {
            at,
            raw_key: truncate(raw, 1024),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S3_NOTIFICATION: &str = include_str!("../tests/fixtures/events/s3-notification.json");
    const EVENTBRIDGE: &str =
        include_str!("../tests/fixtures/events/eventbridge-object-created.json");
    const EVENTBRIDGE_NO_DETAIL_TYPE: &str =
        include_str!("../tests/fixtures/events/eventbridge-no-detail-type.json");
    const SNS_ENVELOPE: &str = include_str!("../tests/fixtures/events/sns-envelope-s3.json");
    const TEST_EVENT: &str = include_str!("../tests/fixtures/events/s3-test-event.json");
    const MULTI_RECORD: &str = include_str!("../tests/fixtures/events/multi-record.json");
    const SQS_EVENT: &str = include_str!("../tests/fixtures/events/sqs-event-mixed.json");

    const LAKE_BUCKET: &str = "aws-security-data-lake-us-east-1-iiwhzfdilkd1tp1kcbh8mmk4shsvyy";
    const WORKSHOP_KEY: &str = "aws/VPC_FLOW/1.0/region=us-east-1/accountId=645411899653/eventDay=20230726/02c4c95860435b9afa86fb93f7fa776a.gz.parquet";

    fn objects(body: &str) -> Vec<ObjectRef> {
        match parse_body(body).unwrap() {
            Notification::Objects(o) => o,
            Notification::TestEvent => panic!("unexpected test event"),
        }
    }

    fn s3_body(key: &str, size: Value) -> String {
        serde_json::json!({"Records": [{
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "b"}, "object": {"key": key, "size": size}}
        }]})
        .to_string()
    }

    #[test]
    fn s3_notification_from_the_workshop_capture() {
        let objs = objects(S3_NOTIFICATION);
        assert_eq!(
            objs,
            vec![ObjectRef {
                bucket: LAKE_BUCKET.into(),
                key: WORKSHOP_KEY.into(),
                size: Some(35095),
                etag: Some("b68171d372a75300fe69a0cf327f33f3".into()),
            }]
        );
    }

    #[test]
    fn s3_keys_are_url_decoded_with_plus_as_space() {
        let o = objects(&s3_body(
            "aws/VPC_FLOW/1.0/region%3Dus-east-1/my+file%2B1%20x.parquet",
            Value::from(5),
        ));
        assert_eq!(
            o[0].key,
            "aws/VPC_FLOW/1.0/region=us-east-1/my file+1 x.parquet"
        );
        // Invalid escapes are kept verbatim rather than rejected.
        let o = objects(&s3_body("a%zzb", Value::Null));
        assert_eq!(o[0].key, "a%zzb");
        assert_eq!(o[0].size, None);
        let o = objects(&s3_body("caf%C3%A9", Value::Null));
        assert_eq!(o[0].key, "café");
    }

    #[test]
    fn s3_key_not_utf8_after_decoding() {
        let err = parse_body(&s3_body("bad%FF%FEkey", Value::from(1))).unwrap_err();
        assert!(
            matches!(&err, NotificationError::KeyNotUtf8 { at: Location::Record(0), raw_key } if raw_key == "bad%FF%FEkey"),
            "{err}"
        );
    }

    #[test]
    fn sizes_as_numbers_strings_or_absent() {
        assert_eq!(objects(&s3_body("k", Value::from(7)))[0].size, Some(7));
        assert_eq!(
            objects(&s3_body("k", Value::from("35095")))[0].size,
            Some(35095)
        );
        assert_eq!(objects(&s3_body("k", Value::from(0)))[0].size, Some(0));
        for bad in [
            Value::from(-1),
            Value::from(1.5),
            Value::from("12a"),
            Value::from(""),
            Value::from("-3"),
            Value::from("99999999999999999999999"),
            Value::from(true),
            serde_json::json!([1]),
        ] {
            let err = parse_body(&s3_body("k", bad.clone())).unwrap_err();
            assert!(
                matches!(
                    err,
                    NotificationError::BadSize {
                        at: Location::Record(0),
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn multi_record_skips_non_creations() {
        let objs = objects(MULTI_RECORD);
        let keys: Vec<&str> = objs.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "aws/ROUTE53/2.0/region=eu-west-1/accountId=111122223333/eventDay=20240229/a1.gz.parquet",
                "ext/my source/region=eu-west-1/accountId=111122223333/eventDay=20240229/eventHour=07/part 1.parquet",
            ]
        );
        assert_eq!(objs[0].size, Some(123456));
        assert_eq!(objs[1].etag, None);
    }

    #[test]
    fn only_removals_is_an_error() {
        let body = serde_json::json!({"Records": [
            {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}},
            {"eventName": "ObjectRestore:Completed"},
            {"eventName": 5}
        ]})
        .to_string();
        assert_eq!(
            parse_body(&body).unwrap_err(),
            NotificationError::NoObjectCreated { records: 3 }
        );
        assert_eq!(
            parse_body(r#"{"Records":[]}"#).unwrap_err(),
            NotificationError::NoObjectCreated { records: 0 }
        );
    }

    #[test]
    fn event_name_variants() {
        let body = serde_json::json!({"Records": [
            {"eventName": "s3:ObjectCreated:CompleteMultipartUpload", "s3": {"bucket": {"name": "b"}, "object": {"key": "k1"}}},
            {"s3": {"bucket": {"name": "b"}, "object": {"key": "k2"}}}
        ]})
        .to_string();
        let keys: Vec<String> = objects(&body).into_iter().map(|o| o.key).collect();
        assert_eq!(keys, ["k1", "k2"]);
    }

    #[test]
    fn record_without_bucket_or_key() {
        let body = serde_json::json!({"Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}},
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {}, "object": {"key": "k"}}}
        ]})
        .to_string();
        assert_eq!(
            parse_body(&body).unwrap_err(),
            NotificationError::MissingField {
                at: Location::Record(1),
                field: "s3.bucket.name"
            }
        );
        let body = serde_json::json!({"Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": ""}}}
        ]})
        .to_string();
        let err = parse_body(&body).unwrap_err();
        assert_eq!(
            err,
            NotificationError::MissingField {
                at: Location::Record(0),
                field: "s3.object.key"
            }
        );
        assert_eq!(
            err.to_string(),
            "S3 record 0 has no usable s3.object.key (missing, empty or of the wrong type)"
        );
        let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":7}}}]}"#;
        assert!(matches!(
            parse_body(body).unwrap_err(),
            NotificationError::MissingField {
                field: "s3.object.key",
                ..
            }
        ));
        assert!(matches!(
            parse_body(r#"{"Records":{"a":1}}"#).unwrap_err(),
            NotificationError::MissingField {
                at: Location::Body,
                field: "Records"
            }
        ));
        assert!(matches!(
            parse_body(r#"{"Records":[3]}"#).unwrap_err(),
            NotificationError::MissingField {
                at: Location::Record(0),
                ..
            }
        ));
    }

    #[test]
    fn eventbridge_object_created() {
        let objs = objects(EVENTBRIDGE);
        assert_eq!(
            objs,
            vec![ObjectRef {
                bucket: LAKE_BUCKET.into(),
                key: "aws/VPC_FLOW/2.0/region=us-east-1/accountId=645411899653/eventDay=20240312/7d4b1f0e2a9c4e6b8f3d5a1c2e4f6a8b.gz.parquet".into(),
                size: Some(48213),
                etag: Some("0d5f3a4e1b2c3d4e5f60718293a4b5c6".into()),
            }]
        );
    }

    #[test]
    fn eventbridge_without_detail_type_version_or_id() {
        let objs = objects(EVENTBRIDGE_NO_DETAIL_TYPE);
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0].size, Some(35095));
        assert!(objs[0].key.starts_with("aws/ROUTE53/1.0/"));
    }

    #[test]
    fn eventbridge_keys_are_verbatim() {
        let body = serde_json::json!({"detail-type": "Object Created", "detail": {
            "bucket": {"name": "b"}, "object": {"key": "dir/a+b%3D c", "size": "9"}}})
        .to_string();
        let o = objects(&body);
        assert_eq!(o[0].key, "dir/a+b%3D c");
        assert_eq!(o[0].size, Some(9));
    }

    #[test]
    fn eventbridge_errors() {
        let body = serde_json::json!({"detail-type": "Object Deleted", "detail": {
            "bucket": {"name": "b"}, "object": {"key": "k"}}})
        .to_string();
        assert_eq!(
            parse_body(&body).unwrap_err(),
            NotificationError::NotObjectCreated {
                detail_type: "Object Deleted".into()
            }
        );
        let body = serde_json::json!({"detail-type": 3, "detail": {}}).to_string();
        assert!(matches!(
            parse_body(&body).unwrap_err(),
            NotificationError::NotObjectCreated { .. }
        ));
        let body = serde_json::json!({"detail": {"object": {"key": "k"}}}).to_string();
        assert_eq!(
            parse_body(&body).unwrap_err(),
            NotificationError::MissingField {
                at: Location::EventBridge,
                field: "detail.bucket.name"
            }
        );
        let body =
            serde_json::json!({"detail": {"bucket": {"name": "b"}, "object": {}}}).to_string();
        assert_eq!(
            parse_body(&body).unwrap_err(),
            NotificationError::MissingField {
                at: Location::EventBridge,
                field: "detail.object.key"
            }
        );
        let body = serde_json::json!({"detail": "x"}).to_string();
        assert!(matches!(
            parse_body(&body).unwrap_err(),
            NotificationError::MissingField {
                field: "detail",
                ..
            }
        ));
        let body = serde_json::json!({"detail": {"bucket": {"name": "b"}, "object": {"key": "k", "size": -4}}}).to_string();
        assert!(matches!(
            parse_body(&body).unwrap_err(),
            NotificationError::BadSize {
                at: Location::EventBridge,
                ..
            }
        ));
    }

    #[test]
    fn sns_envelope() {
        let objs = objects(SNS_ENVELOPE);
        assert_eq!(objs.len(), 1);
        assert_eq!(
            objs[0].key,
            "aws/VPC_FLOW/1.0/region=us-east-1/accountId=645411899653/eventDay=20230726/file name.gz.parquet"
        );
        // The envelope may also carry a test event or an EventBridge event.
        let wrap = |inner: &str| {
            serde_json::json!({"Type": "Notification", "MessageId": "m", "Message": inner})
                .to_string()
        };
        assert_eq!(
            parse_body(&wrap(TEST_EVENT)).unwrap(),
            Notification::TestEvent
        );
        assert_eq!(objects(&wrap(EVENTBRIDGE)).len(), 1);
        // Only one level of envelope, and the Message must be JSON text.
        assert!(matches!(
            parse_body(&wrap(&wrap(S3_NOTIFICATION))).unwrap_err(),
            NotificationError::TooDeep { .. }
        ));
        assert!(matches!(
            parse_body(&wrap("not json")).unwrap_err(),
            NotificationError::NotJson {
                what: "SNS Message",
                ..
            }
        ));
        let double = Value::String(S3_NOTIFICATION.to_string()).to_string();
        assert!(matches!(
            parse_body(&wrap(&double)).unwrap_err(),
            NotificationError::TooDeep { .. }
        ));
        let body =
            serde_json::json!({"Type": "Notification", "Message": {"Records": []}}).to_string();
        assert_eq!(
            parse_body(&body).unwrap_err(),
            NotificationError::MissingField {
                at: Location::SnsEnvelope,
                field: "Message"
            }
        );
    }

    #[test]
    fn test_event() {
        assert_eq!(parse_body(TEST_EVENT).unwrap(), Notification::TestEvent);
    }

    #[test]
    fn double_encoded_body() {
        let once = Value::String(S3_NOTIFICATION.to_string()).to_string();
        assert_eq!(objects(&once)[0].key, WORKSHOP_KEY);
        let twice = Value::String(once).to_string();
        assert!(matches!(
            parse_body(&twice).unwrap_err(),
            NotificationError::TooDeep { .. }
        ));
        assert!(matches!(
            parse_body(r#""{not json""#).unwrap_err(),
            NotificationError::NotJson {
                what: "double-encoded body",
                ..
            }
        ));
        // A double-encoded SNS envelope is one level of each, which is accepted.
        let sns_once = Value::String(SNS_ENVELOPE.to_string()).to_string();
        assert_eq!(objects(&sns_once).len(), 1);
    }

    #[test]
    fn not_json_reports_the_start_only() {
        let body = format!("garbage {}", "x".repeat(500));
        let err = parse_body(&body).unwrap_err();
        let NotificationError::NotJson {
            what,
            message,
            snippet,
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(*what, "body");
        assert!(message.contains("line 1"), "{message}");
        assert_eq!(snippet.chars().count(), 80);
        assert!(err.to_string().len() < 250, "{err}");
        assert!(matches!(
            parse_body("").unwrap_err(),
            NotificationError::NotJson { .. }
        ));
        // Multi-byte characters are cut at a character boundary.
        assert!(parse_body(&"é".repeat(200)).is_err());
    }

    #[test]
    fn unknown_shapes_name_their_keys() {
        let err = parse_body(r#"{"foo":1,"bar":{"Records":[]}}"#).unwrap_err();
        assert_eq!(
            err,
            NotificationError::UnknownShape {
                kind: "object",
                keys: vec!["bar".into(), "foo".into()],
                total_keys: 2
            }
        );
        assert_eq!(
            err.to_string(),
            "JSON of no known notification shape: object with keys [bar, foo]"
        );
        let many: Map<String, Value> = (0..15).map(|i| (format!("k{i:02}"), Value::Null)).collect();
        let err = parse_body(&Value::Object(many).to_string()).unwrap_err();
        let NotificationError::UnknownShape {
            keys, total_keys, ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!((keys.len(), *total_keys), (10, 15));
        assert!(err.to_string().ends_with("k09, … 5 more]"), "{err}");
        for (body, kind) in [
            ("[1,2]", "array"),
            ("42", "number"),
            ("null", "null"),
            ("true", "boolean"),
        ] {
            assert!(
                matches!(parse_body(body).unwrap_err(), NotificationError::UnknownShape { kind: k, .. } if k == kind),
                "{body}"
            );
        }
        // Other SNS message types and other S3 service events are unknown shapes.
        for body in [
            r#"{"Type":"SubscriptionConfirmation","Message":"{}"}"#,
            r#"{"Service":"Amazon S3","Event":"s3:Other"}"#,
            r#"{"Type":"Notification"}"#,
        ] {
            assert!(
                matches!(
                    parse_body(body).unwrap_err(),
                    NotificationError::UnknownShape { .. }
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn whole_lambda_sqs_event_is_not_a_body() {
        // Passing the Lambda event instead of one body gives a precise error, not a panic.
        assert_eq!(
            parse_body(SQS_EVENT).unwrap_err(),
            NotificationError::MissingField {
                at: Location::Record(0),
                field: "s3.bucket.name"
            }
        );
    }

    #[test]
    fn sqs_event_fixture_bodies() {
        let event: Value = serde_json::from_str(SQS_EVENT).unwrap();
        let records = event["Records"].as_array().unwrap();
        let mut outcomes = Vec::new();
        for r in records {
            assert_eq!(r["eventSource"], "aws:sqs");
            let body = r["body"].as_str().unwrap();
            outcomes.push(match parse_body(body) {
                Ok(Notification::Objects(o)) => format!("objects:{}", o.len()),
                Ok(Notification::TestEvent) => "test".to_string(),
                Err(NotificationError::NotJson { .. }) => "not-json".to_string(),
                Err(e) => panic!("{e}"),
            });
        }
        assert_eq!(
            outcomes,
            [
                "objects:1", // S3 notification
                "objects:1", // EventBridge
                "objects:1", // EventBridge without detail-type
                "objects:1", // SNS envelope
                "test",
                "objects:2", // multi-record
                "not-json",
            ]
        );
    }

    fn json_strategy() -> impl Strategy<Value = Value> {
        let keys = prop::sample::select(vec![
            "Records",
            "s3",
            "bucket",
            "object",
            "key",
            "name",
            "size",
            "eTag",
            "etag",
            "detail",
            "detail-type",
            "Message",
            "Type",
            "Event",
            "eventName",
            "x",
        ]);
        let strings = prop_oneof![
            prop::sample::select(vec![
                "Notification",
                "s3:TestEvent",
                "ObjectCreated:Put",
                "s3:ObjectCreated:Copy",
                "ObjectRemoved:Delete",
                "Object Created",
                "Object Deleted",
                "%FF%zz+%3D",
                "12",
                "",
            ])
            .prop_map(str::to_string),
            any::<String>(),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            strings.prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner.clone()), 0..6).prop_map(|kv| {
                    Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
                // JSON encoded in a string, as SNS Message and double-encoded bodies are.
                inner.prop_map(|v| Value::String(v.to_string())),
            ]
        })
    }

    fn check(body: &str) {
        if let Ok(Notification::Objects(objs)) = parse_body(body) {
            assert!(!objs.is_empty());
            assert!(objs.iter().all(|o| !o.bucket.is_empty()));
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_strings(body in any::<String>()) {
            check(&body);
        }

        #[test]
        fn never_panics_on_json(v in json_strategy()) {
            check(&v.to_string());
            check(&Value::String(v.to_string()).to_string());
        }
    }
}
