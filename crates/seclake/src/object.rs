//! Reading OCSF parquet objects from the local filesystem or S3, one row group at a time.
//!
//! Both paths fetch the footer, plan the columns, then fetch only the byte ranges of the needed
//! column chunks of each row group, decode it and let it go; row groups are decoded on all cores.
//! From S3, an object no larger than [`ReadOptions::whole_object_max_bytes`] is fetched with one
//! GET instead, because below that size one request costs less time than several.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use bytes::{Buf, Bytes};
use futures::{StreamExt, TryStreamExt};
use parquet::errors::ParquetError;
use parquet::file::FOOTER_SIZE;
use parquet::file::metadata::{FooterTail, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::reader::{ChunkReader, Length};

use crate::pairs::{
    ExtractError, ExtractOptions, PairAccumulator, PairExtractor, PairSet, ReadFailure,
    RowGroupPairs,
};
use crate::source::Source;

/// Where an object is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectLocation {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

impl FromStr for ObjectLocation {
    type Err = String;
    /// `s3://bucket/key` or a filesystem path.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(format!("{s:?}: no bucket in the S3 URL"));
                }
                Ok(ObjectLocation::S3 {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                })
            }
            None => Ok(ObjectLocation::Local(PathBuf::from(s))),
        }
    }
}

impl fmt::Display for ObjectLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectLocation::Local(p) => write!(f, "{}", p.display()),
            ObjectLocation::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// How objects are read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// S3 objects up to this size are fetched with one GET.
    pub whole_object_max_bytes: u64,
    /// Objects over this size are rejected without reading them.
    pub max_object_bytes: u64,
    /// Row groups decoded at once (defaults to the number of cores).
    pub threads: usize,
    /// Column chunks closer than this are fetched with one ranged GET.
    pub coalesce_gap_bytes: u64,
    /// Row groups fetched from S3 at once (decoding still uses `threads` cores).
    pub fetch_concurrency: usize,
    /// Bytes read from the end of an object to find the footer in one request.
    pub footer_prefetch_bytes: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            // Measured with tests/examples/s3_threshold.rs: with 30 ms to first byte and
            // 90 MB/s per connection, ranged reads start to win at about 3-4 MB.
            whole_object_max_bytes: 4 * 1024 * 1024,
            max_object_bytes: 1024 * 1024 * 1024,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            coalesce_gap_bytes: 1024 * 1024,
            fetch_concurrency: 8,
            footer_prefetch_bytes: 64 * 1024,
        }
    }
}

/// Byte ranges of an object held in memory, served to the parquet reader. Reading outside
/// them is an error, so a planning mistake cannot silently fetch more.
#[derive(Clone, Debug)]
pub struct FetchedRanges {
    len: u64,
    chunks: Arc<Vec<(u64, Bytes)>>,
}

impl FetchedRanges {
    pub fn new(len: u64, mut chunks: Vec<(u64, Bytes)>) -> Self {
        chunks.sort_by_key(|(start, _)| *start);
        FetchedRanges {
            len,
            chunks: Arc::new(chunks),
        }
    }

    fn slice(&self, start: u64, len: Option<usize>) -> parquet::errors::Result<Bytes> {
        let idx = self.chunks.partition_point(|(s, _)| *s <= start);
        let found = idx.checked_sub(1).and_then(|i| self.chunks.get(i));
        if let Some((chunk_start, bytes)) = found {
            let offset = (start - chunk_start) as usize;
            let end = match len {
                Some(l) => offset.checked_add(l),
                None => Some(bytes.len()),
            };
            if let Some(end) = end.filter(|e| *e <= bytes.len() && offset <= *e) {
                return Ok(bytes.slice(offset..end));
            }
        }
        Err(ParquetError::General(format!(
            "bytes {start}..{} of the object were not fetched (object is {} bytes)",
            len.map_or("end".to_string(), |l| (start + l as u64).to_string()),
            self.len
        )))
    }
}

impl Length for FetchedRanges {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for FetchedRanges {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(self.slice(start, None)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.slice(start, Some(length))
    }
}

/// Merges ranges closer than `gap` so they are fetched together.
pub fn coalesce(mut ranges: Vec<Range<u64>>, gap: u64) -> Vec<Range<u64>> {
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(gap) => {
                last.end = last.end.max(r.end);
            }
            _ => out.push(r),
        }
    }
    out
}

