//! One invocation: a batch of subscriber-queue messages in, the ids of the messages SQS should
//! deliver again out. Each message: notification -> objects -> pairs -> scores -> records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use ipinsights::alert::Alert;
use lambda_runtime::LambdaEvent;
use seclake::{
    EntityScope, ExtractOptions, GroupMap, LakeKey, Notification, ObjectLocation, ObjectReader,
    ObjectRef, ReadOptions, parse_body,
};
use tokio::sync::OnceCell;
use tokio::time::Instant;
use tracing::Instrument;

use findings::Anomaly;
use findings::asff::Target;
use findings::sink::{EventBridgeSink, SecurityHubSink, SinkReport};
use findings::suppress::SuppressionSet;

use crate::config::Config;
use crate::records::{self, Metrics, ObjectContext, ObjectSummary};
use crate::scoring::Scorer;

/// Where anomalies go beside the log: each sink is optional.
#[derive(Debug, Clone, Default)]
pub struct Sinks {
    pub security_hub: Option<SecurityHubSink>,
    pub events: Option<EventBridgeSink>,
}

/// Everything the handler needs, built once per execution environment.
pub struct Deps {
    pub config: Config,
    /// S3 in Lambda; a local mirror of the lake in `ipinsights demo`.
    pub objects: ObjectReader,
    pub scorer: Scorer,
    pub read: ReadOptions,
    /// The instance -> group mapping of `GROUPS_URI`, read once on first use.
    groups: OnceCell<Option<Arc<GroupMap>>>,
    /// The rules of `SUPPRESSIONS_URI`, read once on first use.
    suppressions: OnceCell<Option<Arc<SuppressionSet>>>,
    /// Reads `GROUPS_URI` from S3.
    s3: Option<aws_sdk_s3::Client>,
    pub sinks: Sinks,
}

impl Deps {
    pub fn new(config: Config, objects: ObjectReader, scorer: Scorer) -> Self {
        let read = ReadOptions {
            max_object_bytes: config.max_object_bytes,
            ..ReadOptions::default()
        };
        Deps {
            config,
            objects,
            scorer,
            read,
            groups: OnceCell::new(),
            suppressions: OnceCell::new(),
            s3: None,
            sinks: Sinks::default(),
        }
    }

    /// Security Hub and EventBridge, as configured.
    pub fn with_sinks(mut self, sinks: Sinks) -> Self {
        self.sinks = sinks;
        self
    }

    /// The client that reads `GROUPS_URI` when it is on S3.
    pub fn with_s3(mut self, s3: aws_sdk_s3::Client) -> Self {
        self.s3 = Some(s3);
        self
    }

    /// A group mapping already in memory (the demo, tests).
    pub fn with_groups(self, map: GroupMap) -> Self {
        let _ = self.groups.set(Some(Arc::new(map)));
        self
    }

    /// Suppression rules already in memory (the demo, tests).
    pub fn with_suppressions(self, rules: SuppressionSet) -> Self {
        let _ = self.suppressions.set(Some(Arc::new(rules)));
        self
    }

    /// The text of a configuration object (`s3://…` or a path).
    async fn read_config(&self, name: &str, uri: &str) -> Result<String, String> {
        let bytes = match (uri.strip_prefix("s3://"), &self.s3) {
            (Some(_), None) => return Err(format!("no S3 client to read {uri}")),
            (Some(_), Some(s3)) => crate::scoring::load_bytes(s3, uri).await,
            (None, _) => tokio::fs::read(uri).await.map_err(|e| e.to_string()),
        }
        .map_err(|e| format!("reading {name} {uri}: {e}"))?;
        String::from_utf8(bytes).map_err(|_| format!("{name} {uri} is not UTF-8"))
    }

