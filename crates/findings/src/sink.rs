//! Sending anomalies where analysts work: Security Hub (BatchImportFindings) and EventBridge
//! (PutEvents). Every call is bounded by the invocation's deadline; throttling and 5xx are
//! retried with jittered backoff; items a service rejects as malformed are reported as
//! permanent, everything else left undone as transient (the message goes back to the queue, and
//! the finding ids make the next delivery update instead of duplicate).

use std::collections::HashMap;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingFilters, StringFilter, StringFilterComparison,
};
use tokio::time::Instant;

use crate::anomaly::Anomaly;
use crate::asff::{self, Observed, Prior, Target};
use crate::event;
use crate::retry::{Backoff, Failure, classify, is_invalid_request};

/// BatchImportFindings takes at most 100 findings and 6 MB per request.
pub const MAX_FINDINGS_PER_CALL: usize = 100;
pub const MAX_IMPORT_BYTES: usize = 6 * 1000 * 1000;
/// GetFindings takes at most 20 values per filter attribute.
const MAX_IDS_PER_LOOKUP: usize = 20;
/// PutEvents takes at most 10 entries and 256 KB per request.
pub const MAX_EVENTS_PER_CALL: usize = 10;
pub const MAX_EVENTS_BYTES: usize = 256 * 1024;

/// What one send did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SinkReport {
    /// Items accepted.
    pub sent: u64,
    /// Items the service refused as malformed: (id, error code, message). Never retried.
    pub rejected: Vec<(String, String, String)>,
    /// Items left undone (retries ran out of time, or the failure may pass): (id, reason).
    pub failed: Vec<(String, String)>,
    /// Requests made, and how many of them were retries.
    pub calls: u64,
    pub retries: u64,
}

impl SinkReport {
    /// Whether the message should come back: something may still succeed.
    pub fn has_transient(&self) -> bool {
        !self.failed.is_empty()
    }

    /// Adds another report's counts and items.
    pub fn absorb(&mut self, other: SinkReport) {
        self.sent += other.sent;
        self.rejected.extend(other.rejected);
        self.failed.extend(other.failed);
        self.calls += other.calls;
        self.retries += other.retries;
    }
}

/// Imports findings into Security Hub.
#[derive(Debug, Clone)]
pub struct SecurityHubSink {
    client: aws_sdk_securityhub::Client,
    backoff: Backoff,
}

