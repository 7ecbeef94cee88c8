//! The SageMaker IP Insights wire format (`ip-insights-inference-data-formats`).
//!
//! Requests (`Content-Type`):
//!
//! - `text/csv`: `entity, ipv4` per line (the CSV rules of [`crate::data`], without the
//!   header exception).
//! - `application/json`: `{"instances": [{"data": {"features": {"values": ["e", "1.2.3.4"]}}},
//!   {"features": ["e", "1.2.3.4"]}]}`.
//! - `application/jsonlines`: one such instance object per line.
//!
//! Responses (`Accept`, default `application/json`):
//!
//! - `application/json`: `{"predictions": [{"dot_product": 0.0}, {"dot_product": 2.0}]}`
//! - `application/jsonlines`: `{"dot_product": 0.0}` per line, lines joined by `\n`.
//! - With the parameter `verbose=True` (`application/json;verbose=True`, a space after the
//!   `;` is allowed), every prediction also carries `entity_embedding` and `ip_embedding`.
//!
//! Numbers are written the way SageMaker's Python container writes them: `json.dumps`
//! separators (`", "`, `": "`) and Python's `repr` of the f32 value widened to f64 (shortest
//! round-trip digits, `1e-05`-style exponents), so that a response is byte-for-byte what the
//! real endpoint would send for the same scores.
//!
//! Rows are numbered from 1 in error messages: the line for CSV and JSON Lines, the position
//! in `instances` for JSON.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::ops::Range;

use serde_json::Value;

use crate::data::parse_pair;
use crate::ip::parse_ipv4;

/// A request or response that does not follow the format.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    /// A `Content-Type` IP Insights does not accept.
    #[error(
        "unsupported content type {0:?}: use text/csv, application/json or application/jsonlines"
    )]
    UnsupportedContentType(String),
    /// An `Accept` IP Insights cannot produce.
    #[error(
        "unsupported accept {0:?}: use application/json or application/jsonlines (optionally with verbose=True)"
    )]
    UnsupportedAccept(String),
    /// The body is not UTF-8.
    #[error("the body is not UTF-8 text")]
    NotUtf8,
    /// The body as a whole is malformed (e.g. JSON without `instances`).
    #[error("{0}")]
    BadBody(String),
    /// One row is malformed.
    #[error("row {row}: {reason}")]
    BadRow {
        /// 1-based row number.
        row: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Request body formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFormat {
    /// `text/csv`
    Csv,
    /// `application/json`
    Json,
    /// `application/jsonlines`
    JsonLines,
}

/// Response body formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    /// `application/json`
    Json,
    /// `application/jsonlines`
    JsonLines,
}

/// A parsed `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accept {
    /// Body format.
    pub format: ResponseFormat,
    /// Whether embeddings are included (`verbose=True`).
    pub verbose: bool,
}

impl Default for Accept {
    fn default() -> Self {
        Self {
            format: ResponseFormat::Json,
            verbose: false,
        }
    }
}

/// Splits `type/subtype; k=v; ...` into the lower-cased media type and its parameters.
fn media(s: &str) -> (String, Vec<(String, String)>) {
    let mut parts = s.split(';');
    let mt = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect();
    (mt, params)
}

fn is_jsonlines(mt: &str) -> bool {
    matches!(
        mt,
        "application/jsonlines"
            | "application/x-jsonlines"
            | "application/jsonl"
            | "application/json-lines"
    )
}

impl RequestFormat {
    /// Parses a `Content-Type` header value (parameters such as `charset` are ignored).
    pub fn from_content_type(ct: &str) -> Result<Self, WireError> {
        let (mt, _) = media(ct);
        match mt.as_str() {
            "text/csv" => Ok(Self::Csv),
            "application/json" => Ok(Self::Json),
            m if is_jsonlines(m) => Ok(Self::JsonLines),
            _ => Err(WireError::UnsupportedContentType(ct.to_string())),
        }
    }

