//! A Lambda Runtime API on loopback that runs the real `ipcheck` binary as Lambda does: the
//! process polls `/runtime/invocation/next`, gets the event with the request id, deadline and
//! function ARN headers, and posts its response or error. An invocation that is not answered
//! by its timeout is ended as Lambda ends it: the process is killed, and a new one (a cold
//! start) serves the next invocation.
//!
//! cargo-lambda's `watch` also serves this API, but it builds the function itself and does not
//! kill a function at its timeout, which is the behaviour under test here.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, oneshot};

/// The function: its binary, environment and limits.
#[derive(Debug, Clone)]
pub struct Function {
    pub bin: PathBuf,
    pub env: Vec<(String, String)>,
    /// The function's timeout: the deadline each invocation is given.
    pub timeout: Duration,
    /// Kill the process this long after an invocation starts if it has not answered (default:
    /// the timeout, as Lambda does). Shorter stands for a function that dies mid-batch.
    pub kill_after: Option<Duration>,
    pub function_arn: String,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The handler's response body.
    Response(Vec<u8>),
    /// The handler returned an error.
    Error(Vec<u8>),
    /// Not answered in time (the process was killed), or the process died.
    Killed,
}

struct Pending {
    id: String,
    deadline_ms: u64,
    body: Vec<u8>,
}

/// The events of one process: a killed process's last poll may still wait on its queue, so
/// each process gets a queue of its own.
struct Queue(tokio::sync::Mutex<mpsc::Receiver<Pending>>);

struct Shared {
    queue: Mutex<Arc<Queue>>,
    inflight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    arn: String,
    init_errors: Mutex<Vec<String>>,
}

/// A running Runtime API with one function instance.
pub struct RuntimeApi {
    pub address: String,
    function: Function,
    shared: Arc<Shared>,
    submit: Mutex<mpsc::Sender<Pending>>,
    child: tokio::sync::Mutex<Option<tokio::process::Child>>,
    logs: Arc<Mutex<Vec<String>>>,
    next_id: AtomicU64,
    /// Processes started (1 + the number of kills and crashes).
    pub starts: AtomicU64,
    /// Processes that exited by themselves during an invocation.
    pub crashes: AtomicU64,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
        if let Ok(mut child) = self.child.try_lock()
            && let Some(c) = child.as_mut()
        {
            let _ = c.start_kill();
        }
    }
}

