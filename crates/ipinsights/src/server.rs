//! A local HTTP server that answers like a SageMaker IP Insights endpoint (feature `server`).
//!
//! Routes:
//!
//! - `POST /endpoints/{name}/invocations`: the SageMaker Runtime `InvokeEndpoint` API, so that
//!   an AWS SDK pointed at the server (`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`) works unchanged.
//! - `POST /invocations`, `GET /ping`, `GET /execution-parameters`: the SageMaker container
//!   contract (hosting and batch transform).
//!
//! Requests and responses follow [`crate::wire`]. Errors carry the header
//! `x-amzn-ErrorType` and a JSON body `{"message": ...}`, the shape the AWS SDKs use to
//! classify them (a 503 `ServiceUnavailable` and a 400 `ThrottlingException` are retried, a
//! 400 `ValidationError` or a 424 `ModelError` are not). A malformed row gets a 400
//! `ValidationError` whose message names the row; a body over the limit (6 MiB by default,
//! SageMaker's) gets a 413.
//!
//! Failures can be injected for tests: the first `fail_first` invocations get the configured
//! error instead of an answer.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::model::Model;
use crate::wire::{self, Accept, Prediction, WireError};

/// SageMaker's InvokeEndpoint payload limit (`BodyBlob` max, 6 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// An error the server returns instead of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedError {
    /// HTTP status.
    pub status: u16,
    /// `x-amzn-ErrorType` value.
    pub error_type: String,
}

/// SageMaker Runtime error types and their statuses (botocore's `sagemaker-runtime` model,
/// plus the throttling error the service returns without modelling it).
pub const ERROR_TYPES: [(&str, u16); 7] = [
    ("ValidationError", 400),
    ("ThrottlingException", 400),
    ("ModelError", 424),
    ("ModelNotReadyException", 429),
    ("InternalFailure", 500),
    ("ServiceUnavailable", 503),
    ("InternalDependencyException", 530),
];

impl InjectedError {
    /// The error SageMaker returns with `status`: 400 is taken to be throttling (the
    /// retryable 400), 424 `ModelError`, 429 `ModelNotReadyException`, 500
    /// `InternalFailure`, 503 `ServiceUnavailable`, 530 `InternalDependencyException`.
    pub fn from_status(status: u16) -> Self {
        let error_type = match status {
            400 => "ThrottlingException",
            424 => "ModelError",
            429 => "ModelNotReadyException",
            503 => "ServiceUnavailable",
            530 => "InternalDependencyException",
            _ => "InternalFailure",
        };
        Self {
            status,
            error_type: error_type.to_string(),
        }
    }

    /// The error of type `name` with its usual status, if the name is known.
    pub fn from_type(name: &str) -> Option<Self> {
        ERROR_TYPES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(n, s)| Self {
                status: *s,
                error_type: n.to_string(),
            })
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Requests with larger bodies get a 413.
    pub max_body_bytes: usize,
    /// Number of invocations (from the first) answered with `fail_with`.
    pub fail_first: u64,
    /// The injected error.
    pub fail_with: InjectedError,
    /// When set, only this endpoint name exists on the runtime route.
    pub endpoint_name: Option<String>,
    /// Answer model errors on the runtime route as SageMaker does: a 424 `ModelError` that
    /// wraps the container's status and message (instead of the container's own 4xx).
    pub wrap_model_errors: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            fail_first: 0,
            fail_with: InjectedError::from_status(503),
            endpoint_name: None,
            wrap_model_errors: false,
        }
    }
}

/// The server: a model, its settings and a count of invocations.
pub struct Server {
    model: Arc<Model>,
    cfg: ServerConfig,
    invocations: AtomicU64,
}

type Resp = Response<Full<Bytes>>;

/// Which API a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Runtime,
    Container,
}

struct Failure {
    status: StatusCode,
    error_type: &'static str,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type,
            message: message.into(),
        }
    }
}

fn error_response(status: u16, error_type: &str, body: serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(error_type) {
        h.insert("x-amzn-ErrorType", v);
    }
    r
}

impl Server {
    /// A server for `model`.
    pub fn new(model: Arc<Model>, cfg: ServerConfig) -> Arc<Self> {
        Arc::new(Self {
            model,
            cfg,
            invocations: AtomicU64::new(0),
        })
    }

    /// Invocations received so far (including failed ones).
    pub fn invocations(&self) -> u64 {
        self.invocations.load(Ordering::Relaxed)
    }

    fn failure_response(&self, route: Route, f: Failure) -> Resp {
        if route == Route::Runtime
            && self.cfg.wrap_model_errors
            && f.error_type == "ValidationError"
        {
            // What SageMaker does with an error from the container.
            let code = f.status.as_u16();
            return error_response(
                424,
                "ModelError",
                serde_json::json!({
                    "message": format!(
                        "Received client error ({code}) from primary with message \"{}\". See the logs for more information.",
                        f.message
                    ),
                    "OriginalStatusCode": code,
                    "OriginalMessage": f.message,
                    "LogStreamArn": "arn:aws:logs:local:000000000000:log-group:/aws/sagemaker/Endpoints/local",
                }),
            );
        }
        error_response(
            f.status.as_u16(),
            f.error_type,
            serde_json::json!({ "message": f.message }),
        )
    }

