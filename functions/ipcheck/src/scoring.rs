//! Scores of pairs: from a SageMaker IP Insights endpoint, or from an embedded model.

use std::net::Ipv4Addr;
use std::sync::Arc;

use aws_sdk_sagemakerruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_smithy_types::Blob;
use futures::{StreamExt, TryStreamExt};
use ipinsights::Model;
use seclake::groups::scoring_entity;
use seclake::{EntityScope, Pair};
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// The score of one pair.
#[derive(Debug, Clone, PartialEq)]
pub struct PairScore {
    /// NaN when the pair was not scored ([`EntityScope::Unseen`]).
    pub dot_product: f64,
    /// Which entity scored the pair: the instance, its group, or none the model knows.
    pub scope: EntityScope,
    /// The entity sent to the model (the instance, or its group).
    pub scored_as: Arc<str>,
}

/// Scores in pair order, and what it took.
#[derive(Debug, Clone, Default)]
pub struct Scored {
    pub scores: Vec<PairScore>,
    /// InvokeEndpoint calls made, retries included.
    pub endpoint_calls: u64,
    /// Calls that failed (and were retried or gave up).
    pub endpoint_errors: u64,
}

/// Why scoring failed. Every variant leaves the message for SQS to deliver again: the object
/// is fine, the scorer is not (yet).
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("endpoint {endpoint}: {message}")]
    Endpoint {
        endpoint: String,
        message: String,
        calls: u64,
        errors: u64,
    },
    #[error("endpoint {endpoint} answered {got} predictions for {sent} rows")]
    CountMismatch {
        endpoint: String,
        sent: usize,
        got: usize,
        calls: u64,
        errors: u64,
    },
    #[error("loading the model {uri}: {message}")]
    ModelLoad { uri: String, message: String },
    #[error("loading the trained entity list {uri}: {message}")]
    EntitiesLoad { uri: String, message: String },
    #[error("scoring task failed: {0}")]
    Task(String),
}

impl ScoreError {
    /// (calls, failed calls) made before giving up, for metrics.
    pub fn calls(&self) -> (u64, u64) {
        match self {
            ScoreError::Endpoint { calls, errors, .. }
            | ScoreError::CountMismatch { calls, errors, .. } => (*calls, *errors),
            _ => (0, 0),
        }
    }
}

/// Where scores come from.
pub enum Scorer {
    Endpoint(EndpointScorer),
    Embedded(EmbeddedScorer),
}

/// What a model was trained on, to choose the entity a pair is scored as.
pub enum Trained {
    Model(Arc<Model>),
    List(Arc<std::collections::HashSet<Box<str>>>),
}

impl Trained {
    pub fn contains(&self, entity: &str) -> bool {
        match self {
            Trained::Model(m) => m.is_seen(entity),
            Trained::List(l) => l.contains(entity),
        }
    }
}

impl Scorer {
    /// Scores `pairs` in order, giving up on retries at `deadline`. Each pair is scored as its
    /// instance when the model was trained on it, else as its group when the model knows that;
    /// pairs of neither are not sent ([`EntityScope::Unseen`], NaN).
    pub async fn score(&self, pairs: &[Pair], deadline: Instant) -> Result<Scored, ScoreError> {
        let trained = match self {
            Scorer::Endpoint(e) => e.trained().await?,
            Scorer::Embedded(m) => Some(Trained::Model(m.model().await?)),
        };
        let check = trained.as_ref().map(|t| move |e: &str| t.contains(e));
        let check: Option<&dyn Fn(&str) -> bool> = check.as_ref().map(|c| c as _);
        // Each pair's candidates: the instance, and its group too when the model knows both;
        // a pair is as normal as the more familiar of the two finds it, so an instance's first
        // use of an address its tier uses is not an alert, and an alert means that neither the
        // instance nor its tier has such a history.
        let plan: Vec<Vec<(Arc<str>, EntityScope)>> = pairs
            .iter()
            .map(|p| {
                let (entity, scope) = scoring_entity(p, check);
                let mut candidates = vec![(entity.clone(), scope)];
                if scope == EntityScope::Instance
                    && let Some(group) = &p.group
                    && check.is_some_and(|known| known(group))
                {
                    candidates.push((group.clone(), EntityScope::Group));
                }
                candidates
            })
            .collect();
        let sent: Vec<Pair> = pairs
            .iter()
            .zip(&plan)
            .flat_map(|(p, candidates)| {
                candidates
                    .iter()
                    .filter(|(_, scope)| *scope != EntityScope::Unseen)
                    .map(|(entity, _)| Pair {
                        entity: entity.clone(),
                        ip: p.ip,
                        count: p.count,
                        group: None,
                        facts: Default::default(),
                    })
            })
            .collect();
        let (dots, calls, errors) = if sent.is_empty() {
            (Vec::new(), 0, 0)
        } else {
            match self {
                Scorer::Endpoint(e) => e.score(&sent, deadline).await?,
                Scorer::Embedded(m) => m.score(&sent).await?,
            }
        };
        let mut dots = dots.into_iter();
        let scores = plan
            .into_iter()
            .map(|candidates| {
                let mut best: Option<PairScore> = None;
                for (scored_as, scope) in candidates {
                    if scope == EntityScope::Unseen {
                        return PairScore {
                            dot_product: f64::NAN,
                            scope,
                            scored_as,
                        };
                    }
                    let dot_product = dots.next().unwrap_or(f64::NAN);
                    if best.as_ref().is_none_or(|b| dot_product > b.dot_product) {
                        best = Some(PairScore {
                            dot_product,
                            scope,
                            scored_as,
                        });
                    }
                }
                best.unwrap_or(PairScore {
                    dot_product: f64::NAN,
                    scope: EntityScope::Unseen,
                    scored_as: Arc::from(""),
                })
            })
            .collect();
        Ok(Scored {
            scores,
            endpoint_calls: calls,
            endpoint_errors: errors,
        })
    }
}

