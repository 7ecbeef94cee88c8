//! A whole lake, for building training data: the objects of a time window (found by key
//! prefix, never by scanning the bucket), an external shuffle with bounded memory, and
//! multipart upload of the result.
//!
//! Memory stays bounded whatever the size of the window: objects are read a few at a time and
//! let go, each object's pairs are deduplicated by the extractor, and rows go either to a
//! fixed-size reservoir (`--max-pairs`) or to temporary bucket files chosen at random, each of
//! which is shuffled in memory on its own (about `rows / buckets` rows at a time).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use aws_sdk_s3::error::ProvideErrorMetadata;

use crate::key::{EventDay, LakeKey};
use crate::object::ObjectLocation;
use crate::source::{Source, SourceVersion};

/// What went wrong finding or writing lake data; messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// A local file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An S3 request failed.
    #[error("{what}: {message}")]
    S3 {
        /// The request (`listing s3://bucket/prefix`, …).
        what: String,
        /// The error and, for known codes, what to do about it.
        message: String,
    },
    /// The request itself cannot be served (bad window, S3 lake without a client, …).
    #[error("{0}")]
    Invalid(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LakeError + '_ {
    move |source| LakeError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The message of an S3 error, with the permission to grant when access was denied.
fn s3_message<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: &aws_sdk_s3::error::SdkError<E>,
    permission: &str,
) -> String {
    match err.as_service_error().and_then(|e| e.code()) {
        Some("AccessDenied") => format!("access denied: grant {permission} to this identity"),
        Some("NoSuchBucket") => "no such bucket: check the bucket name and region".to_string(),
        Some(code) => format!(
            "{code}: {}",
            err.as_service_error()
                .and_then(|e| e.message())
                .unwrap_or("")
        ),
        None => format!("{err:?}"),
    }
}

/// The root of a lake: a local directory holding `aws/…` (as `ipinsights simulate` writes
/// under each bucket directory), or an S3 bucket with an optional prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeRoot {
    /// A directory.
    Local(PathBuf),
    /// `s3://bucket[/prefix]`; `prefix` is empty or ends with `/`.
    S3 {
        /// The bucket.
        bucket: String,
        /// The prefix before `aws/`.
        prefix: String,
    },
}

impl LakeRoot {
    /// `s3://bucket[/prefix]` or a directory path.
    pub fn parse(s: &str) -> Result<LakeRoot, LakeError> {
        match s.parse::<ObjectLocation>().map_err(LakeError::Invalid)? {
            ObjectLocation::Local(p) => Ok(LakeRoot::Local(p)),
            ObjectLocation::S3 { bucket, key } => Ok(LakeRoot::S3 {
                bucket,
                prefix: dir_prefix(&key),
            }),
        }
    }
}

/// `p` with a trailing `/` unless empty.
pub fn dir_prefix(p: &str) -> String {
    let p = p.trim_start_matches('/');
    if p.is_empty() || p.ends_with('/') {
        p.to_string()
    } else {
        format!("{p}/")
    }
}

/// Which partitions to read: sources and versions, a range of days (both ends included), and
/// optionally only some regions and accounts (`None`: whatever the lake has).
#[derive(Debug, Clone)]
pub struct Window {
    /// Sources (`VPC_FLOW`, `ROUTE53`).
    pub sources: Vec<Source>,
    /// Source versions.
    pub versions: Vec<SourceVersion>,
    /// First day.
    pub since: EventDay,
    /// Last day (included).
    pub until: EventDay,
    /// Regions to read, or all found.
    pub regions: Option<Vec<String>>,
    /// Accounts to read, or all found.
    pub accounts: Option<Vec<String>>,
}

impl Window {
    /// The days of the window, in order.
    pub fn days(&self) -> Result<Vec<EventDay>, LakeError> {
        if self.since > self.until {
            return Err(LakeError::Invalid(format!(
                "--since {} is after --until {}",
                self.since, self.until
            )));
        }
        let mut days = vec![self.since];
        let mut day = self.since;
        while day < self.until {
            let next = day.succ();
            if next == day || days.len() > 3660 {
                return Err(LakeError::Invalid(
                    "the window is longer than ten years".to_string(),
                ));
            }
            day = next;
            days.push(day);
        }
        Ok(days)
    }

    fn wants(list: &Option<Vec<String>>, value: &str) -> bool {
        list.as_ref().is_none_or(|l| l.iter().any(|v| v == value))
    }
}

/// One object of the window.
#[derive(Debug, Clone)]
pub struct LakeObject {
    /// Where it is.
    pub location: ObjectLocation,
    /// Its parsed key.
    pub key: LakeKey,
    /// Its size, as listed.
    pub size: Option<u64>,
}