    /// Answers one request (the body already read). Public so that tests can call it
    /// without a socket.
    pub async fn handle(
        self: &Arc<Self>,
        method: &Method,
        path: &str,
        content_type: Option<&str>,
        accept: Option<&str>,
        body: Bytes,
    ) -> Resp {
        let route = if path == "/invocations" {
            Route::Container
        } else if let Some(name) = path
            .strip_prefix("/endpoints/")
            .and_then(|p| p.strip_suffix("/invocations"))
        {
            if let Some(want) = &self.cfg.endpoint_name
                && name != want
            {
                return error_response(
                    400,
                    "ValidationError",
                    serde_json::json!({
                        "message": format!("Endpoint {name} of account 000000000000 not found.")
                    }),
                );
            }
            Route::Runtime
        } else {
            return match (method, path) {
                (&Method::GET, "/ping") => Response::new(Full::new(Bytes::new())),
                (&Method::GET, "/execution-parameters") => {
                    let mut r = Response::new(Full::new(Bytes::from(
                        serde_json::json!({
                            "MaxConcurrentTransforms": rayon::current_num_threads(),
                            "BatchStrategy": "MULTI_RECORD",
                            "MaxPayloadInMB": self.cfg.max_body_bytes / (1024 * 1024),
                        })
                        .to_string(),
                    )));
                    r.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    r
                }
                (_, "/ping" | "/execution-parameters") => error_response(
                    405,
                    "ValidationError",
                    serde_json::json!({"message": "method not allowed"}),
                ),
                _ => error_response(
                    404,
                    "UnknownOperationException",
                    serde_json::json!({"message": format!("no route for {method} {path}")}),
                ),
            };
        };
        if method != Method::POST {
            return error_response(
                405,
                "ValidationError",
                serde_json::json!({"message": "invocations take POST"}),
            );
        }
        let n = self.invocations.fetch_add(1, Ordering::Relaxed);
        if n < self.cfg.fail_first {
            let e = &self.cfg.fail_with;
            return error_response(
                e.status,
                &e.error_type,
                serde_json::json!({
                    "message": format!("injected failure {} of {}", n + 1, self.cfg.fail_first)
                }),
            );
        }
        if body.len() > self.cfg.max_body_bytes {
            return self.failure_response(route, too_large(body.len(), self.cfg.max_body_bytes));
        }
        let ct = content_type.unwrap_or("").to_string();
        let accept = accept.map(str::to_string);
        let model = Arc::clone(&self.model);
        // Scoring is CPU work; keep it off the async worker threads.
        let answer =
            tokio::task::spawn_blocking(move || invoke(&model, &ct, accept.as_deref(), &body))
                .await;
        match answer {
            Ok(Ok((content_type, body))) => {
                let mut r = Response::new(Full::new(Bytes::from(body)));
                let h = r.headers_mut();
                h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                if route == Route::Runtime {
                    h.insert(
                        "x-Amzn-Invoked-Production-Variant",
                        HeaderValue::from_static("AllTraffic"),
                    );
                }
                r
            }
            Ok(Err(f)) => self.failure_response(route, f),
            Err(e) => self.failure_response(
                route,
                Failure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalFailure",
                    e.to_string(),
                ),
            ),
        }
    }

    /// Serves connections from `listener` until `shutdown` completes.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    // Running out of file descriptors and the like: keep serving.
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                },
            };
            let server = Arc::clone(&self);
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let server = Arc::clone(&server);
                    async move { Ok::<_, Infallible>(server.dispatch(req, peer).await) }
                });
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await
                {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
            });
        }
    }

    async fn dispatch(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> Resp {
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(CONTENT_TYPE);
        let accept = header(ACCEPT);
        let declared: Option<usize> = header(CONTENT_LENGTH).and_then(|v| v.parse().ok());
        let max = self.cfg.max_body_bytes;
        let is_invocation = path.ends_with("/invocations");
        let resp = if is_invocation && declared.is_some_and(|n| n > max) {
            self.invocations.fetch_add(1, Ordering::Relaxed);
            let route = if path == "/invocations" {
                Route::Container
            } else {
                Route::Runtime
            };
            self.failure_response(route, too_large(declared.unwrap_or(0), max))
        } else {
            match Limited::new(req.into_body(), max).collect().await {
                Ok(b) => {
                    self.handle(
                        &method,
                        &path,
                        content_type.as_deref(),
                        accept.as_deref(),
                        b.to_bytes(),
                    )
                    .await
                }
                Err(_) => {
                    self.invocations.fetch_add(1, Ordering::Relaxed);
                    let route = if path == "/invocations" {
                        Route::Container
                    } else {
                        Route::Runtime
                    };
                    self.failure_response(route, too_large(max + 1, max))
                }
            }
        };
        tracing::debug!(
            %peer,
            %method,
            path,
            status = resp.status().as_u16(),
            request_bytes = declared.unwrap_or(0),
            micros = start.elapsed().as_micros() as u64,
            "request"
        );
        resp
    }
}