/// Bytes of `s3://bucket/key` or a local path.
pub async fn load_bytes(s3: &aws_sdk_s3::Client, uri: &str) -> Result<Vec<u8>, String> {
    match uri.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, key) = rest
                .split_once('/')
                .ok_or_else(|| "expected s3://bucket/key".to_string())?;
            let out = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
                })?;
            Ok(out
                .body
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .into_bytes()
                .to_vec())
        }
        None => tokio::fs::read(uri).await.map_err(|e| e.to_string()),
    }
}

/// The entity list `ipinsights prepare` writes (`entities.txt`, one per line).
pub fn parse_entity_list(bytes: &[u8]) -> Result<std::collections::HashSet<Box<str>>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let set: std::collections::HashSet<Box<str>> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Box::from)
        .collect();
    if set.is_empty() {
        return Err("the list is empty".into());
    }
    Ok(set)
}

/// Jittered exponential backoff, shared with the sinks.
pub use findings::retry::Backoff;

/// Where the trained entity list is, and the list once loaded.
type TrainedList = (
    String,
    aws_sdk_s3::Client,
    OnceCell<Arc<std::collections::HashSet<Box<str>>>>,
);

/// Scores with a SageMaker IP Insights endpoint: headerless `text/csv` rows `entity,ip`,
/// `Accept: application/json`, bodies kept well under the 6 MiB limit, several in flight.
pub struct EndpointScorer {
    client: aws_sdk_sagemakerruntime::Client,
    endpoint: String,
    /// The trained entity list (`TRAINED_ENTITIES_URI`), loaded on first use.
    entities: Option<TrainedList>,
    max_request_bytes: usize,
    max_request_rows: usize,
    concurrency: usize,
    backoff: Backoff,
}

/// One request's rows.
struct Chunk {
    body: Vec<u8>,
    rows: usize,
}

/// The CSV field for an entity; quoted only when it must be (instance ids never need it).
fn csv_field(entity: &str, out: &mut Vec<u8>) {
    if entity.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(entity.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(entity.as_bytes());
    }
}

/// Splits pairs into CSV bodies of at most `max_bytes` and `max_rows` rows (a single longer row
/// is sent alone).
fn chunks(pairs: &[Pair], max_bytes: usize, max_rows: usize) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut current = Chunk {
        body: Vec::new(),
        rows: 0,
    };
    let mut line = Vec::with_capacity(64);
    for pair in pairs {
        line.clear();
        csv_field(&pair.entity, &mut line);
        line.push(b',');
        line.extend_from_slice(pair.ip.to_string().as_bytes());
        line.push(b'\n');
        if current.rows > 0
            && (current.body.len() + line.len() > max_bytes || current.rows >= max_rows)
        {
            out.push(std::mem::replace(
                &mut current,
                Chunk {
                    body: Vec::new(),
                    rows: 0,
                },
            ));
        }
        current.body.extend_from_slice(&line);
        current.rows += 1;
    }
    if current.rows > 0 {
        out.push(current);
    }
    out
}

