//! The EventBridge event of an anomaly. `detail` is versioned; its `id` is the finding id, the
//! key a consumer deduplicates on (SQS may deliver an object twice, and each delivery sends).

use std::net::Ipv4Addr;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::Serialize;

use crate::anomaly::{Anomaly, Severity, rfc3339};
use crate::{EVENT_DETAIL_TYPE, EVENT_SOURCE};

/// Version of the `detail` schema below; bumped on incompatible changes.
pub const DETAIL_VERSION: u32 = 1;

/// The `detail` of our events.
#[derive(Debug, Clone, Serialize)]
pub struct Detail<'a> {
    pub version: u32,
    /// The finding id: the same anomaly always has the same id (deduplicate on it).
    pub id: String,
    pub account: &'a str,
    pub region: &'a str,
    /// The instance id and its ARN.
    pub entity: &'a str,
    pub instance_arn: String,
    pub address: Ipv4Addr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<&'a str>,
    pub entity_scope: &'a str,
    pub scored_as: &'a str,
    pub score: f64,
    pub threshold: f64,
    pub severity: Severity,
    pub pairing: &'a str,
    pub source: &'a str,
    pub model: &'a str,
    pub network: NetworkDetail,
    /// RFC 3339, when the records carry times.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_observed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_observed_at: Option<String>,
    /// Records of the pair in this object.
    pub count: u64,
    pub object: ObjectDetail<'a>,
    pub title: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkDetail {
    /// `OUT` when the instance opened the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<Ipv4Addr>,
    pub destination_ip: Ipv4Addr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<u16>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectDetail<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
}

impl<'a> Detail<'a> {
    pub fn of(a: &'a Anomaly) -> Detail<'a> {
        Detail {
            version: DETAIL_VERSION,
            id: a.finding_id(),
            account: &a.account,
            region: &a.region,
            entity: &a.entity,
            instance_arn: a.instance_arn(),
            address: a.ip,
            group: a.group.as_deref(),
            entity_scope: &a.entity_scope,
            scored_as: &a.scored_as,
            score: a.score,
            threshold: a.threshold,
            severity: a.severity(),
            pairing: &a.pairing,
            source: &a.source,
            model: &a.model,
            network: NetworkDetail {
                direction: (a.is_outbound()).then_some("OUT"),
                protocol: a.protocol_name(),
                source_ip: a.local_ip,
                destination_ip: a.ip,
                destination_port: a.port,
            },
            first_observed_at: a.first_ms.map(rfc3339),
            last_observed_at: a.last_ms.or(a.first_ms).map(rfc3339),
            count: a.count,
            object: ObjectDetail {
                bucket: &a.bucket,
                key: &a.key,
            },
            title: a.title(),
        }
    }
}

/// The PutEvents entry of an anomaly for `bus`.
pub fn entry(a: &Anomaly, bus: &str) -> PutEventsRequestEntry {
    let detail = serde_json::to_string(&Detail::of(a)).unwrap_or_else(|_| "{}".to_string());
    PutEventsRequestEntry::builder()
        .source(EVENT_SOURCE)
        .detail_type(EVENT_DETAIL_TYPE)
        .detail(detail)
        .resources(a.instance_arn())
        .event_bus_name(bus)
        .build()
}

/// An entry's size as EventBridge counts it against the 256 KB request limit.
pub fn entry_bytes(e: &PutEventsRequestEntry) -> usize {
    let s = |v: Option<&str>| v.map_or(0, str::len);
    14 + s(e.source())
        + s(e.detail_type())
        + s(e.detail())
        + e.resources().iter().map(String::len).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::example;

    #[test]
    fn the_detail_is_documented_json() {
        let a = example();
        let e = entry(&a, "security");
        assert_eq!(e.source(), Some(EVENT_SOURCE));
        assert_eq!(e.detail_type(), Some(EVENT_DETAIL_TYPE));
        assert_eq!(e.event_bus_name(), Some("security"));
        assert_eq!(
            e.resources(),
            ["arn:aws:ec2:us-east-1:111122223333:instance/i-0abc"]
        );
        let d: serde_json::Value = serde_json::from_str(e.detail().unwrap()).unwrap();
        assert_eq!(d["version"], 1);
        assert_eq!(d["id"], a.finding_id());
        assert_eq!(d["entity"], "i-0abc");
        assert_eq!(d["address"], "198.51.100.7");
        assert_eq!(d["group"], "subnet-0web");
        assert_eq!(d["severity"]["label"], "MEDIUM");
        assert_eq!(d["network"]["direction"], "OUT");
        assert_eq!(d["network"]["protocol"], "TCP");
        assert_eq!(d["network"]["destination_port"], 4444);
        assert_eq!(d["network"]["source_ip"], "10.0.1.5");
        assert_eq!(d["first_observed_at"], "2025-12-01T01:00:00Z");
        assert_eq!(d["count"], 3);
        assert_eq!(d["object"]["bucket"], "lake");
        assert!(entry_bytes(&e) > e.detail().unwrap().len());
    }
}