    async fn groups(&self) -> Result<Option<Arc<GroupMap>>, String> {
        self.groups
            .get_or_try_init(|| async {
                let Some(uri) = &self.config.groups_uri else {
                    return Ok(None);
                };
                let text = self.read_config("GROUPS_URI", uri).await?;
                let map =
                    GroupMap::parse_csv(&text).map_err(|e| format!("GROUPS_URI {uri}: {e}"))?;
                tracing::info!(uri = %uri, instances = map.len(), "group mapping loaded");
                Ok(Some(Arc::new(map)))
            })
            .await
            .cloned()
    }

    async fn suppressions(&self) -> Result<Option<Arc<SuppressionSet>>, String> {
        self.suppressions
            .get_or_try_init(|| async {
                let Some(uri) = &self.config.suppressions_uri else {
                    return Ok(None);
                };
                let text = self.read_config("SUPPRESSIONS_URI", uri).await?;
                let rules = SuppressionSet::parse(&text)
                    .map_err(|e| format!("SUPPRESSIONS_URI {uri}: {e}"))?;
                let now = now_ms();
                for rule in rules.expired(now) {
                    tracing::warn!(
                        rule = %rule.id,
                        owner = %rule.owner,
                        expires = %findings::anomaly::rfc3339(rule.expires_ms),
                        "suppression rule expired; ignored"
                    );
                }
                tracing::info!(uri = %uri, rules = rules.len(), expired = rules.expired(now).len(), "suppression rules loaded");
                Ok(Some(Arc::new(rules)))
            })
            .await
            .cloned()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How an object ended.
#[derive(Debug, Clone)]
enum ObjectOutcome {
    /// Scored; the anomalies to send (after suppressions and the cap), already logged.
    Scored(Metrics, Arc<Vec<Anomaly>>),
    Skipped,
    /// Permanent: logged once, never retried.
    Rejected,
    /// Transient: the message goes back to the queue.
    Failed(Metrics),
}

/// How a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageOutcome {
    Done,
    Rejected,
    Retry,
}

/// Time kept back from the invocation deadline to report the batch.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);

/// Time kept for the sinks after the last object, when there are sinks.
pub const SINK_RESERVE: Duration = Duration::from_millis(1000);

/// An object is not started with less time than this left: it would only be cut off.
pub const MIN_TIME_FOR_OBJECT: Duration = Duration::from_millis(500);

/// How long past the deadline the scorer may take to report its own stop (inside the margin).
const SCORING_GRACE: Duration = Duration::from_millis(250);

/// When retries must stop: the invocation deadline less a margin (one minute without one, as
/// in local runs).
fn deadline_of(deadline_epoch_ms: u64) -> Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let remaining = if deadline_epoch_ms == 0 {
        Duration::from_secs(60)
    } else {
        Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms))
    };
    Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN)
}

/// Objects announced twice in one batch are processed once; the second message waits for the
/// first one's outcome.
type Claims = Mutex<HashMap<(String, String), Arc<OnceCell<ObjectOutcome>>>>;

/// The Lambda handler: [`handle_batch`], then the invocation's metrics as one EMF line.
pub async fn handle(
    event: LambdaEvent<SqsEvent>,
    deps: &Deps,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let (response, metrics) = handle_batch(event, deps).await?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    println!("{}", metrics.emf(&deps.config.metrics_namespace, now_ms));
    Ok(response)
}