/// Whether an InvokeEndpoint failure may pass on retry within this invocation.
fn is_retryable(err: &SdkError<InvokeEndpointError>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            match service.err() {
                InvokeEndpointError::InternalFailure(_)
                | InvokeEndpointError::ServiceUnavailable(_)
                | InvokeEndpointError::InternalDependencyException(_)
                | InvokeEndpointError::ModelNotReadyException(_) => true,
                InvokeEndpointError::ValidationError(_) | InvokeEndpointError::ModelError(_) => {
                    false
                }
                other => {
                    matches!(
                        other.code(),
                        Some("ThrottlingException" | "Throttling" | "TooManyRequestsException")
                    ) || status == 429
                        || status >= 500
                }
            }
        }
        _ => false,
    }
}

fn describe(err: &SdkError<InvokeEndpointError>) -> String {
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => aws_smithy_types::error::display::DisplayErrorContext(err).to_string(),
    }
}

impl EndpointScorer {
    pub fn new(
        client: aws_sdk_sagemakerruntime::Client,
        endpoint: impl Into<String>,
        max_request_bytes: usize,
        concurrency: usize,
    ) -> Self {
        EndpointScorer {
            client,
            endpoint: endpoint.into(),
            entities: None,
            max_request_bytes,
            max_request_rows: usize::MAX,
            concurrency: concurrency.max(1),
            backoff: Backoff::default(),
        }
    }

    /// Also caps the rows per request, so that the response (verbose answers run longer than
    /// the request) stays under SageMaker's 6 MiB too.
    pub fn with_max_rows(mut self, rows: usize) -> Self {
        self.max_request_rows = rows.max(1);
        self
    }

    /// Scores an instance the model was not trained on as its group; the list is what
    /// `ipinsights prepare` wrote as `entities.txt` (`s3://…` or a path).
    pub fn with_trained_entities(mut self, uri: impl Into<String>, s3: aws_sdk_s3::Client) -> Self {
        self.entities = Some((uri.into(), s3, OnceCell::new()));
        self
    }

    async fn trained(&self) -> Result<Option<Trained>, ScoreError> {
        let Some((uri, s3, cell)) = &self.entities else {
            return Ok(None);
        };
        let list = cell
            .get_or_try_init(|| async {
                let fail = |message: String| ScoreError::EntitiesLoad {
                    uri: uri.clone(),
                    message,
                };
                let bytes = load_bytes(s3, uri).await.map_err(fail)?;
                let list = parse_entity_list(&bytes).map_err(fail)?;
                tracing::info!(uri = %uri, entities = list.len(), "trained entity list loaded");
                Ok::<_, ScoreError>(Arc::new(list))
            })
            .await?;
        Ok(Some(Trained::List(list.clone())))
    }

    /// Changes the retry pacing (tests use short delays).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Dot products of `pairs` as given (entities already chosen), calls and failed calls.
    pub async fn score(
        &self,
        pairs: &[Pair],
        deadline: Instant,
    ) -> Result<(Vec<f64>, u64, u64), ScoreError> {
        let parts: Vec<(Vec<f64>, u64, u64)> =
            futures::stream::iter(chunks(pairs, self.max_request_bytes, self.max_request_rows))
                .map(|chunk| self.invoke(chunk, deadline))
                .buffered(self.concurrency)
                .try_collect()
                .await?;
        let mut out = (Vec::with_capacity(pairs.len()), 0, 0);
        for (scores, calls, errors) in parts {
            out.0.extend(scores);
            out.1 += calls;
            out.2 += errors;
        }
        Ok(out)
    }

    /// One chunk, retried on throttling, 5xx and not-ready until `deadline`.
    async fn invoke(
        &self,
        chunk: Chunk,
        deadline: Instant,
    ) -> Result<(Vec<f64>, u64, u64), ScoreError> {
        let body = bytes::Bytes::from(chunk.body);
        let (mut calls, mut errors) = (0u64, 0u64);
        let mut attempt = 0u32;
        loop {
            calls += 1;
            let result = self
                .client
                .invoke_endpoint()
                .endpoint_name(&self.endpoint)
                .content_type("text/csv")
                .accept("application/json")
                .body(Blob::new(body.clone()))
                .send()
                .await;
            let err = match result {
                Ok(out) => {
                    let payload = out.body.as_ref().map(|b| b.as_ref()).unwrap_or_default();
                    let scores = ipinsights::wire::parse_predictions(
                        out.content_type().unwrap_or("application/json"),
                        payload,
                    )
                    .map_err(|e| ScoreError::Endpoint {
                        endpoint: self.endpoint.clone(),
                        message: format!("unreadable response: {e}"),
                        calls,
                        errors: errors + 1,
                    })?;
                    if scores.len() != chunk.rows {
                        return Err(ScoreError::CountMismatch {
                            endpoint: self.endpoint.clone(),
                            sent: chunk.rows,
                            got: scores.len(),
                            calls,
                            errors: errors + 1,
                        });
                    }
                    return Ok((scores, calls, errors));
                }
                Err(err) => err,
            };
            errors += 1;
            let delay = self.backoff.delay(attempt);
            attempt += 1;
            let retry = is_retryable(&err) && Instant::now() + delay < deadline;
            tracing::debug!(endpoint = %self.endpoint, attempt, retry, error = %describe(&err), "InvokeEndpoint failed");
            if !retry {
                return Err(ScoreError::Endpoint {
                    endpoint: self.endpoint.clone(),
                    message: format!("{} (after {calls} calls)", describe(&err)),
                    calls,
                    errors,
                });
            }
            tokio::time::sleep(delay).await;
        }
    }
}

