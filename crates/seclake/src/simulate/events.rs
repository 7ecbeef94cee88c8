//! The SQS messages a Security Lake subscriber queue would deliver for an object, in both shapes
//! seen in the wild, each wrapped in a Lambda `SqsEvent`. Structs (not `json!`) keep AWS's field
//! order in the output.

use rand::Rng;
use serde::Serialize;

use super::util::{
    iso_millis, iso_seconds, md5_hex, random_hex, random_upper_alnum, random_uuid,
    s3_event_key_encode,
};

/// What the messages need to know about one written object.
pub(crate) struct ObjectEvent<'a> {
    pub(crate) region: &'a str,
    pub(crate) bucket: &'a str,
    pub(crate) key: &'a str,
    pub(crate) size: u64,
    pub(crate) etag: &'a str,
    /// When the object was "put" (ms since the epoch).
    pub(crate) put_ms: i64,
    pub(crate) lake_account: &'a str,
    pub(crate) queue_arn: &'a str,
}

#[derive(Serialize)]
struct SqsEvent {
    #[serde(rename = "Records")]
    records: Vec<SqsRecord>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SqsRecord {
    message_id: String,
    receipt_handle: String,
    body: String,
    attributes: SqsAttributes,
    message_attributes: serde_json::Map<String, serde_json::Value>,
    md5_of_body: String,
    event_source: &'static str,
    #[serde(rename = "eventSourceARN")]
    event_source_arn: String,
    aws_region: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SqsAttributes {
    approximate_receive_count: &'static str,
    sent_timestamp: String,
    sender_id: String,
    approximate_first_receive_timestamp: String,
}

// Shape A: an S3 event notification delivered straight from S3 to the queue.
#[derive(Serialize)]
struct S3Notification {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct S3Record {
    event_version: &'static str,
    event_source: &'static str,
    aws_region: String,
    event_time: String,
    event_name: &'static str,
    user_identity: PrincipalId,
    request_parameters: RequestParameters,
    response_elements: ResponseElements,
    s3: S3Entity,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PrincipalId {
    principal_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestParameters {
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: String,
}

#[derive(Serialize)]
struct ResponseElements {
    #[serde(rename = "x-amz-request-id")]
    request_id: String,
    #[serde(rename = "x-amz-id-2")]
    id_2: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct S3Entity {
    s3_schema_version: &'static str,
    configuration_id: String,
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct S3Bucket {
    name: String,
    owner_identity: PrincipalId,
    arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct S3Object {
    key: String,
    /// A string, as in the capture AWS's workshop published.
    size: String,
    e_tag: String,
    sequencer: String,
}

// Shape B: an EventBridge "Object Created" event forwarded to the queue.
#[derive(Serialize)]
struct EventBridgeEvent {
    version: &'static str,
    id: String,
    #[serde(rename = "detail-type")]
    detail_type: &'static str,
    source: &'static str,
    account: String,
    time: String,
    region: String,
    resources: Vec<String>,
    detail: EventBridgeDetail,
}

#[derive(Serialize)]
struct EventBridgeDetail {
    version: &'static str,
    bucket: EbBucket,
    object: EbObject,
    #[serde(rename = "request-id")]
    request_id: String,
    requester: String,
    #[serde(rename = "source-ip-address")]
    source_ip_address: String,
    reason: &'static str,
}

#[derive(Serialize)]
struct EbBucket {
    name: String,
}

#[derive(Serialize)]
struct EbObject {
    key: String,
    size: u64,
    etag: String,
    sequencer: String,
}

fn wrap(
    rng: &mut impl Rng,
    ev: &ObjectEvent<'_>,
    body: String,
    sender_id: String,
) -> serde_json::Result<String> {
    let sent = ev.put_ms + rng.random_range(50..900);
    let received = sent + rng.random_range(5..30_000);
    let record = SqsRecord {
        message_id: random_uuid(rng),
        receipt_handle: format!(
            "AQEB{}",
            (0..4)
                .map(|_| random_upper_alnum(rng, 40))
                .collect::<Vec<_>>()
                .join("+")
        ),
        md5_of_body: md5_hex(body.as_bytes()),
        body,
        attributes: SqsAttributes {
            approximate_receive_count: "1",
            sent_timestamp: sent.to_string(),
            sender_id,
            approximate_first_receive_timestamp: received.to_string(),
        },
        message_attributes: serde_json::Map::new(),
        event_source: "aws:sqs",
        event_source_arn: ev.queue_arn.to_string(),
        aws_region: ev.region.to_string(),
    };
    serde_json::to_string_pretty(&SqsEvent {
        records: vec![record],
    })
}

/// Returns (S3 notification shape, EventBridge shape) Lambda SQS events for one object.
pub(crate) fn object_events(
    rng: &mut impl Rng,
    ev: &ObjectEvent<'_>,
) -> serde_json::Result<(String, String)> {
    let sequencer = format!("00{}", random_hex(rng, 16).to_uppercase());
    let request_id = random_upper_alnum(rng, 16);
    let writer_ip = format!(
        "10.0.{}.{}",
        rng.random_range(0..=255),
        rng.random_range(1..=254)
    );
    let s3_body = serde_json::to_string(&S3Notification {
        records: vec![S3Record {
            event_version: "2.1",
            event_source: "aws:s3",
            aws_region: ev.region.to_string(),
            event_time: iso_millis(ev.put_ms),
            event_name: "ObjectCreated:Put",
            user_identity: PrincipalId {
                principal_id: format!("AWS:AROA{}:ETLWorkerLambda", random_upper_alnum(rng, 17)),
            },
            request_parameters: RequestParameters {
                source_ip_address: writer_ip.clone(),
            },
            response_elements: ResponseElements {
                request_id: request_id.clone(),
                id_2: random_upper_alnum(rng, 56),
            },
            s3: S3Entity {
                s3_schema_version: "1.0",
                configuration_id: random_upper_alnum(rng, 48),
                bucket: S3Bucket {
                    name: ev.bucket.to_string(),
                    owner_identity: PrincipalId {
                        principal_id: random_upper_alnum(rng, 13),
                    },
                    arn: format!("arn:aws:s3:::{}", ev.bucket),
                },
                object: S3Object {
                    key: s3_event_key_encode(ev.key),
                    size: ev.size.to_string(),
                    e_tag: ev.etag.to_string(),
                    sequencer: sequencer.clone(),
                },
            },
        }],
    })?;
    let s3_sender = format!("AROA{}:S3-PROD-END", random_upper_alnum(rng, 17));
    let shape_a = wrap(rng, ev, s3_body, s3_sender)?;

    let eb_body = serde_json::to_string(&EventBridgeEvent {
        version: "0",
        id: random_uuid(rng),
        detail_type: "Object Created",
        source: "aws.s3",
        account: ev.lake_account.to_string(),
        time: iso_seconds(ev.put_ms),
        region: ev.region.to_string(),
        resources: vec![format!("arn:aws:s3:::{}", ev.bucket)],
        detail: EventBridgeDetail {
            version: "0",
            bucket: EbBucket {
                name: ev.bucket.to_string(),
            },
            object: EbObject {
                key: ev.key.to_string(),
                size: ev.size,
                etag: ev.etag.to_string(),
                sequencer,
            },
            request_id,
            requester: ev.lake_account.to_string(),
            source_ip_address: writer_ip,
            reason: "PutObject",
        },
    })?;
    let eb_sender = format!("AIDA{}", random_upper_alnum(rng, 17));
    let shape_b = wrap(rng, ev, eb_body, eb_sender)?;
    Ok((shape_a, shape_b))
}