/// Processes a batch: the response names the messages SQS should deliver again.
pub async fn handle_batch(
    event: LambdaEvent<SqsEvent>,
    deps: &Deps,
) -> Result<(SqsBatchResponse, Metrics), lambda_runtime::Error> {
    let deadline = deadline_of(event.context.deadline);
    // Objects stop early enough for the sinks to send what they found.
    let has_sinks = deps.sinks.security_hub.is_some() || deps.sinks.events.is_some();
    let work_deadline = if has_sinks {
        deadline.checked_sub(SINK_RESERVE).unwrap_or(deadline)
    } else {
        deadline
    };
    let caller = Caller::of_function_arn(&event.context.invoked_function_arn);
    let caller = &caller;
    let claims: Claims = Mutex::new(HashMap::new());
    let outcomes: Vec<(Option<String>, MessageOutcome, Metrics, Vec<Anomaly>)> =
        futures::stream::iter(event.payload.records)
            .map(|message| {
                let id = message.message_id.clone();
                let span =
                    tracing::info_span!("message", message_id = id.as_deref().unwrap_or("-"));
                let claims = &claims;
                async move {
                    let (outcome, metrics, anomalies) =
                        handle_message(&message, deps, work_deadline, claims).await;
                    (id, outcome, metrics, anomalies)
                }
                .instrument(span)
            })
            .buffer_unordered(deps.config.message_concurrency)
            .collect()
            .await;

    let mut outcomes = outcomes;
    let mut metrics = Metrics::default();
    // The batch's anomalies go out together: the same pair in several objects becomes one
    // finding update, and a failure sends back exactly the messages whose anomalies it left.
    let mut anomalies: Vec<Anomaly> = Vec::new();
    let mut senders: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, (_, _, _, found)) in outcomes.iter_mut().enumerate() {
        for a in found.drain(..) {
            senders.entry(a.finding_id()).or_default().push(i);
            anomalies.push(a);
        }
    }
    if !anomalies.is_empty() {
        let (hub, events) = Box::pin(send_to_sinks(&deps.sinks, anomalies, caller, deadline)).await;
        for (name, report) in [("security_hub", &hub), ("eventbridge", &events)] {
            let ids_of = |finding: &str| -> Vec<&str> {
                senders
                    .get(finding)
                    .map(|ix| {
                        ix.iter()
                            .map(|i| outcomes[*i].0.as_deref().unwrap_or("-"))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            for (id, code, error) in &report.rejected {
                records::sink_rejected(name, id, code, error, &ids_of(id));
            }
            let mut retry: Vec<usize> = Vec::new();
            for (id, why) in &report.failed {
                for i in senders.get(id).into_iter().flatten() {
                    if !retry.contains(i) {
                        retry.push(*i);
                        records::failed(
                            outcomes[*i].0.as_deref().unwrap_or("-"),
                            "",
                            "",
                            "sink_failed",
                            &format!("{name}: {id}: {why}"),
                        );
                    }
                }
            }
            for i in retry {
                outcomes[i].1 = MessageOutcome::Retry;
            }
        }
        records::sinks(&hub, &events);
        metrics.findings_sent += hub.sent;
        metrics.events_sent += events.sent;
        metrics.sink_rejected += (hub.rejected.len() + events.rejected.len()) as u64;
        metrics.sink_failures += (hub.failed.len() + events.failed.len()) as u64;
    }

    let mut response = SqsBatchResponse::default();
    for (id, outcome, m, _) in outcomes {
        metrics.add(&m);
        if outcome == MessageOutcome::Retry {
            match id {
                Some(id) => response.add_failure(id),
                // Without an id the message cannot be named: fail the batch rather than lose it.
                None => {
                    return Err(
                        "a message without messageId failed; failing the whole batch".into(),
                    );
                }
            }
        }
    }
    Ok((response, metrics))
}

/// The account and region the function runs in, from its ARN: where findings are imported.
#[derive(Debug, Clone, Default)]
struct Caller {
    account: Option<String>,
    region: Option<String>,
}

impl Caller {
    fn of_function_arn(arn: &str) -> Caller {
        // arn:aws:lambda:<region>:<account>:function:<name>
        let parts: Vec<&str> = arn.split(':').collect();
        let field = |i: usize| {
            parts
                .get(i)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string())
        };
        if parts.len() >= 6 && parts[0] == "arn" && parts[2] == "lambda" {
            Caller {
                region: field(3),
                account: field(4),
            }
        } else {
            Caller::default()
        }
    }

    /// The import target; outside Lambda (demo, tests) the anomaly's own account and region.
    fn target(&self, account: &str, region: &str) -> Target {
        Target::new(
            self.account.as_deref().unwrap_or(account),
            self.region.as_deref().unwrap_or(region),
        )
    }
}

async fn handle_message(
    message: &SqsMessage,
    deps: &Deps,
    deadline: Instant,
    claims: &Claims,
) -> (MessageOutcome, Metrics, Vec<Anomaly>) {
    let message_id = message.message_id.as_deref().unwrap_or("-");
    let mut metrics = Metrics::default();
    let Some(body) = message.body.as_deref() else {
        records::rejected(message_id, "", "", "empty_body", "the message has no body");
        metrics.rejected += 1;
        return (MessageOutcome::Rejected, metrics, Vec::new());
    };
    let objects = match parse_body(body) {
        Ok(Notification::Objects(objects)) => objects,
        Ok(Notification::TestEvent) => {
            tracing::debug!("s3:TestEvent acknowledged");
            return (MessageOutcome::Done, metrics, Vec::new());
        }
        Err(e) => {
            records::rejected(message_id, "", "", "not_a_notification", &e.to_string());
            metrics.rejected += 1;
            return (MessageOutcome::Rejected, metrics, Vec::new());
        }
    };
    let mut outcome = MessageOutcome::Done;
    let mut anomalies: Vec<Anomaly> = Vec::new();
    for object in &objects {
        let cell = {
            let mut map = claims.lock().unwrap_or_else(|p| p.into_inner());
            map.entry((object.bucket.clone(), object.key.clone()))
                .or_insert_with(|| Arc::new(OnceCell::new()))
                .clone()
        };
        let mut first = false;
        let result = cell
            .get_or_init(|| {
                first = true;
                process_object(object, message_id, deps, deadline)
            })
            .await
            .clone();
        if !first {
            tracing::info!(bucket = %object.bucket, key = %object.key, "object already processed in this batch");
        }
        match result {
            ObjectOutcome::Scored(m, found) if first => {
                metrics.add(&m);
                anomalies.extend(found.iter().cloned());
            }
            ObjectOutcome::Rejected if first => {
                metrics.rejected += 1;
                if outcome == MessageOutcome::Done {
                    outcome = MessageOutcome::Rejected;
                }
            }
            ObjectOutcome::Failed(m) => {
                if first {
                    metrics.add(&m);
                }
                outcome = MessageOutcome::Retry;
            }
            _ => {}
        }
    }
    (outcome, metrics, anomalies)
}

async fn process_object(
    object: &ObjectRef,
    message_id: &str,
    deps: &Deps,
    deadline: Instant,
) -> ObjectOutcome {
    let started = std::time::Instant::now();
    let key = match LakeKey::parse(&object.key) {
        Ok(key) => key,
        Err(e) => {
            records::rejected(
                message_id,
                &object.bucket,
                &object.key,
                "key_outside_layout",
                &e.to_string(),
            );
            return ObjectOutcome::Rejected;
        }
    };
    if !key.source.is_scorable() {
        records::skipped(
            message_id,
            object,
            &format!("source {} is not scored", key.source),
        );
        return ObjectOutcome::Skipped;
    }
    let options = ExtractOptions {
        pairing: deps.config.pairing,
        group_by: deps.config.group_by,
        ..Default::default()
    };
    let location = ObjectLocation::S3 {
        bucket: object.bucket.clone(),
        key: object.key.clone(),
    };
    if deadline.saturating_duration_since(Instant::now()) < MIN_TIME_FOR_OBJECT {
        records::failed(
            message_id,
            &object.bucket,
            &object.key,
            "deadline",
            "too little time left in this invocation to start the object",
        );
        return ObjectOutcome::Failed(Metrics::default());
    }
    let extract = deps
        .objects
        .extract(&location, object.size, &key.source, &options, &deps.read);
    let Ok(extracted) = tokio::time::timeout_at(deadline, extract).await else {
        records::failed(
            message_id,
            &object.bucket,
            &object.key,
            "deadline",
            "reading the object did not finish before the invocation's deadline",
        );
        return ObjectOutcome::Failed(Metrics::default());
    };
    let mut set = match extracted {
        Ok(set) => set,
        Err(e) if e.is_retryable() => {
            records::failed(
                message_id,
                &object.bucket,
                &object.key,
                e.reason(),
                &e.to_string(),
            );
            return ObjectOutcome::Failed(Metrics::default());
        }
        Err(e) => {
            records::rejected(
                message_id,
                &object.bucket,
                &object.key,
                e.reason(),
                &e.to_string(),
            );
            return ObjectOutcome::Rejected;
        }
    };
    match deps.groups().await {
        Ok(Some(map)) => map.apply(&mut set.pairs),
        Ok(None) => {}
        Err(e) => {
            // The mapping is configuration: retrying lets a fixed file take effect.
            records::failed(
                message_id,
                &object.bucket,
                &object.key,
                "groups_unreadable",
                &e,
            );
            return ObjectOutcome::Failed(Metrics::default());
        }
    }
    let suppressions = match deps.suppressions().await {
        Ok(rules) => rules,
        Err(e) => {
            // Configuration, like the group mapping: a fixed file takes effect on retry.
            records::failed(
                message_id,
                &object.bucket,
                &object.key,
                "suppressions_unreadable",
                &e,
            );
            return ObjectOutcome::Failed(Metrics::default());
        }
    };
    // The endpoint scorer stops its own retries at the deadline and says what they were; the
    // bound here (a little later, still well before Lambda's) is for what cannot stop itself.
    let score = deps.scorer.score(&set.pairs, deadline);
    let Ok(scored) = tokio::time::timeout_at(deadline + SCORING_GRACE, score).await else {
        records::failed(
            message_id,
            &object.bucket,
            &object.key,
            "deadline",
            "scoring did not finish before the invocation's deadline",
        );
        return ObjectOutcome::Failed(Metrics::default());
    };
    let scored = match scored {
        Ok(scored) => scored,
        Err(e) => {
            let (_, errors) = e.calls();
            records::failed(
                message_id,
                &object.bucket,
                &object.key,
                "scoring_failed",
                &e.to_string(),
            );
            return ObjectOutcome::Failed(Metrics {
                endpoint_errors: errors,
                ..Default::default()
            });
        }
    };
    let ctx = ObjectContext {
        message_id,
        object,
        key: &key,
    };
    let rule = deps.config.alert_rule();
    let mut summary = ObjectSummary {
        endpoint_calls: scored.endpoint_calls,
        ..Default::default()
    };
    let mut judged = Vec::with_capacity(set.pairs.len());
    for (i, score) in scored.scores.iter().enumerate() {
        match score.scope {
            EntityScope::Unseen => {
                summary.unseen += 1;
                continue;
            }
            EntityScope::Group => summary.group_scored += 1,
            EntityScope::Instance | EntityScope::Unknown => {}
        }
        judged.push(i);
    }
    let alerts = rule.alerts(judged.iter().map(|&i| {
        let pair = &set.pairs[i];
        (&*pair.entity, pair.ip, scored.scores[i].dot_product)
    }));
    let mut below: Vec<(usize, f64, Alert)> = judged
        .iter()
        .zip(alerts)
        .filter_map(|(&i, alert)| Some((i, scored.scores[i].dot_product, alert?)))
        .collect();
    summary.fanout = below
        .iter()
        .filter(|b| matches!(b.2, Alert::Fanout { .. }))
        .count() as u64;
    summary.anomalies = below.len() as u64;
    // Lowest scores first: if the cap cuts, it keeps the strongest anomalies.
    below.sort_by(|a, b| a.1.total_cmp(&b.1));
    let model = deps.config.scorer.to_string();
    let pairing = deps.config.pairing.to_string();
    let mut kept: Vec<Anomaly> = Vec::new();
    for (i, _, alert) in below {
        let (pair, score) = (&set.pairs[i], &scored.scores[i]);
        let (threshold, fanout_addresses) = match (alert, rule.fanout) {
            (Alert::Fanout { addresses }, Some(f)) => (
                f.threshold,
                Some(u32::try_from(addresses).unwrap_or(u32::MAX)),
            ),
            _ => (rule.threshold, None),
        };
        let anomaly = Anomaly {
            account: key.account.clone(),
            region: key.region.clone(),
            entity: pair.entity.to_string(),
            ip: pair.ip,
            group: pair.group.as_deref().map(str::to_string),
            entity_scope: score.scope.as_str().to_string(),
            scored_as: score.scored_as.to_string(),
            score: score.dot_product,
            threshold,
            model: model.clone(),
            pairing: pairing.clone(),
            source: key.source.to_string(),
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            count: pair.count,
            first_ms: pair.facts.first_ms,
            last_ms: pair.facts.last_ms,
            local_ip: pair.facts.local_ip,
            port: pair.facts.port,
            protocol: pair.facts.protocol,
            event_day: Some(format!(
                "{:04}-{:02}-{:02}",
                key.event_day.year(),
                key.event_day.month(),
                key.event_day.day()
            )),
            fanout_addresses,
        };
        if let Some(rule) = suppressions
            .as_ref()
            .and_then(|rules| rules.matching(&anomaly.subject(), now_ms()))
        {
            records::suppressed(&ctx, &anomaly, &rule.id, &rule.owner, &rule.reason);
            summary.suppressed += 1;
            continue;
        }
        if kept.len() < deps.config.max_anomalies_per_object {
            kept.push(anomaly);
        } else {
            summary.capped += 1;
        }
    }
    if summary.capped > 0 {
        tracing::warn!(
            capped = summary.capped,
            limit = deps.config.max_anomalies_per_object,
            key = %object.key,
            "anomaly cap reached: the model or the threshold needs attention"
        );
    }
    for a in &kept {
        records::anomaly(&ctx, a);
    }
    summary.millis = started.elapsed().as_millis() as u64;
    records::object_scored(&ctx, &set.stats, &summary);
    let metrics = Metrics {
        objects_scored: 1,
        pairs_scored: set.pairs.len() as u64,
        anomalies: summary.anomalies,
        rejected: 0,
        endpoint_errors: scored.endpoint_errors,
        unseen_pairs: summary.unseen,
        group_scored_pairs: summary.group_scored,
        suppressed: summary.suppressed,
        capped: summary.capped,
        ..Default::default()
    };
    ObjectOutcome::Scored(metrics, Arc::new(kept))
}

/// Sends `anomalies` to the configured sinks, both at once.
async fn send_to_sinks(
    sinks: &Sinks,
    anomalies: Vec<Anomaly>,
    caller: &Caller,
    deadline: Instant,
) -> (SinkReport, SinkReport) {
    let hub = async {
        let Some(sink) = &sinks.security_hub else {
            return SinkReport::default();
        };
        // One target in Lambda; outside it (demo, tests) each anomaly's own account.
        let mut by_target: Vec<(Target, Vec<Anomaly>)> = Vec::new();
        for a in &anomalies {
            let target = caller.target(&a.account, &a.region);
            match by_target.iter_mut().find(|(t, _)| *t == target) {
                Some((_, list)) => list.push(a.clone()),
                None => by_target.push((target, vec![a.clone()])),
            }
        }
        let mut report = SinkReport::default();
        for (target, list) in by_target {
            report.absorb(Box::pin(sink.send(list, &target, deadline, now_ms)).await);
        }
        report
    };
    let events = async {
        match &sinks.events {
            Some(sink) => Box::pin(sink.send(&anomalies, deadline)).await,
            None => SinkReport::default(),
        }
    };
    futures::join!(hub, events)
}