/// Scores in process with an embedded model, loaded on first use and kept for the life of the
/// execution environment.
pub struct EmbeddedScorer {
    uri: String,
    s3: aws_sdk_s3::Client,
    model: OnceCell<Arc<Model>>,
}

impl EmbeddedScorer {
    pub fn new(uri: impl Into<String>, s3: aws_sdk_s3::Client) -> Self {
        EmbeddedScorer {
            uri: uri.into(),
            s3,
            model: OnceCell::new(),
        }
    }

    /// A scorer around a model already in memory.
    pub fn from_model(model: Model, s3: aws_sdk_s3::Client) -> Self {
        EmbeddedScorer {
            uri: "memory".into(),
            s3,
            model: OnceCell::new_with(Some(Arc::new(model))),
        }
    }

    async fn load(&self) -> Result<Arc<Model>, ScoreError> {
        let fail = |message: String| ScoreError::ModelLoad {
            uri: self.uri.clone(),
            message,
        };
        let bytes = load_bytes(&self.s3, &self.uri).await.map_err(fail)?;
        let started = std::time::Instant::now();
        let model = tokio::task::spawn_blocking(move || Model::from_bytes(&bytes))
            .await
            .map_err(|e| ScoreError::Task(e.to_string()))?
            .map_err(|e| fail(e.to_string()))?;
        tracing::info!(
            uri = %self.uri,
            entities = model.num_seen_entities(),
            vector_dim = model.vector_dim(),
            millis = started.elapsed().as_millis() as u64,
            "model loaded"
        );
        Ok(Arc::new(model))
    }

    /// The model, loaded on first use.
    pub async fn model(&self) -> Result<Arc<Model>, ScoreError> {
        Ok(self.model.get_or_try_init(|| self.load()).await?.clone())
    }

    /// Dot products of `pairs` as given (entities already chosen).
    pub async fn score(&self, pairs: &[Pair]) -> Result<(Vec<f64>, u64, u64), ScoreError> {
        let model = self.model().await?;
        let owned: Vec<(Arc<str>, Ipv4Addr)> =
            pairs.iter().map(|p| (p.entity.clone(), p.ip)).collect();
        let scores = tokio::task::spawn_blocking(move || {
            let borrowed: Vec<(&str, Ipv4Addr)> = owned.iter().map(|(e, ip)| (&**e, *ip)).collect();
            model.score_pairs(&borrowed)
        })
        .await
        .map_err(|e| ScoreError::Task(e.to_string()))?;
        Ok((scores.into_iter().map(|s| s.dot_product).collect(), 0, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(entity: &str, ip: &str) -> Pair {
        Pair {
            entity: entity.into(),
            ip: ip.parse().unwrap(),
            count: 1,
            group: None,
            facts: Default::default(),
        }
    }

    #[test]
    fn chunks_respect_the_size_limit_and_keep_order() {
        let pairs: Vec<Pair> = (0..1000)
            .map(|i| {
                pair(
                    &format!("i-{i:017x}"),
                    &format!("10.0.{}.{}", i / 256, i % 256),
                )
            })
            .collect();
        let by_rows = chunks(&pairs, usize::MAX, 300);
        assert_eq!(
            by_rows.iter().map(|c| c.rows).collect::<Vec<_>>(),
            [300, 300, 300, 100]
        );
        let parts = chunks(&pairs, 4096, usize::MAX);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|c| c.body.len() <= 4096));
        assert_eq!(parts.iter().map(|c| c.rows).sum::<usize>(), 1000);
        let all: String = parts
            .iter()
            .map(|c| String::from_utf8(c.body.clone()).unwrap())
            .collect();
        let lines: Vec<&str> = all.lines().collect();
        assert_eq!(lines[0], "i-00000000000000000,10.0.0.0");
        assert_eq!(lines[999], format!("i-{:017x},10.0.3.231", 999));
    }

    #[test]
    fn csv_quoting() {
        let mut out = Vec::new();
        csv_field("a,\"b\"", &mut out);
        assert_eq!(out, b"\"a,\"\"b\"\"\"");
    }
}