/// Parses the footer out of `tail`, the last bytes of an object of `size` bytes;
/// `Ok(Err(n))` asks for the last `n` bytes instead.
/// [`parse_footer`] off the async threads: a corrupt footer can keep the parser busy for
/// seconds, and the caller's deadline must still be able to end the wait.
async fn parse_footer_blocking(
    tail: Bytes,
    size: u64,
) -> Result<Result<ParquetMetaData, u64>, ExtractError> {
    joined(tokio::task::spawn_blocking(move || parse_footer(&tail, size)).await)
}

/// The result of a decoder task. A panic in the parquet crate on corrupt bytes (it does not
/// check everything it decodes) is contained by the task and reported as a corrupt object,
/// never retried; a cancelled task is transient.
fn joined<T>(
    result: Result<Result<T, ExtractError>, tokio::task::JoinError>,
) -> Result<T, ExtractError> {
    match result {
        Ok(inner) => inner,
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            Err(ExtractError::DecoderPanicked(message))
        }
        Err(e) => Err(ExtractError::Read {
            kind: ReadFailure::Transient,
            message: format!("decoder task failed: {e}"),
        }),
    }
}

fn parse_footer(tail: &Bytes, size: u64) -> Result<Result<ParquetMetaData, u64>, ExtractError> {
    // The footer's thrift is walked first, once the tail holds all of it: the parquet
    // crate's own skipper can spin for long on a few corrupt bytes (`footer_check`). A bad
    // magic or an encrypted footer is left to the reader to report.
    if let Some(len_at) = tail.len().checked_sub(FOOTER_SIZE)
        && let Ok(trailer) = <&[u8; FOOTER_SIZE]>::try_from(&tail[len_at..])
        && let Ok(footer) = FooterTail::try_new(trailer)
        && !footer.is_encrypted_footer()
        && let Some(start) = len_at.checked_sub(footer.metadata_length())
    {
        crate::footer_check::check_footer(&tail[start..len_at])
            .map_err(|e| ExtractError::CorruptMetadata(e.to_string()))?;
    }
    let mut reader = ParquetMetaDataReader::new();
    // The reader sees only the tail, so the offsets it reads are relative to it.
    match reader.try_parse_sized(tail, size) {
        Ok(()) => Ok(Ok(reader.finish()?)),
        Err(ParquetError::NeedMoreData(n)) if (n as u64) <= size => Ok(Err(n as u64)),
        Err(ParquetError::NeedMoreData(n)) => Err(ExtractError::CorruptMetadata(format!(
            "footer claims {n} bytes but the object is {size} bytes"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Decodes every row group on up to `threads` threads, fetching each one's ranges with
/// `fetch`, and merges the results. Memory is bounded by `threads` row groups' column chunks.
fn extract_row_groups<F>(
    extractor: &PairExtractor,
    threads: usize,
    max_examples: usize,
    fetch: F,
) -> Result<PairSet, ExtractError>
where
    F: Fn(&[Range<u64>]) -> Result<FetchedRanges, ExtractError> + Sync,
{
    let n = extractor.num_row_groups();
    let mut acc = PairAccumulator::new(max_examples);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Result<RowGroupPairs, ExtractError>>();
    let workers = threads.clamp(1, n.max(1));
    let mut first_error = None;
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, stop, fetch) = (&next, &stop, &fetch);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let rg = next.fetch_add(1, Ordering::Relaxed);
                    if rg >= n {
                        break;
                    }
                    let result = fetch(&extractor.row_group_ranges(rg))
                        .and_then(|data| extractor.extract_row_group(data, rg));
                    if tx.send(result).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for result in rx {
            match result {
                Ok(part) => acc.add(part),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    first_error.get_or_insert(e);
                }
            }
        }
    });
    match first_error {
        Some(e) => Err(e),
        None => Ok(acc.finish()),
    }
}

/// Extracts the pairs of a local parquet file.
pub fn extract_local(
    path: &Path,
    source: &Source,
    options: &ExtractOptions,
    read: &ReadOptions,
) -> Result<PairSet, ExtractError> {
    use std::os::unix::fs::FileExt;

    let io_err = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => ExtractError::NotFound(path.display().to_string()),
        std::io::ErrorKind::PermissionDenied => ExtractError::Read {
            kind: ReadFailure::Permission,
            message: format!("{}: {e}", path.display()),
        },
        _ => ExtractError::Read {
            kind: ReadFailure::Permanent,
            message: format!("{}: {e}", path.display()),
        },
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let size = file.metadata().map_err(io_err)?.len();
    if size > read.max_object_bytes {
        return Err(ExtractError::TooLarge {
            size,
            limit: read.max_object_bytes,
        });
    }
    let bytes_read = AtomicUsize::new(0);
    let requests = AtomicUsize::new(0);
    let read_ranges = |ranges: &[Range<u64>]| -> Result<FetchedRanges, ExtractError> {
        let mut chunks = Vec::with_capacity(ranges.len());
        for r in ranges {
            let len = usize::try_from(r.end.saturating_sub(r.start))
                .map_err(|_| ExtractError::CorruptMetadata(format!("range {r:?} too large")))?;
            if r.end > size {
                return Err(ExtractError::CorruptMetadata(format!(
                    "column chunk {r:?} is past the end of the {size}-byte file"
                )));
            }
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, r.start).map_err(io_err)?;
            bytes_read.fetch_add(len, Ordering::Relaxed);
            requests.fetch_add(1, Ordering::Relaxed);
            chunks.push((r.start, Bytes::from(buf)));
        }
        Ok(FetchedRanges::new(size, chunks))
    };

    let read_tail = |n: u64| -> Result<Bytes, ExtractError> {
        let range = size - n.min(size)..size;
        read_ranges(std::slice::from_ref(&range))?
            .get_bytes(range.start, (range.end - range.start) as usize)
            .map_err(ExtractError::from)
    };
    let metadata = match parse_footer(&read_tail(read.footer_prefetch_bytes)?, size)? {
        Ok(md) => md,
        Err(needed) => parse_footer(&read_tail(needed)?, size)?
            .map_err(|n| ExtractError::CorruptMetadata(format!("footer still needs {n} bytes")))?,
    };
    let extractor = PairExtractor::new(Arc::new(metadata), source, options)?;
    let mut set = extract_row_groups(
        &extractor,
        read.threads,
        options.max_dropped_examples,
        read_ranges,
    )?;
    set.stats.bytes_read = bytes_read.load(Ordering::Relaxed) as u64;
    set.stats.requests = requests.load(Ordering::Relaxed) as u64;
    Ok(set)
}