    /// The canonical content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv",
            Self::Json => "application/json",
            Self::JsonLines => "application/jsonlines",
        }
    }
}

impl Accept {
    /// Parses an `Accept` header. Missing, empty and `*/*` mean `application/json`; among
    /// several media ranges the first supported one wins.
    pub fn parse(header: Option<&str>) -> Result<Self, WireError> {
        let Some(h) = header.map(str::trim).filter(|h| !h.is_empty()) else {
            return Ok(Self::default());
        };
        for range in h.split(',') {
            let (mt, params) = media(range);
            let format = match mt.as_str() {
                "application/json" | "*/*" | "application/*" => ResponseFormat::Json,
                m if is_jsonlines(m) => ResponseFormat::JsonLines,
                _ => continue,
            };
            let verbose = params
                .iter()
                .any(|(k, v)| k == "verbose" && v.eq_ignore_ascii_case("true"));
            return Ok(Self { format, verbose });
        }
        Err(WireError::UnsupportedAccept(h.to_string()))
    }

    /// The `Content-Type` of the response (without the `verbose` parameter).
    pub fn content_type(&self) -> &'static str {
        match self.format {
            ResponseFormat::Json => "application/json",
            ResponseFormat::JsonLines => "application/jsonlines",
        }
    }
}

/// Parses a request body into (entity, address) pairs, in order.
pub fn parse_request(
    content_type: &str,
    body: &[u8],
) -> Result<Vec<(String, Ipv4Addr)>, WireError> {
    let format = RequestFormat::from_content_type(content_type)?;
    let text = std::str::from_utf8(body).map_err(|_| WireError::NotUtf8)?;
    match format {
        RequestFormat::Csv => parse_csv(text),
        RequestFormat::Json => parse_json(text),
        RequestFormat::JsonLines => parse_jsonlines(text),
    }
}

fn parse_csv(text: &str) -> Result<Vec<(String, Ipv4Addr)>, WireError> {
    let mut out = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let (e, ip) =
            parse_pair(line).map_err(|reason| WireError::BadRow { row: n + 1, reason })?;
        out.push((e.into_owned(), ip));
    }
    Ok(out)
}

/// One instance: `{"data": {"features": {"values": [e, ip]}}}` or `{"features": [e, ip]}`.
fn instance(v: &Value) -> Result<(String, Ipv4Addr), String> {
    let values = v
        .get("features")
        .or_else(|| v.pointer("/data/features/values"))
        .ok_or(r#"expected {"features": [entity, ip]} or {"data": {"features": {"values": [entity, ip]}}}"#)?;
    let arr = values
        .as_array()
        .ok_or("the features must be an array [entity, ip]")?;
    let [e, ip] = arr.as_slice() else {
        return Err(format!(
            "expected 2 features (entity, IPv4 address), found {}",
            arr.len()
        ));
    };
    let entity = match e {
        Value::String(s) => s.clone(),
        // Numeric entity ids are common; use their JSON text.
        Value::Number(n) => n.to_string(),
        _ => return Err("the entity must be a string".into()),
    };
    if entity.is_empty() {
        return Err("empty entity".into());
    }
    let ip = ip.as_str().ok_or("the IPv4 address must be a string")?;
    let ip = parse_ipv4(ip).map_err(|e| e.to_string())?;
    Ok((entity, ip))
}

fn parse_json(text: &str) -> Result<Vec<(String, Ipv4Addr)>, WireError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| WireError::BadBody(format!("the body is not valid JSON: {e}")))?;
    let instances = v
        .get("instances")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::BadBody(r#"expected {"instances": [...]}"#.into()))?;
    instances
        .iter()
        .enumerate()
        .map(|(i, inst)| instance(inst).map_err(|reason| WireError::BadRow { row: i + 1, reason }))
        .collect()
}