impl SecurityHubSink {
    /// `client` should have the SDK's own retries off: ours are bounded by the deadline.
    pub fn new(client: aws_sdk_securityhub::Client) -> Self {
        SecurityHubSink {
            client,
            backoff: Backoff::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sends the findings of `anomalies` (folded by finding id), each folded into the finding
    /// Security Hub already has under that id.
    pub async fn send(
        &self,
        anomalies: Vec<Anomaly>,
        target: &Target,
        deadline: Instant,
        now_ms: impl Fn() -> i64,
    ) -> SinkReport {
        let mut report = SinkReport::default();
        let observed = Observed::fold(anomalies);
        if observed.is_empty() {
            return report;
        }
        let ids: Vec<&str> = observed.iter().map(|(id, _)| id.as_str()).collect();
        let priors = match self.priors(&ids, deadline, &mut report).await {
            Ok(p) => p,
            Err(Failure::Permanent(why)) => {
                // Without the prior findings, counts restart; the finding itself still counts.
                tracing::warn!(error = %why, "could not read existing findings; importing without their counts");
                HashMap::new()
            }
            Err(Failure::Transient(why)) => {
                report.failed = ids
                    .iter()
                    .map(|id| (id.to_string(), format!("GetFindings: {why}")))
                    .collect();
                return report;
            }
        };
        let now = now_ms();
        let findings: Vec<AwsSecurityFinding> = observed
            .iter()
            .map(|(id, o)| asff::finding(id, o, priors.get(id.as_str()), target, now))
            .collect();
        for chunk in chunk_by_size(findings, MAX_FINDINGS_PER_CALL, MAX_IMPORT_BYTES, |f| {
            asff::estimated_bytes(f)
        }) {
            let part = self.import(chunk, deadline).await;
            report.absorb(part);
        }
        report
    }

    /// Our findings with these ids, as Security Hub has them.
    async fn priors(
        &self,
        ids: &[&str],
        deadline: Instant,
        report: &mut SinkReport,
    ) -> Result<HashMap<String, Prior>, Failure> {
        let mut out = HashMap::new();
        let wanted: std::collections::HashSet<&str> = ids.iter().copied().collect();
        let mut chunks = ids.chunks(MAX_IDS_PER_LOOKUP);
        while let Some(chunk) = chunks.next() {
            let filters = AwsSecurityFindingFilters::builder()
                .set_id(Some(
                    chunk
                        .iter()
                        .map(|id| {
                            StringFilter::builder()
                                .comparison(StringFilterComparison::Equals)
                                .value(*id)
                                .build()
                        })
                        .collect(),
                ))
                .build();
            let mut token: Option<String> = None;
            // Set when the service returns findings the filter excludes (it ignored the
            // filter, as moto does): one scan then serves every remaining id.
            let mut unfiltered = false;
            loop {
                if Instant::now() >= deadline {
                    return Err(Failure::Transient(
                        "GetFindings: the invocation's deadline came first".into(),
                    ));
                }
                let page = self
                    .get_findings_page(&filters, token.clone(), deadline, report)
                    .await?;
                // Checked here too: a filter the service ignores must not fold in another
                // finding's counts.
                for f in page.findings() {
                    match f.id() {
                        Some(id) if wanted.contains(id) => {
                            out.insert(id.to_string(), Prior::of(f));
                        }
                        _ => unfiltered = true,
                    }
                }
                token = page
                    .next_token()
                    .filter(|t| !t.is_empty())
                    .map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            if unfiltered {
                // The whole set was scanned: the other chunks are answered.
                for _ in chunks.by_ref() {}
            }
        }
        Ok(out)
    }

    /// One GetFindings page, retried on transient failures until the deadline.
    async fn get_findings_page(
        &self,
        filters: &AwsSecurityFindingFilters,
        token: Option<String>,
        deadline: Instant,
        report: &mut SinkReport,
    ) -> Result<aws_sdk_securityhub::operation::get_findings::GetFindingsOutput, Failure> {
        let mut attempt = 0;
        loop {
            report.calls += 1;
            let call = self
                .client
                .get_findings()
                .filters(filters.clone())
                .max_results(100)
                .set_next_token(token.clone())
                .send();
            let failure = match tokio::time::timeout_at(deadline, call).await {
                Ok(Ok(page)) => return Ok(page),
                Ok(Err(e)) => classify(&e),
                Err(_) => Failure::Transient("GetFindings timed out at the deadline".into()),
            };
            match failure {
                Failure::Transient(_) if self.backoff.wait(attempt, deadline).await => {
                    attempt += 1;
                    report.retries += 1;
                }
                f => return Err(f),
            }
        }
    }

    /// One BatchImportFindings request, then the findings that failed transiently by
    /// themselves, until the deadline.
    async fn import(&self, findings: Vec<AwsSecurityFinding>, deadline: Instant) -> SinkReport {
        let mut report = SinkReport::default();
        let mut pending = findings;
        let mut attempt = 0u32;
        loop {
            report.calls += 1;
            let call = self
                .client
                .batch_import_findings()
                .set_findings(Some(pending.clone()))
                .send();
            let outcome = tokio::time::timeout_at(deadline, call).await;
            let retry_all = |why: String| -> Vec<(String, String)> {
                pending
                    .iter()
                    .map(|f| (f.id().unwrap_or("").to_string(), why.clone()))
                    .collect()
            };
            let failed: Vec<(String, String)> = match outcome {
                Err(_) => retry_all("BatchImportFindings timed out at the deadline".into()),
                Ok(Err(e)) => match classify(&e) {
                    Failure::Permanent(why) => {
                        report.rejected.extend(pending.iter().map(|f| {
                            (
                                f.id().unwrap_or("").to_string(),
                                "request_rejected".to_string(),
                                why.clone(),
                            )
                        }));
                        return report;
                    }
                    Failure::Transient(why) => retry_all(why),
                },
                Ok(Ok(out)) => {
                    let mut failed = Vec::new();
                    let mut failed_ids = std::collections::HashSet::new();
                    for err in out.failed_findings() {
                        let id = err.id().unwrap_or("").to_string();
                        let code = err.error_code().unwrap_or("Unknown").to_string();
                        let message = err.error_message().unwrap_or("").to_string();
                        failed_ids.insert(id.clone());
                        if is_invalid_request(&code) {
                            report.rejected.push((id, code, message));
                        } else {
                            failed.push((id, format!("{code}: {message}")));
                        }
                    }
                    report.sent += pending
                        .iter()
                        .filter(|f| !failed_ids.contains(f.id().unwrap_or("")))
                        .count() as u64;
                    failed
                }
            };
            if failed.is_empty() {
                return report;
            }
            if !self.backoff.wait(attempt, deadline).await {
                report.failed.extend(failed);
                return report;
            }
            attempt += 1;
            report.retries += 1;
            let again: std::collections::HashSet<&str> =
                failed.iter().map(|(id, _)| id.as_str()).collect();
            pending.retain(|f| again.contains(f.id().unwrap_or("")));
        }
    }
}

/// Puts one event per anomaly on an EventBridge bus.
#[derive(Debug, Clone)]
pub struct EventBridgeSink {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    backoff: Backoff,
}

impl EventBridgeSink {
    /// `client` should have the SDK's own retries off: ours are bounded by the deadline.
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        EventBridgeSink {
            client,
            bus: bus.into(),
            backoff: Backoff::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn bus(&self) -> &str {
        &self.bus
    }

    /// Sends one event per anomaly; failed entries are retried by themselves.
    pub async fn send(&self, anomalies: &[Anomaly], deadline: Instant) -> SinkReport {
        let mut report = SinkReport::default();
        let entries: Vec<(String, PutEventsRequestEntry)> = anomalies
            .iter()
            .map(|a| (a.finding_id(), event::entry(a, &self.bus)))
            .collect();
        for chunk in chunk_by_size(entries, MAX_EVENTS_PER_CALL, MAX_EVENTS_BYTES, |(_, e)| {
            event::entry_bytes(e)
        }) {
            let part = self.put(chunk, deadline).await;
            report.absorb(part);
        }
        report
    }

    async fn put(
        &self,
        entries: Vec<(String, PutEventsRequestEntry)>,
        deadline: Instant,
    ) -> SinkReport {
        let mut report = SinkReport::default();
        let mut pending = entries;
        let mut attempt = 0u32;
        loop {
            report.calls += 1;
            let call = self
                .client
                .put_events()
                .set_entries(Some(pending.iter().map(|(_, e)| e.clone()).collect()))
                .send();
            let failed: Vec<((String, PutEventsRequestEntry), String)> =
                match tokio::time::timeout_at(deadline, call).await {
                    Err(_) => pending
                        .drain(..)
                        .map(|p| (p, "PutEvents timed out at the deadline".to_string()))
                        .collect(),
                    Ok(Err(e)) => {
                        match classify(&e) {
                            Failure::Permanent(why) => {
                                report.rejected.extend(pending.drain(..).map(|(id, _)| {
                                    (id, "request_rejected".to_string(), why.clone())
                                }));
                                return report;
                            }
                            Failure::Transient(why) => {
                                pending.drain(..).map(|p| (p, why.clone())).collect()
                            }
                        }
                    }
                    Ok(Ok(out)) => {
                        // Result entries are in request order; one with an error code failed.
                        let results = out.entries();
                        let mut failed = Vec::new();
                        for (i, item) in pending.drain(..).enumerate() {
                            match results.get(i).and_then(|r| r.error_code().map(|c| (c, r))) {
                                None if i < results.len() => report.sent += 1,
                                None => failed.push((item, "no result entry".to_string())),
                                Some((code, r)) if is_invalid_request(code) => {
                                    report.rejected.push((
                                        item.0,
                                        code.to_string(),
                                        r.error_message().unwrap_or("").to_string(),
                                    ));
                                }
                                Some((code, r)) => failed.push((
                                    item,
                                    format!("{code}: {}", r.error_message().unwrap_or("")),
                                )),
                            }
                        }
                        failed
                    }
                };
            if failed.is_empty() {
                return report;
            }
            if !self.backoff.wait(attempt, deadline).await {
                report
                    .failed
                    .extend(failed.into_iter().map(|((id, _), why)| (id, why)));
                return report;
            }
            attempt += 1;
            report.retries += 1;
            pending = failed.into_iter().map(|(item, _)| item).collect();
        }
    }
}

/// Splits `items` into requests of at most `max_items` and about `max_bytes`.
fn chunk_by_size<T>(
    items: Vec<T>,
    max_items: usize,
    max_bytes: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<Vec<T>> {
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut current: Vec<T> = Vec::new();
    let mut bytes = 0usize;
    for item in items {
        let n = size(&item);
        if !current.is_empty() && (current.len() == max_items || bytes + n > max_bytes) {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += n;
        current.push(item);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::example;
    use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsOutput;
    use aws_sdk_securityhub::operation::get_findings::GetFindingsOutput;
    use aws_sdk_securityhub::types::ImportFindingsError;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::time::Duration;

    fn fast() -> Backoff {
        Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
        }
    }

    fn anomalies(n: usize) -> Vec<Anomaly> {
        (0..n)
            .map(|i| {
                let mut a = example();
                a.ip = std::net::Ipv4Addr::from(0xC633_6400 + i as u32);
                a
            })
            .collect()
    }

    #[test]
    fn chunks_respect_both_limits() {
        let c = chunk_by_size((0..250).collect(), 100, usize::MAX, |_| 1);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), [100, 100, 50]);
        let c = chunk_by_size((0..10).collect(), 100, 35, |_| 10);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3, 1]);
        // One item over the byte limit still goes, alone.
        let c = chunk_by_size(vec![1, 2], 100, 5, |_| 10);
        assert_eq!(c.len(), 2);
    }

    #[tokio::test]
    async fn failed_findings_are_split_into_permanent_and_transient() {
        let batch = anomalies(3);
        let ids: Vec<String> = batch.iter().map(Anomaly::finding_id).collect();
        let (bad, busy) = (ids[0].clone(), ids[1].clone());
        let lookup = mock!(aws_sdk_securityhub::Client::get_findings)
            .then_output(|| GetFindingsOutput::builder().build());
        let first = mock!(aws_sdk_securityhub::Client::batch_import_findings)
            .match_requests(|r| r.findings().len() == 3)
            .then_output(move || {
                BatchImportFindingsOutput::builder()
                    .failed_count(2)
                    .success_count(1)
                    .failed_findings(
                        ImportFindingsError::builder()
                            .id(bad.clone())
                            .error_code("InvalidInput")
                            .error_message("data.Title should NOT be longer than 256 characters")
                            .build(),
                    )
                    .failed_findings(
                        ImportFindingsError::builder()
                            .id(busy.clone())
                            .error_code("InternalError")
                            .error_message("try again")
                            .build(),
                    )
                    .build()
            });
        let busy_id = ids[1].clone();
        let retry = mock!(aws_sdk_securityhub::Client::batch_import_findings)
            .match_requests(move |r| {
                r.findings().len() == 1 && r.findings()[0].id() == Some(busy_id.as_str())
            })
            .then_output(|| {
                BatchImportFindingsOutput::builder()
                    .failed_count(0)
                    .success_count(1)
                    .build()
            });
        let client = mock_client!(
            aws_sdk_securityhub,
            RuleMode::MatchAny,
            [&lookup, &first, &retry]
        );
        let sink = SecurityHubSink::new(client).with_backoff(fast());
        let report = sink
            .send(
                batch,
                &Target::new("999988887777", "us-east-1"),
                Instant::now() + Duration::from_secs(5),
                || 1_000,
            )
            .await;
        assert_eq!(report.sent, 2, "{report:?}");
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].0, ids[0]);
        assert_eq!(report.rejected[0].1, "InvalidInput");
        assert!(report.failed.is_empty());
        assert_eq!(report.retries, 1);
        assert_eq!(retry.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_transient_failure_past_the_deadline_is_reported_not_retried_forever() {
        let lookup = mock!(aws_sdk_securityhub::Client::get_findings)
            .then_output(|| GetFindingsOutput::builder().build());
        let busy =
            mock!(aws_sdk_securityhub::Client::batch_import_findings).then_http_response(|| {
                aws_smithy_runtime_api::http::Response::new(
                    aws_smithy_runtime_api::http::StatusCode::try_from(429).unwrap(),
                    aws_smithy_types::body::SdkBody::from(
                        r#"{"__type":"LimitExceededException","Message":"slow down"}"#,
                    ),
                )
            });
        let client = mock_client!(
            aws_sdk_securityhub,
            RuleMode::MatchAny,
            [&lookup, &busy],
            |c| c.retry_config(aws_sdk_securityhub::config::retry::RetryConfig::disabled())
        );
        let sink = SecurityHubSink::new(client).with_backoff(fast());
        let started = Instant::now();
        let report = sink
            .send(
                anomalies(2),
                &Target::new("999988887777", "us-east-1"),
                Instant::now() + Duration::from_millis(200),
                || 1_000,
            )
            .await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(report.sent, 0);
        assert_eq!(report.failed.len(), 2, "{report:?}");
        assert!(report.has_transient());
        assert!(report.failed[0].1.contains("LimitExceeded"), "{report:?}");
        assert!(busy.num_calls() > 1);
    }

    #[tokio::test]
    async fn failed_event_entries_are_retried_by_themselves() {
        use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
        use aws_sdk_eventbridge::types::PutEventsResultEntry;
        let first = mock!(aws_sdk_eventbridge::Client::put_events)
            .match_requests(|r| r.entries().len() == 10)
            .then_output(|| {
                let mut out = PutEventsOutput::builder().failed_entry_count(2);
                for i in 0..10 {
                    out = out.entries(match i {
                        3 => PutEventsResultEntry::builder()
                            .error_code("ThrottlingException")
                            .error_message("rate")
                            .build(),
                        7 => PutEventsResultEntry::builder()
                            .error_code("MalformedDetail")
                            .error_message("bad")
                            .build(),
                        _ => PutEventsResultEntry::builder()
                            .event_id(format!("e{i}"))
                            .build(),
                    });
                }
                out.build()
            });
        let rest = mock!(aws_sdk_eventbridge::Client::put_events)
            .match_requests(|r| r.entries().len() < 10)
            .then_output(|| {
                PutEventsOutput::builder()
                    .failed_entry_count(0)
                    .entries(PutEventsResultEntry::builder().event_id("x").build())
                    .entries(PutEventsResultEntry::builder().event_id("y").build())
                    .entries(PutEventsResultEntry::builder().event_id("z").build())
                    .build()
            });
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [&first, &rest]);
        let sink = EventBridgeSink::new(client, "security").with_backoff(fast());
        let batch = anomalies(12);
        let report = sink
            .send(&batch, Instant::now() + Duration::from_secs(5))
            .await;
        // 12 entries in requests of 10 and 2; the throttled entry goes again by itself, the
        // malformed one never.
        assert_eq!(report.sent, 11, "{report:?}");
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].0, batch[7].finding_id());
        assert!(report.failed.is_empty());
        assert_eq!(report.retries, 1);
        assert_eq!(rest.num_calls(), 2);
    }
}