/// Extracts the pairs of a parquet object held in memory.
pub fn extract_bytes(
    data: Bytes,
    source: &Source,
    options: &ExtractOptions,
    read: &ReadOptions,
) -> Result<PairSet, ExtractError> {
    let size = data.len() as u64;
    let metadata = parse_footer(&data, size)?
        .map_err(|n| ExtractError::CorruptMetadata(format!("footer needs {n} bytes")))?;
    let extractor = PairExtractor::new(Arc::new(metadata), source, options)?;
    let whole = FetchedRanges::new(size, vec![(0, data)]);
    extract_row_groups(
        &extractor,
        read.threads,
        options.max_dropped_examples,
        |_| Ok(whole.clone()),
    )
}

/// Classifies an S3 GetObject failure for the retry decision.
pub fn classify_get_error(err: &SdkError<GetObjectError>, what: &str) -> ExtractError {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().unwrap_or_default().to_string();
    let message = match (err.code(), err.message()) {
        (Some(c), Some(m)) => format!("{what}: {c}: {m}"),
        (Some(c), None) => format!("{what}: {c}"),
        _ => format!(
            "{what}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(err)
        ),
    };
    if let Some(GetObjectError::NoSuchKey(_)) = err.as_service_error() {
        return ExtractError::NotFound(what.to_string());
    }
    let kind = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ReadFailure::Transient
        }
        _ if code.starts_with("KMS.") || code == "AccessDenied" || status == Some(403) => {
            ReadFailure::Permission
        }
        _ if status == Some(404) || code == "NoSuchBucket" => {
            return ExtractError::NotFound(message);
        }
        _ if matches!(
            code.as_str(),
            "SlowDown" | "RequestTimeout" | "InternalError"
        ) || status.is_some_and(|s| s >= 500 || s == 429) =>
        {
            ReadFailure::Transient
        }
        _ => ReadFailure::Permanent,
    };
    ExtractError::Read { kind, message }
}