/// `aws/<SOURCE>/<version>/` (or `ext/…` for custom sources).
fn version_prefix(source: &Source, version: SourceVersion) -> String {
    let root = if matches!(source, Source::Custom(_)) {
        "ext"
    } else {
        "aws"
    };
    format!("{root}/{source}/{version}/")
}

/// Lists the objects of `window`: per source and version, the region and account partitions
/// (unless given), then one listing per day prefix. `s3` is needed for S3 lakes.
pub async fn list_window(
    root: &LakeRoot,
    window: &Window,
    s3: Option<&aws_sdk_s3::Client>,
) -> Result<Vec<LakeObject>, LakeError> {
    let days = window.days()?;
    let mut out = Vec::new();
    for source in &window.sources {
        for &version in &window.versions {
            let base = version_prefix(source, version);
            match root {
                LakeRoot::Local(dir) => list_local(dir, &base, window, &days, &mut out)?,
                LakeRoot::S3 { bucket, prefix } => {
                    let client = s3.ok_or_else(|| {
                        LakeError::Invalid("an S3 lake needs an S3 client".to_string())
                    })?;
                    let base = format!("{prefix}{base}");
                    list_s3(client, bucket, &base, window, &days, &mut out).await?;
                }
            }
        }
    }
    Ok(out)
}

/// The names of the subdirectories of `dir` that start with `partition` (`region=`), without
/// it; none if `dir` does not exist.
fn local_partitions(dir: &Path, partition: &str) -> Result<Vec<String>, LakeError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        if let Some(v) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix(partition))
        {
            names.push(v.to_string());
        }
    }
    names.sort();
    Ok(names)
}

fn parquet_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LakeError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        paths.push(entry.map_err(io_err(dir))?.path());
    }
    paths.sort();
    for path in paths {
        if path.is_dir() {
            parquet_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    Ok(())
}

fn list_local(
    root: &Path,
    base: &str,
    window: &Window,
    days: &[EventDay],
    out: &mut Vec<LakeObject>,
) -> Result<(), LakeError> {
    let base = root.join(base);
    for region in local_partitions(&base, "region=")? {
        if !Window::wants(&window.regions, &region) {
            continue;
        }
        let region_dir = base.join(format!("region={region}"));
        for account in local_partitions(&region_dir, "accountId=")? {
            if !Window::wants(&window.accounts, &account) {
                continue;
            }
            for day in days {
                let dir = region_dir.join(format!("accountId={account}/eventDay={day}"));
                let mut files = Vec::new();
                parquet_files(&dir, &mut files)?;
                for file in files {
                    // Files that are not in the layout are not lake objects: skip them.
                    let Ok(key) = LakeKey::parse(&file.to_string_lossy()) else {
                        continue;
                    };
                    let size = std::fs::metadata(&file).ok().map(|m| m.len());
                    out.push(LakeObject {
                        location: ObjectLocation::Local(file),
                        key,
                        size,
                    });
                }
            }
        }
    }
    Ok(())
}

/// The partition values directly under `prefix` (`region=us-east-1/` -> `us-east-1`).
async fn s3_partitions(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    partition: &str,
) -> Result<Vec<String>, LakeError> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .into_paginator()
        .send();
    let mut values = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| LakeError::S3 {
            what: format!("listing s3://{bucket}/{prefix}"),
            message: s3_message(&e, &format!("s3:ListBucket on arn:aws:s3:::{bucket}")),
        })?;
        for p in page.common_prefixes() {
            let value = p
                .prefix()
                .and_then(|p| p.strip_prefix(prefix))
                .and_then(|p| p.strip_prefix(partition))
                .map(|p| p.trim_end_matches('/'));
            if let Some(v) = value {
                values.push(v.to_string());
            }
        }
    }
    Ok(values)
}