fn too_large(len: usize, max: usize) -> Failure {
    Failure::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "ValidationError",
        format!("Request body of {len} bytes exceeds the limit of {max} bytes"),
    )
}

/// Parses, scores and writes one invocation.
fn invoke(
    model: &Model,
    content_type: &str,
    accept: Option<&str>,
    body: &[u8],
) -> Result<(&'static str, String), Failure> {
    let accept = Accept::parse(accept)
        .map_err(|e| Failure::new(StatusCode::NOT_ACCEPTABLE, "ValidationError", e.to_string()))?;
    let rows = wire::parse_request(content_type, body).map_err(|e| {
        let status = match e {
            WireError::UnsupportedContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        Failure::new(status, "ValidationError", e.to_string())
    })?;
    let pairs: Vec<(&str, Ipv4Addr)> = rows.iter().map(|(e, ip)| (e.as_str(), *ip)).collect();
    let scores = model.score_pairs(&pairs);
    let preds: Vec<Prediction> = scores
        .iter()
        .zip(&pairs)
        .map(|(s, (e, ip))| Prediction {
            dot_product: s.dot_product,
            embeddings: accept.verbose.then(|| model.embeddings(e, *ip)),
        })
        .collect();
    Ok((accept.content_type(), wire::write_response(&accept, &preds)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::tiny_model;

    fn server(cfg: ServerConfig) -> Arc<Server> {
        Server::new(Arc::new(tiny_model(1)), cfg)
    }

    async fn body(r: Resp) -> String {
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn answers_like_sagemaker() {
        let s = server(ServerConfig::default());
        let r = s
            .handle(&Method::GET, "/ping", None, None, Bytes::new())
            .await;
        assert_eq!(r.status(), 200);
        let r = s
            .handle(
                &Method::POST,
                "/endpoints/x/invocations",
                Some("text/csv"),
                Some("application/jsonlines; verbose=True"),
                Bytes::from_static(b"user_1, 10.1.0.1\nuser_2,10.2.0.1\n"),
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/jsonlines");
        let text = body(r).await;
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains("\"entity_embedding\": ["));
        let r = s
            .handle(
                &Method::POST,
                "/invocations",
                Some("text/csv"),
                None,
                Bytes::from_static(b"user_1,10.1.0.1\nuser_2,10.2.0\n"),
            )
            .await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["x-amzn-ErrorType"], "ValidationError");
        assert!(body(r).await.contains("row 2"));
        let r = s
            .handle(
                &Method::POST,
                "/invocations",
                Some("image/png"),
                None,
                Bytes::new(),
            )
            .await;
        assert_eq!(r.status(), 415);
        let r = s
            .handle(&Method::GET, "/nope", None, None, Bytes::new())
            .await;
        assert_eq!(r.status(), 404);
    }

    #[tokio::test]
    async fn injects_failures_then_recovers() {
        let s = server(ServerConfig {
            fail_first: 2,
            fail_with: InjectedError::from_status(503),
            ..Default::default()
        });
        let call = || {
            s.handle(
                &Method::POST,
                "/endpoints/x/invocations",
                Some("text/csv"),
                None,
                Bytes::from_static(b"user_1,10.1.0.1\n"),
            )
        };
        for _ in 0..2 {
            let r = call().await;
            assert_eq!(r.status(), 503);
            assert_eq!(r.headers()["x-amzn-ErrorType"], "ServiceUnavailable");
        }
        assert_eq!(call().await.status(), 200);
        assert_eq!(s.invocations(), 3);
        assert_eq!(
            InjectedError::from_type("throttlingexception")
                .unwrap()
                .status,
            400
        );
    }

    #[tokio::test]
    async fn wraps_model_errors_and_checks_names_when_asked() {
        let s = server(ServerConfig {
            wrap_model_errors: true,
            endpoint_name: Some("prod".into()),
            max_body_bytes: 64,
            ..Default::default()
        });
        let r = s
            .handle(
                &Method::POST,
                "/endpoints/prod/invocations",
                Some("text/csv"),
                None,
                Bytes::from_static(b"a\n"),
            )
            .await;
        assert_eq!(r.status(), 424);
        assert_eq!(r.headers()["x-amzn-ErrorType"], "ModelError");
        let v: serde_json::Value = serde_json::from_str(&body(r).await).unwrap();
        assert_eq!(v["OriginalStatusCode"], 400);
        let r = s
            .handle(
                &Method::POST,
                "/endpoints/dev/invocations",
                Some("text/csv"),
                None,
                Bytes::new(),
            )
            .await;
        assert_eq!(r.status(), 400);
        let r = s
            .handle(
                &Method::POST,
                "/invocations",
                Some("text/csv"),
                None,
                Bytes::from(vec![b'a'; 65]),
            )
            .await;
        assert_eq!(r.status(), 413);
    }
}