/// An S3 client for `sdk`, with path-style addressing whenever a custom endpoint is configured
/// (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`): local S3 servers have no per-bucket DNS names.
pub fn s3_client(sdk: &aws_types::SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint = sdk.endpoint_url().is_some()
        || std::env::var("AWS_ENDPOINT_URL_S3").is_ok_and(|v| !v.trim().is_empty());
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(custom_endpoint)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Reads S3 objects with ranged GETs.
#[derive(Clone, Debug)]
pub struct S3Reader {
    client: aws_sdk_s3::Client,
}

/// One GET: the bytes, and the object's total size when the response said it.
struct Fetched {
    start: u64,
    bytes: Bytes,
    total: Option<u64>,
}

impl S3Reader {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3Reader { client }
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<String>,
    ) -> Result<Fetched, ExtractError> {
        let what = format!("s3://{bucket}/{key}");
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_range(range.clone())
            .send()
            .await
            .map_err(|e| classify_get_error(&e, &what))?;
        let (start, total) = match out.content_range().and_then(parse_content_range) {
            Some((start, total)) => (start, Some(total)),
            None => (0, out.content_length().and_then(|l| u64::try_from(l).ok())),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| ExtractError::Read {
                kind: ReadFailure::Transient,
                message: format!("{what}: reading the body: {e}"),
            })?
            .into_bytes();
        Ok(Fetched {
            start,
            bytes,
            total,
        })
    }

    /// Extracts the pairs of `s3://bucket/key`. `size` is the size the notification announced,
    /// if any (it saves nothing to HEAD first: the footer request returns the size too).
    pub async fn extract(
        &self,
        bucket: &str,
        key: &str,
        size: Option<u64>,
        source: &Source,
        options: &ExtractOptions,
        read: &ReadOptions,
    ) -> Result<PairSet, ExtractError> {
        if let Some(size) = size.filter(|s| *s > read.max_object_bytes) {
            return Err(ExtractError::TooLarge {
                size,
                limit: read.max_object_bytes,
            });
        }
        let mut bytes_read = 0u64;
        let mut requests = 0u64;

        if let Some(size) = size.filter(|s| *s <= read.whole_object_max_bytes) {
            let whole = self.get(bucket, key, None).await?;
            if whole.bytes.len() as u64 != size {
                tracing::debug!(
                    announced = size,
                    actual = whole.bytes.len(),
                    "object size differs from notification"
                );
            }
            let n = whole.bytes.len() as u64;
            let (options, read) = (options.clone(), read.clone());
            let source = source.clone();
            let mut set = joined(
                tokio::task::spawn_blocking(move || {
                    extract_bytes(whole.bytes, &source, &options, &read)
                })
                .await,
            )?;
            set.stats.bytes_read = n;
            set.stats.requests = 1;
            return Ok(set);
        }

        // The footer, and the size if it was not announced.
        let tail = self
            .get(
                bucket,
                key,
                Some(format!("bytes=-{}", read.footer_prefetch_bytes)),
            )
            .await?;
        requests += 1;
        bytes_read += tail.bytes.len() as u64;
        let size = tail.total.unwrap_or(tail.start + tail.bytes.len() as u64);
        if size > read.max_object_bytes {
            return Err(ExtractError::TooLarge {
                size,
                limit: read.max_object_bytes,
            });
        }
        let metadata = match parse_footer_blocking(tail.bytes.clone(), size).await? {
            Ok(md) => md,
            Err(needed) => {
                let more = self
                    .get(bucket, key, Some(format!("bytes=-{needed}")))
                    .await?;
                requests += 1;
                bytes_read += more.bytes.len() as u64;
                parse_footer_blocking(more.bytes.clone(), size)
                    .await?
                    .map_err(|n| {
                        ExtractError::CorruptMetadata(format!("footer still needs {n} bytes"))
                    })?
            }
        };
        let extractor = Arc::new(PairExtractor::new(Arc::new(metadata), source, options)?);

        let gap = read.coalesce_gap_bytes;
        let in_flight = read.fetch_concurrency.max(read.threads).max(1);
        let mut acc = PairAccumulator::new(options.max_dropped_examples);
        let mut parts = futures::stream::iter(0..extractor.num_row_groups())
            .map(|rg| {
                let extractor = extractor.clone();
                async move {
                    let ranges = coalesce(extractor.row_group_ranges(rg), gap);
                    let fetched = futures::future::try_join_all(ranges.iter().map(|r| {
                        self.get(bucket, key, Some(format!("bytes={}-{}", r.start, r.end.saturating_sub(1))))
                    }))
                    .await?;
                    let requests = fetched.len() as u64;
                    let mut chunks = Vec::with_capacity(fetched.len());
                    let mut bytes = 0u64;
                    for (r, f) in ranges.iter().zip(fetched) {
                        if (f.bytes.len() as u64) < r.end - r.start {
                            return Err(ExtractError::Parquet(ParquetError::EOF(format!(
                                "object is shorter than its footer says: asked for bytes {}..{}, got {}",
                                r.start,
                                r.end,
                                f.bytes.len()
                            ))));
                        }
                        bytes += f.bytes.len() as u64;
                        chunks.push((r.start, f.bytes));
                    }
                    let data = FetchedRanges::new(size, chunks);
                    let part = joined(
                        tokio::task::spawn_blocking(move || extractor.extract_row_group(data, rg))
                            .await,
                    )?;
                    Ok::<_, ExtractError>((part, bytes, requests))
                }
            })
            .buffer_unordered(in_flight);
        while let Some((part, bytes, reqs)) = parts.try_next().await? {
            acc.add(part);
            bytes_read += bytes;
            requests += reqs;
        }
        acc.add_io(bytes_read, requests);
        Ok(acc.finish())
    }
}