async fn list_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    base: &str,
    window: &Window,
    days: &[EventDay],
    out: &mut Vec<LakeObject>,
) -> Result<(), LakeError> {
    let regions = match &window.regions {
        Some(r) => r.clone(),
        None => s3_partitions(client, bucket, base, "region=").await?,
    };
    for region in regions {
        let region_prefix = format!("{base}region={region}/");
        let accounts = match &window.accounts {
            Some(a) => a.clone(),
            None => s3_partitions(client, bucket, &region_prefix, "accountId=").await?,
        };
        for account in accounts {
            for day in days {
                let prefix = format!("{region_prefix}accountId={account}/eventDay={day}/");
                let mut pages = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(&prefix)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| LakeError::S3 {
                        what: format!("listing s3://{bucket}/{prefix}"),
                        message: s3_message(&e, &format!("s3:ListBucket on arn:aws:s3:::{bucket}")),
                    })?;
                    for object in page.contents() {
                        let Some(k) = object.key() else { continue };
                        let Ok(key) = LakeKey::parse(k) else { continue };
                        if !k.ends_with(".parquet") {
                            continue;
                        }
                        out.push(LakeObject {
                            location: ObjectLocation::S3 {
                                bucket: bucket.to_string(),
                                key: k.to_string(),
                            },
                            key,
                            size: object.size().and_then(|s| u64::try_from(s).ok()),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// A small, seedable generator (SplitMix64): shuffles need no cryptographic quality, and the
/// Lambda's build should not pull a random-number crate for this.
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is negligible for n far below 2^64.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

enum Store {
    /// Keeps a uniform sample of at most `cap` rows (Algorithm R).
    Reservoir { cap: usize, rows: Vec<String> },
    /// Spreads rows over temporary files at random.
    Buckets {
        paths: Vec<PathBuf>,
        files: Vec<BufWriter<File>>,
    },
}

/// Shuffles lines (rows without their newline) with bounded memory.
pub struct Shuffler {
    rng: SplitMix,
    store: Store,
    seen: u64,
}

impl Shuffler {
    /// Keeps a uniform random sample of at most `cap` rows in memory.
    pub fn reservoir(cap: usize, seed: u64) -> Shuffler {
        Shuffler {
            rng: SplitMix(seed),
            store: Store::Reservoir {
                cap,
                rows: Vec::new(),
            },
            seen: 0,
        }
    }

    /// Keeps every row, spread over `buckets` files under `dir` (which must exist); at
    /// [`Shuffler::finish`] each is read and shuffled alone, so memory holds one bucket.
    pub fn external(dir: &Path, buckets: usize, seed: u64) -> Result<Shuffler, LakeError> {
        let mut paths = Vec::new();
        let mut files = Vec::new();
        for i in 0..buckets.max(1) {
            let path = dir.join(format!("bucket-{i:04}"));
            let file = File::create(&path).map_err(io_err(&path))?;
            files.push(BufWriter::with_capacity(16 * 1024, file));
            paths.push(path);
        }
        Ok(Shuffler {
            rng: SplitMix(seed),
            store: Store::Buckets { paths, files },
            seen: 0,
        })
    }

    /// Rows pushed so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Adds a row (no newline in it).
    pub fn push(&mut self, row: &str) -> Result<(), LakeError> {
        self.seen += 1;
        match &mut self.store {
            Store::Reservoir { cap, rows } => {
                if rows.len() < *cap {
                    rows.push(row.to_string());
                } else {
                    let j = self.rng.below(self.seen);
                    if let Some(slot) = rows.get_mut(j as usize) {
                        *slot = row.to_string();
                    }
                }
            }
            Store::Buckets { paths, files } => {
                let i = self.rng.below(files.len() as u64) as usize;
                writeln!(files[i], "{row}").map_err(io_err(&paths[i]))?;
            }
        }
        Ok(())
    }

    /// Writes every kept row, shuffled, one per line; returns how many.
    pub fn finish(mut self, out: &mut impl Write, out_name: &Path) -> Result<u64, LakeError> {
        let mut written = 0;
        match self.store {
            Store::Reservoir { mut rows, .. } => {
                self.rng.shuffle(&mut rows);
                for row in &rows {
                    writeln!(out, "{row}").map_err(io_err(out_name))?;
                }
                written = rows.len() as u64;
            }
            Store::Buckets { paths, files } => {
                files_flushed(files, &paths)?;
                for path in &paths {
                    let mut text = String::new();
                    File::open(path)
                        .and_then(|mut f| f.read_to_string(&mut text))
                        .map_err(io_err(path))?;
                    let mut rows: Vec<&str> = text.lines().collect();
                    self.rng.shuffle(&mut rows);
                    for row in &rows {
                        writeln!(out, "{row}").map_err(io_err(out_name))?;
                    }
                    written += rows.len() as u64;
                    drop(text);
                    // Free the disk as we go: the output is about as large as the buckets.
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        out.flush().map_err(io_err(out_name))?;
        Ok(written)
    }
}

fn files_flushed(files: Vec<BufWriter<File>>, paths: &[PathBuf]) -> Result<(), LakeError> {
    for (file, path) in files.into_iter().zip(paths) {
        file.into_inner()
            .map_err(|e| io_err(path)(e.into_error()))?;
    }
    Ok(())
}

/// Counts the lines of a file (for checks and summaries).
pub fn count_lines(path: &Path) -> Result<u64, LakeError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut n = 0;
    for line in BufReader::new(file).lines() {
        line.map_err(io_err(path))?;
        n += 1;
    }
    Ok(n)
}

/// Deletes `keys` from `bucket`, up to 1,000 per DeleteObjects request (S3's limit); any key
/// S3 reports as not deleted fails the call.
pub async fn delete_objects(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &[String],
) -> Result<(), LakeError> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    for batch in keys.chunks(1000) {
        let what = || format!("deleting {} objects from s3://{bucket}", batch.len());
        let objects = batch
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LakeError::Invalid(format!("{}: {e}", what())))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| LakeError::Invalid(format!("{}: {e}", what())))?;
        let out = client
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| LakeError::S3 {
                what: what(),
                message: s3_message(&e, "s3:DeleteObject"),
            })?;
        if let Some(first) = out.errors().first() {
            return Err(LakeError::S3 {
                what: what(),
                message: format!(
                    "{} of them not deleted, e.g. {}: {}",
                    out.errors().len(),
                    first.key().unwrap_or("?"),
                    first.message().unwrap_or("no message")
                ),
            });
        }
    }
    Ok(())
}

/// Uploads a local file to `s3://bucket/key` by multipart upload, one part of `part_size`
/// bytes (at least 5 MiB, S3's minimum) in memory at a time. A failed upload is aborted so
/// that no parts are left to be billed.
pub async fn upload_file(
    client: &aws_sdk_s3::Client,
    path: &Path,
    bucket: &str,
    key: &str,
    part_size: usize,
) -> Result<u64, LakeError> {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let what = format!("uploading {} to s3://{bucket}/{key}", path.display());
    let permission = format!("s3:PutObject on arn:aws:s3:::{bucket}/{key}");
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("text/csv")
        .send()
        .await
        .map_err(|e| LakeError::S3 {
            what: what.clone(),
            message: s3_message(&e, &permission),
        })?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| LakeError::S3 {
            what: what.clone(),
            message: "CreateMultipartUpload returned no upload id".to_string(),
        })?
        .to_string();
    let result = async {
        let mut file = File::open(path).map_err(io_err(path))?;
        let part_size = part_size.max(5 * 1024 * 1024);
        let mut parts = Vec::new();
        let mut total = 0u64;
        loop {
            let mut buf = Vec::with_capacity(part_size);
            (&mut file)
                .take(part_size as u64)
                .read_to_end(&mut buf)
                .map_err(io_err(path))?;
            // An empty file still needs one (empty) part.
            if buf.is_empty() && !parts.is_empty() {
                break;
            }
            let last = buf.len() < part_size;
            total += buf.len() as u64;
            let number = parts.len() as i32 + 1;
            let part = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(number)
                .body(buf.into())
                .send()
                .await
                .map_err(|e| LakeError::S3 {
                    what: what.clone(),
                    message: s3_message(&e, &permission),
                })?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(part.e_tag().map(str::to_string))
                    .build(),
            );
            if last {
                break;
            }
        }
        client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| LakeError::S3 {
                what: what.clone(),
                message: s3_message(&e, &permission),
            })?;
        Ok(total)
    }
    .await;
    if result.is_err() {
        let _ = client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .send()
            .await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_and_prefixes() {
        assert_eq!(
            LakeRoot::parse("s3://b").unwrap(),
            LakeRoot::S3 {
                bucket: "b".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            LakeRoot::parse("s3://b/lake").unwrap(),
            LakeRoot::S3 {
                bucket: "b".into(),
                prefix: "lake/".into()
            }
        );
        assert_eq!(dir_prefix("out/"), "out/");
    }

    #[test]
    fn window_days() {
        let w = Window {
            sources: vec![],
            versions: vec![],
            since: EventDay::parse("20251230").unwrap(),
            until: EventDay::parse("20260102").unwrap(),
            regions: None,
            accounts: None,
        };
        let days: Vec<String> = w.days().unwrap().iter().map(|d| d.to_string()).collect();
        assert_eq!(days, ["20251230", "20251231", "20260101", "20260102"]);
        let backwards = Window {
            since: w.until,
            until: w.since,
            ..w
        };
        assert!(backwards.days().is_err());
    }

    #[test]
    fn shuffles_keep_every_row_or_cap() {
        let dir = tempfile::tempdir().unwrap();
        let mut ext = Shuffler::external(dir.path(), 7, 1).unwrap();
        let mut res = Shuffler::reservoir(10, 1);
        for i in 0..1000 {
            ext.push(&i.to_string()).unwrap();
            res.push(&i.to_string()).unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(ext.finish(&mut out, Path::new("x")).unwrap(), 1000);
        let text = String::from_utf8(out).unwrap();
        let mut rows: Vec<u32> = text.lines().map(|l| l.parse().unwrap()).collect();
        assert_ne!(rows, (0..1000).collect::<Vec<_>>(), "not shuffled");
        rows.sort();
        assert_eq!(rows, (0..1000).collect::<Vec<_>>());
        let mut out = Vec::new();
        assert_eq!(res.finish(&mut out, Path::new("x")).unwrap(), 10);
    }
}