fn parse_jsonlines(text: &str) -> Result<Vec<(String, Ipv4Addr)>, WireError> {
    let mut out = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |reason: String| WireError::BadRow { row: n + 1, reason };
        let v: Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        out.push(instance(&v).map_err(bad)?);
    }
    Ok(out)
}

/// Formats a float as Python's `repr` does (what `json.dumps` writes): shortest round-trip
/// digits, `.0` for integral values, and exponents with a sign and at least two digits
/// (`1e-05`, `1e+16`) outside `[1e-4, 1e16)`.
pub fn format_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Rust's Debug uses the same digits and the same thresholds; only the exponent differs.
    let s = format!("{x:?}");
    match s.split_once('e') {
        None => s,
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
    }
}

/// One prediction to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The score.
    pub dot_product: f64,
    /// `(entity_embedding, ip_embedding)`, written only for verbose responses.
    pub embeddings: Option<(Vec<f32>, Vec<f32>)>,
}

fn write_prediction(out: &mut String, p: &Prediction, verbose: bool) {
    out.push_str("{\"dot_product\": ");
    out.push_str(&format_float(p.dot_product));
    if verbose {
        let (e, v) = match &p.embeddings {
            Some((e, v)) => (e.as_slice(), v.as_slice()),
            None => (&[][..], &[][..]),
        };
        for (key, vec) in [("entity_embedding", e), ("ip_embedding", v)] {
            let _ = write!(out, ", \"{key}\": [");
            for (i, x) in vec.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&format_float(f64::from(*x)));
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// Writes a response body for `accept`.
pub fn write_response(accept: &Accept, predictions: &[Prediction]) -> String {
    let per = if accept.verbose { 40 + 50 * 64 } else { 40 };
    let mut out = String::with_capacity(32 + predictions.len() * per);
    match accept.format {
        ResponseFormat::Json => {
            out.push_str("{\"predictions\": [");
            for (i, p) in predictions.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_prediction(&mut out, p, accept.verbose);
            }
            out.push_str("]}");
        }
        ResponseFormat::JsonLines => {
            for (i, p) in predictions.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                write_prediction(&mut out, p, accept.verbose);
            }
        }
    }
    out
}

/// Extracts the `dot_product`s of an endpoint response, in order: `application/json`
/// (`{"predictions": [...]}`) or `application/jsonlines`, verbose or not. An unknown or empty
/// content type is recognised from the body.
pub fn parse_predictions(content_type: &str, body: &[u8]) -> Result<Vec<f64>, WireError> {
    let text = std::str::from_utf8(body).map_err(|_| WireError::NotUtf8)?;
    let (mt, _) = media(content_type);
    let lines = if is_jsonlines(&mt) {
        true
    } else if mt == "application/json" {
        false
    } else {
        !text.trim_start().starts_with("{\"predictions\"")
            && !text.trim_start().starts_with("{ \"predictions\"")
            && serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v.get("predictions").cloned())
                .is_none()
    };
    let dot = |v: &Value, row: usize| -> Result<f64, WireError> {
        v.get("dot_product")
            .and_then(Value::as_f64)
            .ok_or_else(|| WireError::BadRow {
                row,
                reason: "no numeric dot_product".into(),
            })
    };
    if lines {
        let mut out = Vec::new();
        for (n, line) in text.split('\n').enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line).map_err(|e| WireError::BadRow {
                row: n + 1,
                reason: format!("not valid JSON: {e}"),
            })?;
            out.push(dot(&v, n + 1)?);
        }
        Ok(out)
    } else {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| WireError::BadBody(format!("the response is not valid JSON: {e}")))?;
        let preds = v
            .get("predictions")
            .and_then(Value::as_array)
            .ok_or_else(|| WireError::BadBody(r#"expected {"predictions": [...]}"#.into()))?;
        preds
            .iter()
            .enumerate()
            .map(|(i, p)| dot(p, i + 1))
            .collect()
    }
}