/// Reads objects wherever they are: one interface over local files and S3.
#[derive(Clone, Debug, Default)]
pub struct ObjectReader {
    s3: Option<S3Reader>,
    /// When set, S3 locations are read from `<root>/<bucket>/<key>` (a local mirror of the
    /// lake, as `ipinsights simulate` writes it).
    mirror: Option<PathBuf>,
}

impl ObjectReader {
    /// A reader of local files only.
    pub fn local() -> Self {
        ObjectReader::default()
    }

    /// A reader that serves S3 locations from a local mirror: `s3://bucket/key` is read from
    /// `root/bucket/key`. The handler runs unchanged on a simulated lake.
    pub fn mirror(root: impl Into<PathBuf>) -> Self {
        ObjectReader {
            s3: None,
            mirror: Some(root.into()),
        }
    }

    /// A reader of local files and of S3 objects through `client`.
    pub fn with_s3(client: aws_sdk_s3::Client) -> Self {
        ObjectReader {
            s3: Some(S3Reader::new(client)),
            mirror: None,
        }
    }

    /// Extracts the pairs of the object at `location`. `size` is the announced size, if any.
    pub async fn extract(
        &self,
        location: &ObjectLocation,
        size: Option<u64>,
        source: &Source,
        options: &ExtractOptions,
        read: &ReadOptions,
    ) -> Result<PairSet, ExtractError> {
        let mirrored;
        let location = match (location, &self.mirror) {
            (ObjectLocation::S3 { bucket, key }, Some(root)) => {
                if bucket.contains("..") || key.split('/').any(|p| p == "..") {
                    return Err(ExtractError::NotFound(format!("s3://{bucket}/{key}")));
                }
                mirrored = ObjectLocation::Local(root.join(bucket).join(key));
                &mirrored
            }
            _ => location,
        };
        match location {
            ObjectLocation::Local(path) => {
                let (path, source, options, read) =
                    (path.clone(), source.clone(), options.clone(), read.clone());
                joined(
                    tokio::task::spawn_blocking(move || {
                        extract_local(&path, &source, &options, &read)
                    })
                    .await,
                )
            }
            ObjectLocation::S3 { bucket, key } => match &self.s3 {
                Some(s3) => s3.extract(bucket, key, size, source, options, read).await,
                None => Err(ExtractError::Read {
                    kind: ReadFailure::Permanent,
                    message: format!("s3://{bucket}/{key}: this reader has no S3 client"),
                }),
            },
        }
    }
}

