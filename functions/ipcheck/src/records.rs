//! What the function reports: one JSON log line per finding or object, and CloudWatch Embedded
//! Metric Format lines for dashboards and alarms. Field names are the contract of the saved
//! queries in `template.yaml`; raw payloads are never logged.

use findings::Anomaly;
use findings::sink::SinkReport;
use seclake::{ExtractStats, LakeKey, ObjectRef};
use serde_json::json;

/// The object being reported on.
#[derive(Debug, Clone, Copy)]
pub struct ObjectContext<'a> {
    pub message_id: &'a str,
    pub object: &'a ObjectRef,
    pub key: &'a LakeKey,
}

/// A pair below the threshold, as it is sent to the sinks. `scored_as` is the entity the model
/// scored: the instance, or its group (`entity_scope` says which) for an instance the model was
/// not trained on. `finding_id` is the Security Hub finding and EventBridge dedup key.
pub fn anomaly(ctx: &ObjectContext<'_>, a: &Anomaly) {
    let severity = a.severity();
    tracing::warn!(
        record = "anomaly",
        entity = %a.entity,
        ip = %a.ip,
        group = a.group.as_deref().unwrap_or(""),
        entity_scope = %a.entity_scope,
        scored_as = %a.scored_as,
        dot_product = a.score,
        threshold = a.threshold,
        // 0 unless the fan-out rule raised it.
        fanout_addresses = a.fanout_addresses.unwrap_or(0),
        severity = severity.label,
        finding_id = %a.finding_id(),
        port = a.port.map(i64::from).unwrap_or(-1),
        protocol = a.protocol.map(i64::from).unwrap_or(-1),
        first_seen_ms = a.first_ms.unwrap_or(-1),
        count = a.count,
        source = %ctx.key.source,
        source_version = ctx.key.version_raw.as_deref().unwrap_or(""),
        account = %ctx.key.account,
        region = %ctx.key.region,
        bucket = %ctx.object.bucket,
        key = %ctx.object.key,
        message_id = ctx.message_id,
        "anomaly"
    );
}

/// An anomaly a suppression rule silenced: not sent anywhere, named here with its rule.
pub fn suppressed(ctx: &ObjectContext<'_>, a: &Anomaly, rule: &str, owner: &str, reason: &str) {
    tracing::info!(
        record = "suppressed",
        entity = %a.entity,
        ip = %a.ip,
        group = a.group.as_deref().unwrap_or(""),
        dot_product = a.score,
        port = a.port.map(i64::from).unwrap_or(-1),
        rule,
        owner,
        reason,
        account = %ctx.key.account,
        key = %ctx.object.key,
        message_id = ctx.message_id,
        "suppressed"
    );
}

/// A finding or event a sink refused as malformed: never retried.
pub fn sink_rejected(sink: &str, id: &str, code: &str, error: &str, message_ids: &[&str]) {
    for message_id in message_ids {
        tracing::error!(
            record = "rejected",
            reason = "sink_rejected",
            sink,
            finding_id = id,
            code,
            error,
            bucket = "",
            key = "",
            message_id = *message_id,
            "rejected"
        );
    }
}

/// What the sinks did for one invocation.
pub fn sinks(hub: &SinkReport, events: &SinkReport) {
    tracing::info!(
        record = "sinks",
        findings_sent = hub.sent,
        findings_rejected = hub.rejected.len(),
        findings_failed = hub.failed.len(),
        security_hub_calls = hub.calls,
        security_hub_retries = hub.retries,
        events_sent = events.sent,
        events_rejected = events.rejected.len(),
        events_failed = events.failed.len(),
        eventbridge_calls = events.calls,
        eventbridge_retries = events.retries,
        "sinks"
    );
}

/// What scoring one object took and found.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObjectSummary {
    pub anomalies: u64,
    /// Of them, raised by the fan-out rule.
    pub fanout: u64,
    /// Pairs whose instance and group the model never saw: not scored.
    pub unseen: u64,
    /// Pairs scored as their group (a new instance of a known group).
    pub group_scored: u64,
    /// Anomalies a suppression rule silenced.
    pub suppressed: u64,
    /// Anomalies over `MAX_ANOMALIES_PER_OBJECT`: counted, not logged or sent.
    pub capped: u64,
    pub endpoint_calls: u64,
    pub millis: u64,
}

pub fn object_scored(ctx: &ObjectContext<'_>, stats: &ExtractStats, summary: &ObjectSummary) {
    let dropped = serde_json::to_string(&stats.dropped).unwrap_or_default();
    tracing::info!(
        record = "object_scored",
        rows = stats.rows,
        pairs = stats.pairs_kept,
        distinct_pairs = stats.unique_pairs,
        dropped = %dropped,
        dropped_total = stats.dropped.total(),
        ipv4_normalized = stats.ipv4_normalized,
        anomalies = summary.anomalies,
        fanout_anomalies = summary.fanout,
        unseen_pairs = summary.unseen,
        group_scored_pairs = summary.group_scored,
        suppressed = summary.suppressed,
        anomalies_capped = summary.capped,
        initiator = %serde_json::to_string(&stats.initiator).unwrap_or_default(),
        endpoint_calls = summary.endpoint_calls,
        bytes_read = stats.bytes_read,
        get_requests = stats.requests,
        millis = summary.millis,
        source = %ctx.key.source,
        source_version = ctx.key.version_raw.as_deref().unwrap_or(""),
        account = %ctx.key.account,
        region = %ctx.key.region,
        bucket = %ctx.object.bucket,
        key = %ctx.object.key,
        message_id = ctx.message_id,
        "object_scored"
    );
}