impl RuntimeApi {
    /// Serves the API on 127.0.0.1 and starts the function's process.
    pub async fn start(function: Function) -> RuntimeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("local addr").to_string();
        let (submit, queue) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Arc::new(Queue(tokio::sync::Mutex::new(queue)))),
            inflight: Mutex::new(HashMap::new()),
            arn: function.function_arn.clone(),
            init_errors: Mutex::new(Vec::new()),
        });
        let state = shared.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| route(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        let api = RuntimeApi {
            address,
            function,
            shared,
            submit: Mutex::new(submit),
            child: tokio::sync::Mutex::new(None),
            logs: Arc::new(Mutex::new(Vec::new())),
            next_id: AtomicU64::new(0),
            starts: AtomicU64::new(0),
            crashes: AtomicU64::new(0),
            server,
        };
        api.spawn_process(false).await;
        api
    }

    async fn spawn_process(&self, fresh_queue: bool) {
        if fresh_queue {
            let (submit, queue) = mpsc::channel(16);
            *self.submit.lock().unwrap_or_else(|p| p.into_inner()) = submit;
            *self.shared.queue.lock().unwrap_or_else(|p| p.into_inner()) =
                Arc::new(Queue(tokio::sync::Mutex::new(queue)));
        }
        let mut cmd = tokio::process::Command::new(&self.function.bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "ipcheck")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                std::env::var("IPCHECK_MEMORY_MB").unwrap_or_else(|_| "1024".into()),
            )
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(self.function.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("start the function's binary");
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = self.logs.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    logs.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        self.starts.fetch_add(1, Ordering::Relaxed);
        *self.child.lock().await = Some(child);
    }

    /// Invokes the function with `event` and waits for its answer, or kills it at its limit.
    pub async fn invoke(&self, event: &serde_json::Value) -> Outcome {
        let id = format!("req-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let (tx, rx) = oneshot::channel();
        self.shared
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), tx);
        let pending = Pending {
            id: id.clone(),
            deadline_ms: now_ms + self.function.timeout.as_millis() as u64,
            body: serde_json::to_vec(event).unwrap_or_default(),
        };
        let submit = self
            .submit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if submit.send(pending).await.is_err() {
            return Outcome::Killed;
        }
        let limit = self.function.kill_after.unwrap_or(self.function.timeout);
        let give_up = tokio::time::Instant::now() + limit;
        let mut rx = rx;
        let answer = loop {
            tokio::select! {
                r = &mut rx => break r.ok(),
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    if tokio::time::Instant::now() >= give_up {
                        break None;
                    }
                    // A process that died (a crash, a runtime exit) answers nothing: Lambda
                    // reports the invocation as failed and starts a new one.
                    let exited = match self.child.lock().await.as_mut() {
                        Some(c) => c.try_wait().ok().flatten().is_some(),
                        None => true,
                    };
                    if exited {
                        self.crashes.fetch_add(1, Ordering::Relaxed);
                        break None;
                    }
                }
            }
        };
        match answer {
            Some(outcome) => outcome,
            None => {
                self.shared
                    .inflight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                if let Some(mut child) = self.child.lock().await.take() {
                    let _ = child.kill().await;
                }
                self.spawn_process(true).await;
                Outcome::Killed
            }
        }
    }

    /// Every line the function's processes wrote so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The function's JSON log records.
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.logs()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Errors the function reported at init.
    pub fn init_errors(&self) -> Vec<String> {
        self.shared
            .init_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The peak resident set of the current process (VmHWM, KiB), where /proc tells.
    pub async fn peak_rss_kib(&self) -> Option<u64> {
        let child = self.child.lock().await;
        let pid = child.as_ref()?.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

fn reply(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp
}

async fn route(
    state: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /2018-06-01/runtime/invocation/next | /2018-06-01/runtime/invocation/{id}/{response|error}
    // | /2018-06-01/runtime/init/error
    match parts.as_slice() {
        [_, "runtime", "invocation", "next"] => {
            let current = state
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let mut queue = current.0.lock().await;
            let Some(p) = queue.recv().await else {
                return Ok(reply(StatusCode::GONE, Vec::new()));
            };
            let mut resp = reply(StatusCode::OK, p.body);
            let h = resp.headers_mut();
            let put = |h: &mut hyper::HeaderMap, k: &'static str, v: String| {
                if let Ok(v) = hyper::header::HeaderValue::from_str(&v) {
                    h.insert(k, v);
                }
            };
            put(h, "lambda-runtime-aws-request-id", p.id);
            put(h, "lambda-runtime-deadline-ms", p.deadline_ms.to_string());
            put(h, "lambda-runtime-invoked-function-arn", state.arn.clone());
            put(
                h,
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".into(),
            );
            put(h, "content-type", "application/json".into());
            Ok(resp)
        }
        [
            _,
            "runtime",
            "invocation",
            id,
            kind @ ("response" | "error"),
        ] => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes().to_vec())
                .unwrap_or_default();
            let sender = state
                .inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(*id);
            if let Some(tx) = sender {
                let _ = tx.send(if *kind == "response" {
                    Outcome::Response(body)
                } else {
                    Outcome::Error(body)
                });
            }
            Ok(reply(StatusCode::ACCEPTED, b"{}".to_vec()))
        }
        [_, "runtime", "init", "error"] => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).to_string())
                .unwrap_or_default();
            state
                .init_errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(body);
            Ok(reply(StatusCode::ACCEPTED, b"{}".to_vec()))
        }
        _ => Ok(reply(StatusCode::NOT_FOUND, Vec::new())),
    }
}