/// Quotes a CSV field when it needs it (commas, quotes, line breaks, or spaces at either end,
/// which the parser would trim).
pub fn push_csv_field(out: &mut String, s: &str) {
    let needs = s.contains([',', '"', '\n', '\r'])
        || s.starts_with([' ', '\t'])
        || s.ends_with([' ', '\t']);
    if needs {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Splits pairs into `text/csv` request bodies of at most `max_bytes` bytes and `max_rows`
/// rows each (a single longer row still gets its own body). Returns each body with the
/// range of pairs it holds.
///
/// Keep both limits well inside SageMaker's 6 MiB: the response is larger than the request
/// (about 40 bytes per row for `{"dot_product": …}`).
pub fn csv_chunks(
    pairs: &[(&str, Ipv4Addr)],
    max_bytes: usize,
    max_rows: usize,
) -> Vec<(Range<usize>, String)> {
    let mut out = Vec::new();
    let mut body = String::new();
    let mut start = 0;
    let mut line = String::new();
    for (i, (e, ip)) in pairs.iter().enumerate() {
        line.clear();
        push_csv_field(&mut line, e);
        let _ = writeln!(line, ",{ip}");
        let rows = i - start;
        if rows > 0 && (body.len() + line.len() > max_bytes || rows >= max_rows.max(1)) {
            out.push((start..i, std::mem::take(&mut body)));
            start = i;
        }
        body.push_str(&line);
    }
    if start < pairs.len() {
        out.push((start..pairs.len(), body));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_documented_requests() {
        let want = vec![
            ("entity_id_1".to_string(), ip("192.168.1.2")),
            ("entity_id_2".to_string(), ip("10.10.1.2")),
        ];
        assert_eq!(
            parse_request(
                "text/csv",
                b"entity_id_1, 192.168.1.2\nentity_id_2, 10.10.1.2\n"
            )
            .unwrap(),
            want
        );
        let json = br#"{
  "instances": [
    {"data": {"features": {"values": ["entity_id_1", "192.168.1.2"]}}},
    {"features": ["entity_id_2", "10.10.1.2"]}
  ]
}"#;
        assert_eq!(parse_request("application/json", json).unwrap(), want);
        let jl = b"{\"data\": {\"features\": {\"values\": [\"entity_id_1\", \"192.168.1.2\"]}}}\n{\"features\": [\"entity_id_2\", \"10.10.1.2\"]}\n";
        assert_eq!(parse_request("application/jsonlines", jl).unwrap(), want);
        assert_eq!(
            parse_request("text/csv; charset=utf-8", b"a,1.2.3.4\r\n").unwrap(),
            vec![("a".to_string(), ip("1.2.3.4"))]
        );
        assert_eq!(
            parse_request(
                "application/json",
                br#"{"instances": [{"features": [123, "1.2.3.4"]}]}"#
            )
            .unwrap(),
            vec![("123".to_string(), ip("1.2.3.4"))]
        );
        assert_eq!(parse_request("text/csv", b"").unwrap(), vec![]);
    }

    #[test]
    fn bad_rows_are_named() {
        let row = |ct: &str, body: &[u8]| match parse_request(ct, body) {
            Err(WireError::BadRow { row, reason }) => (row, reason),
            other => panic!("{ct} {:?}: {other:?}", String::from_utf8_lossy(body)),
        };
        assert_eq!(row("text/csv", b"a,1.2.3.4\nb,1.2.3.400\n").0, 2);
        assert_eq!(row("text/csv", b"a,1.2.3.4\n\nb\n").0, 3);
        let (r, reason) = row("text/csv", b"a,1.2.3.4,x\n");
        assert_eq!(r, 1);
        assert!(reason.contains("2 columns"), "{reason}");
        assert_eq!(
            row(
                "application/json",
                br#"{"instances": [{"features": ["a", "1.2.3.4"]}, {"features": ["b"]}]}"#
            )
            .0,
            2
        );
        assert_eq!(
            row(
                "application/json",
                br#"{"instances": [{"values": ["a", "1.2.3.4"]}]}"#
            )
            .0,
            1
        );
        assert_eq!(
            row(
                "application/json",
                br#"{"instances": [{"features": ["a", 16909060]}]}"#
            )
            .0,
            1
        );
        assert_eq!(
            row(
                "application/jsonlines",
                b"{\"features\": [\"a\", \"1.2.3.4\"]}\n{oops\n"
            )
            .0,
            2
        );
        assert_eq!(
            parse_request("application/json", b"{\"predictions\": []}"),
            Err(WireError::BadBody(
                r#"expected {"instances": [...]}"#.into()
            ))
        );
        assert!(matches!(
            parse_request("application/x-recordio-protobuf", b""),
            Err(WireError::UnsupportedContentType(_))
        ));
        assert_eq!(parse_request("text/csv", b"\xff"), Err(WireError::NotUtf8));
        let msg = WireError::BadRow {
            row: 7,
            reason: "x".into(),
        }
        .to_string();
        assert_eq!(msg, "row 7: x");
    }

    #[test]
    fn accept_headers() {
        let a = |h: Option<&str>| Accept::parse(h).unwrap();
        assert_eq!(a(None), Accept::default());
        assert_eq!(a(Some("*/*")), Accept::default());
        for h in [
            "application/json;verbose=True",
            "application/json; verbose=True",
        ] {
            assert_eq!(
                a(Some(h)),
                Accept {
                    format: ResponseFormat::Json,
                    verbose: true
                }
            );
        }
        assert!(!a(Some("application/json; verbose=False")).verbose);
        assert_eq!(
            a(Some("application/jsonlines; verbose=True")),
            Accept {
                format: ResponseFormat::JsonLines,
                verbose: true
            }
        );
        assert_eq!(
            a(Some("text/html, application/jsonlines")).format,
            ResponseFormat::JsonLines
        );
        assert!(Accept::parse(Some("text/csv")).is_err());
    }

    fn p(x: f64, e: Option<[f32; 3]>, v: Option<[f32; 3]>) -> Prediction {
        Prediction {
            dot_product: x,
            embeddings: e.zip(v).map(|(e, v)| (e.to_vec(), v.to_vec())),
        }
    }

    #[test]
    fn responses_are_byte_exact() {
        let plain = [p(0.0, None, None), p(2.0, None, None)];
        let json = Accept::default();
        let jl = Accept {
            format: ResponseFormat::JsonLines,
            verbose: false,
        };
        assert_eq!(
            write_response(&json, &plain),
            r#"{"predictions": [{"dot_product": 0.0}, {"dot_product": 2.0}]}"#
        );
        assert_eq!(
            write_response(&jl, &plain),
            "{\"dot_product\": 0.0}\n{\"dot_product\": 2.0}"
        );
        let verbose = [
            p(0.0, Some([1.0, 0.0, 0.0]), Some([0.0, 1.0, 0.0])),
            p(2.0, Some([1.0, 0.0, 1.0]), Some([1.0, 0.0, 1.0])),
        ];
        assert_eq!(
            write_response(
                &Accept {
                    verbose: true,
                    ..jl
                },
                &verbose
            ),
            "{\"dot_product\": 0.0, \"entity_embedding\": [1.0, 0.0, 0.0], \"ip_embedding\": [0.0, 1.0, 0.0]}\n\
             {\"dot_product\": 2.0, \"entity_embedding\": [1.0, 0.0, 1.0], \"ip_embedding\": [1.0, 0.0, 1.0]}"
        );
        assert_eq!(
            write_response(
                &Accept {
                    verbose: true,
                    ..json
                },
                &verbose
            ),
            "{\"predictions\": [{\"dot_product\": 0.0, \"entity_embedding\": [1.0, 0.0, 0.0], \"ip_embedding\": [0.0, 1.0, 0.0]}, \
             {\"dot_product\": 2.0, \"entity_embedding\": [1.0, 0.0, 1.0], \"ip_embedding\": [1.0, 0.0, 1.0]}]}"
        );
        assert_eq!(write_response(&json, &[]), r#"{"predictions": []}"#);
    }

    #[test]
    fn a_real_endpoint_response_round_trips() {
        // Captured from a SageMaker IP Insights endpoint (amazon-security-lake-sagemaker-workshop).
        let captured = r#"{"predictions": [{"dot_product": -0.0025198650546371937}, {"dot_product": -0.012088463641703129}, {"dot_product": -0.005051907151937485}, {"dot_product": -0.016000129282474518}]}"#;
        let dots = parse_predictions("application/json", captured.as_bytes()).unwrap();
        assert_eq!(dots[0], -0.0025198650546371937);
        assert_eq!(dots.len(), 4);
        // The values are f32 widened to f64, as this crate produces them.
        assert_eq!(f64::from(dots[0] as f32), dots[0]);
        let preds: Vec<Prediction> = dots.iter().map(|&d| p(d, None, None)).collect();
        assert_eq!(write_response(&Accept::default(), &preds), captured);
        assert_eq!(parse_predictions("", captured.as_bytes()).unwrap(), dots);
    }

    #[test]
    fn parses_predictions_in_every_format() {
        let jl = b"{\"dot_product\": 1.5, \"entity_embedding\": [1.0], \"ip_embedding\": [2.0]}\n{\"dot_product\": -3e-05}\n";
        assert_eq!(
            parse_predictions("application/jsonlines", jl).unwrap(),
            vec![1.5, -3e-5]
        );
        assert_eq!(
            parse_predictions("application/octet-stream", jl).unwrap(),
            vec![1.5, -3e-5]
        );
        assert_eq!(
            parse_predictions("application/json; charset=utf-8", br#"{"predictions": []}"#)
                .unwrap(),
            Vec::<f64>::new()
        );
        assert!(matches!(
            parse_predictions("application/json", br#"{"predictions": [{"score": 1}]}"#),
            Err(WireError::BadRow { row: 1, .. })
        ));
        assert!(matches!(
            parse_predictions("application/json", b"<html>"),
            Err(WireError::BadBody(_))
        ));
    }

    #[test]
    fn floats_look_like_python() {
        for (x, s) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (2.0, "2.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (-1.5e-7, "-1.5e-07"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.2345678e22, "1.2345678e+22"),
            (1e100, "1e+100"),
            (f64::from(0.1f32), "0.10000000149011612"),
        ] {
            assert_eq!(format_float(x), s);
        }
    }

    #[test]
    fn csv_chunks_respect_both_limits() {
        let pairs: Vec<(&str, Ipv4Addr)> = vec![
            ("a", ip("1.1.1.1")),
            ("b,c", ip("2.2.2.2")),
            ("d", ip("3.3.3.3")),
            ("e", ip("4.4.4.4")),
        ];
        let chunks = csv_chunks(&pairs, 1 << 20, 3);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].0, 0..3);
        assert_eq!(chunks[0].1, "a,1.1.1.1\n\"b,c\",2.2.2.2\nd,3.3.3.3\n");
        let all: Vec<(String, Ipv4Addr)> = chunks
            .iter()
            .flat_map(|(_, body)| parse_request("text/csv", body.as_bytes()).unwrap())
            .collect();
        assert_eq!(all.len(), 4);
        assert_eq!(all[1].0, "b,c");
        let small = csv_chunks(&pairs, 12, 100);
        assert_eq!(small.len(), 4);
        assert!(small.iter().all(|(r, b)| r.len() == 1 && !b.is_empty()));
        assert!(csv_chunks(&[], 10, 10).is_empty());
    }
}