/// A message or object that will never succeed: acknowledged, not retried.
pub fn rejected(message_id: &str, bucket: &str, key: &str, reason: &str, error: &str) {
    tracing::error!(
        record = "rejected",
        message_id,
        bucket,
        key,
        reason,
        error,
        "rejected"
    );
}

/// An object of a source that is not scored (Security Hub findings, CloudTrail, …).
pub fn skipped(message_id: &str, object: &ObjectRef, reason: &str) {
    tracing::info!(
        record = "skipped",
        message_id,
        bucket = %object.bucket,
        key = %object.key,
        reason,
        "skipped"
    );
}

/// A message left for SQS to deliver again (transient failure).
pub fn failed(message_id: &str, bucket: &str, key: &str, reason: &str, error: &str) {
    tracing::warn!(
        record = "failed",
        message_id,
        bucket,
        key,
        reason,
        error,
        "failed; the message will be delivered again"
    );
}

/// Counters of one invocation, written as one EMF line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    pub objects_scored: u64,
    pub pairs_scored: u64,
    pub anomalies: u64,
    pub rejected: u64,
    pub endpoint_errors: u64,
    /// Pairs not scored: neither the instance nor its group was trained on.
    pub unseen_pairs: u64,
    /// Pairs scored as their group.
    pub group_scored_pairs: u64,
    pub suppressed: u64,
    /// Anomalies over the per-object cap (an alarm: the model or threshold needs attention).
    pub capped: u64,
    pub findings_sent: u64,
    pub events_sent: u64,
    /// Findings or events refused as malformed, or left undone after retries.
    pub sink_rejected: u64,
    pub sink_failures: u64,
}

impl Metrics {
    pub fn add(&mut self, other: &Metrics) {
        self.objects_scored += other.objects_scored;
        self.pairs_scored += other.pairs_scored;
        self.anomalies += other.anomalies;
        self.rejected += other.rejected;
        self.endpoint_errors += other.endpoint_errors;
        self.unseen_pairs += other.unseen_pairs;
        self.group_scored_pairs += other.group_scored_pairs;
        self.suppressed += other.suppressed;
        self.capped += other.capped;
        self.findings_sent += other.findings_sent;
        self.events_sent += other.events_sent;
        self.sink_rejected += other.sink_rejected;
        self.sink_failures += other.sink_failures;
    }

    /// The CloudWatch Embedded Metric Format document for these counters.
    pub fn emf(&self, namespace: &str, timestamp_ms: u64) -> serde_json::Value {
        let names = [
            "ObjectsScored",
            "PairsScored",
            "Anomalies",
            "Rejected",
            "EndpointErrors",
            "UnseenEntityPairs",
            "GroupScoredPairs",
            "SuppressedAnomalies",
            "CappedAnomalies",
            "FindingsSent",
            "EventsSent",
            "SinkRejected",
            "SinkFailures",
        ];
        json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [[]],
                    "Metrics": names.iter().map(|n| json!({"Name": n, "Unit": "Count"})).collect::<Vec<_>>(),
                }],
            },
            "ObjectsScored": self.objects_scored,
            "PairsScored": self.pairs_scored,
            "Anomalies": self.anomalies,
            "Rejected": self.rejected,
            "EndpointErrors": self.endpoint_errors,
            "UnseenEntityPairs": self.unseen_pairs,
            "GroupScoredPairs": self.group_scored_pairs,
            "SuppressedAnomalies": self.suppressed,
            "CappedAnomalies": self.capped,
            "FindingsSent": self.findings_sent,
            "EventsSent": self.events_sent,
            "SinkRejected": self.sink_rejected,
            "SinkFailures": self.sink_failures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document() {
        let m = Metrics {
            objects_scored: 2,
            pairs_scored: 10,
            anomalies: 1,
            rejected: 0,
            endpoint_errors: 3,
            unseen_pairs: 4,
            group_scored_pairs: 5,
            capped: 6,
            sink_failures: 7,
            ..Default::default()
        };
        let doc = m.emf("NS", 1_700_000_000_000);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "NS");
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            13
        );
        assert_eq!(doc["CappedAnomalies"], 6);
        assert_eq!(doc["SinkFailures"], 7);
        assert_eq!(doc["EndpointErrors"], 3);
        assert_eq!(doc["UnseenEntityPairs"], 4);
        assert_eq!(doc["GroupScoredPairs"], 5);
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000u64);
    }
}
