//! An HTTP proxy on loopback that answers some requests with an error before passing the rest
//! to the real server: how the tests inject S3 500s, Security Hub throttling or EventBridge
//! 5xx in front of moto.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Which requests fail, and how often; and how slow the network is.
#[derive(Default)]
pub struct Fault {
    /// Requests whose path contains this fail…
    pub path_contains: String,
    /// …and, when set, whose header (name, part of its value) matches, as `X-Amz-Target` names
    /// the operation of JSON-protocol services (`AWSEvents.PutEvents`)…
    pub header_contains: Option<(String, String)>,
    /// …this many times (from the first), with status 500 and S3's `InternalError`, unless
    /// `status` and `body` say otherwise.
    pub times: u64,
    pub status: Option<u16>,
    pub body: Option<String>,
    /// Headers of the injected error (`x-amzn-ErrorType: ThrottlingException` for SageMaker).
    pub headers: Vec<(String, String)>,
    /// With this set, the targeted requests fail for this long from the proxy's start, however
    /// many they are, and `times` is ignored: a dependency that throttles for minutes.
    pub during: Option<std::time::Duration>,
    /// With this set, the targeted requests are not failed but held this long and then
    /// forwarded (an S3 read that stalls).
    pub stall: Option<std::time::Duration>,
    /// With this set, the targeted requests get no answer: the connection is closed (a
    /// connection reset).
    pub reset: bool,
    /// Added before every forwarded response (S3's first-byte latency).
    pub first_byte_delay: std::time::Duration,
    /// Response bytes per second of one connection (`None`: as fast as loopback).
    pub bytes_per_second: Option<u64>,
}

/// A running proxy; dropped, it stops accepting.
pub struct FaultProxy {
    pub url: String,
    failed: Arc<AtomicU64>,
    forwarded: Arc<AtomicU64>,
    targeted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Requests answered with the injected error so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Requests passed to the upstream server so far.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }

    /// Requests the fault targets that were passed to the upstream server (not failed).
    pub fn targeted_forwarded(&self) -> u64 {
        self.targeted.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a proxy on 127.0.0.1 in front of `upstream` (an `http://127.0.0.1:PORT` URL).
pub async fn start(upstream: &str, fault: Fault) -> FaultProxy {
    assert!(upstream.starts_with("http://127.0.0.1:"), "loopback only");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr: SocketAddr = listener.local_addr().expect("local addr");
    let failed = Arc::new(AtomicU64::new(0));
    let forwarded = Arc::new(AtomicU64::new(0));
    let targeted = Arc::new(AtomicU64::new(0));
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let started = std::time::Instant::now();
    let state = Arc::new((
        upstream.to_string(),
        fault,
        client,
        failed.clone(),
        forwarded.clone(),
        targeted.clone(),
    ));
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let state = state.clone();
                    async move {
                        let (upstream, fault, client, failed, forwarded, targeted_count) = &*state;
                        let path = req
                            .uri()
                            .path_and_query()
                            .map(|p| p.to_string())
                            .unwrap_or_default();
                        let header_matches =
                            fault.header_contains.as_ref().is_none_or(|(name, part)| {
                                req.headers()
                                    .get(name.as_str())
                                    .and_then(|v| v.to_str().ok())
                                    .is_some_and(|v| v.contains(part.as_str()))
                            });
                        let targeted = path.contains(&fault.path_contains) && header_matches;
                        let fails = |n: u64| match fault.during {
                            Some(during) => started.elapsed() < during,
                            None => n < fault.times,
                        };
                        if targeted && fails(failed.fetch_add(1, Ordering::Relaxed)) {
                            if fault.reset {
                                return Err(std::io::Error::new(
                                    std::io::ErrorKind::ConnectionReset,
                                    "reset by the test proxy",
                                ));
                            }
                            match fault.stall {
                                // Held, then answered (counted in `failed()` as stalled).
                                Some(stall) => tokio::time::sleep(stall).await,
                                None => {
                                    let body = fault.body.clone().unwrap_or_else(|| "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error>".to_string());
                                    let mut resp = Response::new(Full::new(Bytes::from(body)));
                                    for (name, value) in &fault.headers {
                                        if let (Ok(n), Ok(v)) = (
                                            hyper::header::HeaderName::from_bytes(name.as_bytes()),
                                            hyper::header::HeaderValue::from_str(value),
                                        ) {
                                            resp.headers_mut().insert(n, v);
                                        }
                                    }
                                    *resp.status_mut() = fault
                                        .status
                                        .and_then(|s| StatusCode::from_u16(s).ok())
                                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                                    return Ok::<_, std::io::Error>(resp);
                                }
                            }
                        } else if targeted {
                            failed.fetch_sub(1, Ordering::Relaxed);
                            targeted_count.fetch_add(1, Ordering::Relaxed);
                        }
                        forwarded.fetch_add(1, Ordering::Relaxed);
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let mut out = Request::builder()
                            .method(parts.method)
                            .uri(format!("{upstream}{path}"));
                        for (name, value) in &parts.headers {
                            out = out.header(name, value);
                        }
                        let Ok(out) = out.body(Full::new(body)) else {
                            return Ok(bad_gateway());
                        };
                        match client.request(out).await {
                            Ok(resp) => {
                                let (parts, body) = resp.into_parts();
                                let body = body
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let transfer = fault.bytes_per_second.map_or(
                                    std::time::Duration::ZERO,
                                    |bps| {
                                        std::time::Duration::from_secs_f64(
                                            body.len() as f64 / bps as f64,
                                        )
                                    },
                                );
                                let delay = fault.first_byte_delay + transfer;
                                if !delay.is_zero() {
                                    tokio::time::sleep(delay).await;
                                }
                                Ok(Response::from_parts(parts, Full::new(body)))
                            }
                            Err(_) => Ok(bad_gateway()),
                        }
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    FaultProxy {
        url: format!("http://{addr}"),
        failed,
        forwarded,
        targeted,
        task,
    }
}

fn bad_gateway() -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(b"bad gateway")));
    *resp.status_mut() = StatusCode::BAD_GATEWAY;
    resp
}