/// Parses `bytes START-END/TOTAL` into (START, TOTAL).
fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            "s3://b/a/b.parquet".parse::<ObjectLocation>(),
            Ok(ObjectLocation::S3 {
                bucket: "b".into(),
                key: "a/b.parquet".into()
            })
        );
        assert!("s3:///x".parse::<ObjectLocation>().is_err());
        assert_eq!(
            "dir/x.parquet".parse::<ObjectLocation>(),
            Ok(ObjectLocation::Local("dir/x.parquet".into()))
        );
    }

    #[test]
    fn coalescing() {
        assert_eq!(coalesce(vec![10..20, 0..5, 25..30], 5), vec![0..30]);
        assert_eq!(coalesce(vec![0..5, 100..110], 5), vec![0..5, 100..110]);
        assert_eq!(coalesce(vec![0..50, 10..20], 0), vec![0..50]);
    }

    #[test]
    fn fetched_ranges_serve_only_what_was_fetched() {
        let r = FetchedRanges::new(
            100,
            vec![
                (50, Bytes::from_static(b"0123456789")),
                (0, Bytes::from_static(b"abc")),
            ],
        );
        assert_eq!(r.get_bytes(52, 3).unwrap(), Bytes::from_static(b"234"));
        assert_eq!(r.get_bytes(0, 3).unwrap(), Bytes::from_static(b"abc"));
        assert!(r.get_bytes(58, 5).is_err());
        assert!(r.get_bytes(10, 1).is_err());
        let mut s = String::new();
        std::io::Read::read_to_string(&mut r.get_read(57).unwrap(), &mut s).unwrap();
        assert_eq!(s, "789");
    }

    fn s3_error(status: u16, code: &str) -> aws_smithy_runtime_api::http::Response {
        let body = format!("<Error><Code>{code}</Code><Message>test</Message></Error>");
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
            aws_smithy_types::body::SdkBody::from(body),
        )
    }

    #[tokio::test]
    async fn s3_failures_are_classified_for_retry() {
        use aws_sdk_s3::config::retry::RetryConfig;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};

        let cases: [(u16, &str, &str); 7] = [
            (503, "SlowDown", "read_transient"),
            (500, "InternalError", "read_transient"),
            (403, "AccessDenied", "read_permission"),
            (400, "KMS.DisabledException", "read_permission"),
            (404, "NoSuchKey", "not_found"),
            (416, "InvalidRange", "read_failed"),
            (400, "InvalidArgument", "read_failed"),
        ];
        for (status, code, reason) in cases {
            let code_owned = code.to_string();
            let rule = mock!(aws_sdk_s3::Client::get_object)
                .then_http_response(move || s3_error(status, &code_owned));
            let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule], |c| c
                .retry_config(RetryConfig::disabled()));
            let err = S3Reader::new(client)
                .extract(
                    "b",
                    "k",
                    None,
                    &Source::VpcFlow,
                    &ExtractOptions::default(),
                    &ReadOptions::default(),
                )
                .await
                .unwrap_err();
            assert_eq!(err.reason(), reason, "{status} {code}: {err}");
            assert_eq!(
                err.is_retryable(),
                reason == "read_transient" || reason == "read_permission",
                "{status} {code}"
            );
        }
    }

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 100-199/1000"), Some((100, 1000)));
        assert_eq!(parse_content_range("bytes */1000"), None);
    }

    #[tokio::test]
    async fn corrupt_definition_levels_are_a_rejected_object() {
        // Found by fuzz/parquet_object: parquet 60 panicked decoding this object's definition
        // levels ("offset + len out of bounds" in arrow-buffer); the vendored parquet returns
        // an error instead (vendor/README.md).
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/regressions/parquet_object/def-levels-bit-chunk-out-of-bounds");
        for source in [Source::VpcFlow, Source::Route53] {
            let result = ObjectReader::local()
                .extract(
                    &ObjectLocation::Local(path.clone()),
                    None,
                    &source,
                    &ExtractOptions::default(),
                    &ReadOptions {
                        threads: 1,
                        ..ReadOptions::default()
                    },
                )
                .await;
            let e = result.unwrap_err();
            assert!(!e.is_retryable(), "{e}");
            assert_ne!(e.reason(), "decoder_panicked", "{e}");
        }
    }

    #[tokio::test]
    async fn a_panic_in_a_decoder_task_is_a_rejected_object() {
        // What stands between a parquet bug on corrupt bytes and the whole batch: the task
        // contains the panic, and the object is rejected, never retried.
        let result: Result<Result<(), ExtractError>, _> =
            tokio::task::spawn_blocking(|| panic!("offset + len out of bounds")).await;
        let e = joined(result).unwrap_err();
        assert_eq!(e.reason(), "decoder_panicked");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("offset + len out of bounds"), "{e}");
    }
}
