//! A simulated Security Lake on local disk: the real key layout, the physical parquet schemas of
//! AWS's own objects, the SQS messages that announce them, and injected anomalies with their
//! ground truth.
//!
//! # Layout
//!
//! `simulate(cfg, out)` writes
//! - `out/<bucket>/aws/<SOURCE>/<1.0|2.0>/region=<r>/accountId=<a>/eventDay=<YYYYMMDD>/<32 hex>.gz.parquet`
//!   for `VPC_FLOW` and `ROUTE53` (one bucket per region, `aws-security-data-lake-<region>-<30 alnum>`;
//!   the suffix is `.gz.parquet` for GZIP like AWS, `.zstd.parquet`, `.snappy.parquet` or `.parquet`
//!   otherwise);
//! - `out/events/<n>.s3.json` and `out/events/<n>.eventbridge.json`: a Lambda `SqsEvent` whose one
//!   record's body is the S3 event notification (key URL-encoded, size as a string) or the
//!   EventBridge "Object Created" event (raw key, numeric size) for object `n`;
//! - `out/manifest.json` ([`Manifest`]) and `out/ground-truth.json` ([`GroundTruth`]).
//!
//! # Source versions
//!
//! With the default [`VersionPlan::ByAccount`], account `k` (in generation order) writes source
//! version 1.0 when `k % 3 == 0`, 2.0 when `k % 3 == 1`, and migrates from 1.0 to 2.0 halfway
//! through the simulated days when `k % 3 == 2`; both sources of an account use the same version
//! on a given day. Two accounts (the default) therefore give both versions every day.
//!
//! # Physical format
//!
//! Objects are written with the low-level parquet writer so the layout is parquet-mr's: legacy
//! two-level lists with `array` elements, `required` struct groups with `optional` leaves,
//! converted types only, `writer.model.name=avro` and `parquet.avro.schema` metadata, dictionary
//! encoding, chunk statistics and no page index. Rows are produced and written one row group at a
//! time ([`SimConfig::row_group_rows`], default 131,072 rows; parquet-mr sizes row groups by bytes,
//! 128 MiB, which for these rows is larger than any object we write by default), so memory stays
//! bounded by one row group of compact rows plus one column.
//!
//! # Estates
//!
//! [`SimConfig::estate`] picks the estate. [`EstateProfile::Basic`] (the default) draws every
//! row on its own from instances with random peers and services, and injects anomalies as
//! single rows (below). [`EstateProfile::Realistic`] ([`SimConfig::realistic`]) has web, app,
//! database, batch and bastion tiers with habits, both-side flow records of real connections,
//! daily rotating AWS and SaaS address pools, autoscaling churn (`out/groups.csv` maps every
//! instance to its group) and [`Attack`]s made of connections, in `ground-truth.json`'s
//! `attacks` (with `launched`, the instances launched each day); see the `roles`, `conns` and
//! `attacks` modules.
//!
//! # Anomalies (basic estate)
//!
//! Anomalies are injected only on the last ⌈days/3⌉ days, so the earlier days are clean training
//! data. Each one is an (instance, IPv4) pair in `src_endpoint` of one or a few rows of one object
//! that never occurs in normal rows: a public address the instance never used
//! ([`AnomalyKind::ForeignPublicIp`]), an address from a network no row of the estate uses
//! ([`AnomalyKind::UnseenNetwork`]), or another instance's private address
//! ([`AnomalyKind::ShuffledInternal`]).
//!
//! Everything is drawn from ChaCha8 streams derived from the seed; no clock, no hash-map order, so
//! the same configuration writes byte-identical files.

mod attacks;
mod basic;
mod columns;
mod conns;
mod dns;
mod estate;
mod events;
pub mod findings;
mod realistic;
mod roles;
mod schema;
mod util;
mod vpc;

pub use attacks::{Attack, AttackKind, AttackPair};

#[cfg(test)]
mod realistic_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Source, SourceVersion};
use basic::{AnomalyRow, ObjectJob, simulate_basic, write_object};
use columns::{Leaf, leaf};
use estate::{Cell, Estate};

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration cannot produce a lake (zero accounts, a bad start day, …).
    #[error("invalid simulation config: {0}")]
    InvalidConfig(String),
    /// Only `VPC_FLOW` and `ROUTE53` can be simulated.
    #[error("the simulator cannot write source {0} (only VPC_FLOW and ROUTE53)")]
    UnsupportedSource(String),
    /// Creating or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The parquet writer failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Serialising a JSON file failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A bug in the simulator (its column extractors disagree with its schemas).
    #[error("internal simulator error: {0}")]
    Internal(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Column chunk compression of the written objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// GZIP level 6, what Security Lake writes.
    Gzip,
    /// ZSTD level 1, for benchmarks.
    Zstd,
    Snappy,
    None,
}

impl Codec {
    fn to_parquet(self) -> parquet::basic::Compression {
        use parquet::basic::{Compression, GzipLevel, ZstdLevel};
        match self {
            Codec::Gzip => Compression::GZIP(GzipLevel::default()),
            Codec::Zstd => Compression::ZSTD(ZstdLevel::default()),
            Codec::Snappy => Compression::SNAPPY,
            Codec::None => Compression::UNCOMPRESSED,
        }
    }

    /// The object name suffix: `.gz.parquet` for GZIP as in AWS's keys.
    pub fn key_suffix(self) -> &'static str {
        match self {
            Codec::Gzip => ".gz.parquet",
            Codec::Zstd => ".zstd.parquet",
            Codec::Snappy => ".snappy.parquet",
            Codec::None => ".parquet",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Snappy => "snappy",
            Codec::None => "none",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Codec {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "gzip" | "gz" => Ok(Codec::Gzip),
            "zstd" => Ok(Codec::Zstd),
            "snappy" => Ok(Codec::Snappy),
            "none" | "uncompressed" => Ok(Codec::None),
            other => Err(SimError::InvalidConfig(format!(
                "unknown compression {other:?} (gzip, zstd, snappy, none)"
            ))),
        }
    }
}

/// Which source versions each account's objects are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionPlan {
    /// Account `k`: 1.0 if `k % 3 == 0`, 2.0 if `k % 3 == 1`, 1.0 then 2.0 from the middle day on
    /// if `k % 3 == 2` (a migration).
    ByAccount,
    /// Every account writes both versions every day (as during a side-by-side upgrade).
    Both,
    /// Every account writes only this version.
    Only(SourceVersion),
}

impl VersionPlan {
    fn versions(self, account: usize, day: u32, days: u32) -> Vec<SourceVersion> {
        match self {
            VersionPlan::ByAccount => match account % 3 {
                0 => vec![SourceVersion::V1],
                1 => vec![SourceVersion::V2],
                _ if day < days / 2 => vec![SourceVersion::V1],
                _ => vec![SourceVersion::V2],
            },
            VersionPlan::Both => vec![SourceVersion::V1, SourceVersion::V2],
            VersionPlan::Only(v) => vec![v],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VersionPlan::ByAccount => "by-account",
            VersionPlan::Both => "both",
            VersionPlan::Only(SourceVersion::V1) => "1.0",
            VersionPlan::Only(SourceVersion::V2) => "2.0",
        }
    }
}

impl fmt::Display for VersionPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VersionPlan {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "by-account" => Ok(VersionPlan::ByAccount),
            "both" => Ok(VersionPlan::Both),
            other => SourceVersion::parse(other)
                .map(VersionPlan::Only)
                .ok_or_else(|| {
                    SimError::InvalidConfig(format!(
                        "unknown version plan {other:?} (by-account, both, 1.0, 2.0)"
                    ))
                }),
        }
    }
}

/// What to simulate. `Default` gives a small lake that writes in seconds.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random choice; same seed and config, same bytes.
    pub seed: u64,
    /// First `eventDay`, `YYYYMMDD`.
    pub start_day: String,
    /// Number of consecutive days.
    pub days: u32,
    /// Number of member accounts (12-digit ids).
    pub accounts: usize,
    /// Number of EC2 instances in the whole estate (spread round-robin over accounts).
    pub instances: usize,
    /// Regions; each gets its own bucket.
    pub regions: Vec<String>,
    /// Sources to write (`VPC_FLOW`, `ROUTE53`).
    pub sources: Vec<Source>,
    /// Source versions per account.
    pub versions: VersionPlan,
    /// Rows of each VPC Flow object; Route 53 objects get a quarter (at least one), as resolver
    /// logs are smaller than flow logs.
    pub rows_per_object: usize,
    /// Objects per (source, version, account, region, day).
    pub objects_per_day: usize,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// Number of injected anomalies (basic) or attacks (realistic).
    pub anomalies: usize,
    pub compression: Codec,
    /// What the estate looks like: [`EstateProfile::Basic`] (the default) or
    /// [`EstateProfile::Realistic`].
    pub estate: EstateProfile,
}

/// The estate profile of a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EstateProfile {
    /// Instances with random peers and services, one flow record per row drawn independently;
    /// anomalies are single rows with a foreign `src_endpoint` address ([`Anomaly`]).
    #[default]
    Basic,
    /// Web, app, database, batch and bastion tiers with habits, both-side records of real
    /// connections (TCP flags, ephemeral ports), rotating AWS and SaaS address pools, autoscaling
    /// churn, and attacks as connections ([`Attack`]); see the `realistic` module.
    Realistic,
}

impl EstateProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            EstateProfile::Basic => "basic",
            EstateProfile::Realistic => "realistic",
        }
    }
}

impl fmt::Display for EstateProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EstateProfile {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "basic" => Ok(EstateProfile::Basic),
            "realistic" => Ok(EstateProfile::Realistic),
            other => Err(SimError::InvalidConfig(format!(
                "unknown estate {other:?} (basic, realistic)"
            ))),
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            start_day: "20260105".to_string(),
            days: 7,
            accounts: 2,
            instances: 40,
            regions: vec!["us-east-1".to_string()],
            sources: vec![Source::VpcFlow, Source::Route53],
            versions: VersionPlan::ByAccount,
            rows_per_object: 5_000,
            objects_per_day: 1,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            anomalies: 20,
            compression: Codec::Gzip,
            estate: EstateProfile::Basic,
        }
    }
}

impl SimConfig {
    /// The realistic estate at its default size: 3 accounts, 90 instances (before churn),
    /// 10 days, 20,000 VPC Flow rows per object, 12 attacks (2 of each kind).
    pub fn realistic() -> SimConfig {
        SimConfig {
            days: 10,
            accounts: 3,
            instances: 90,
            rows_per_object: 20_000,
            anomalies: 12,
            estate: EstateProfile::Realistic,
            ..SimConfig::default()
        }
    }
}

/// Default rows per row group.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 131_072;

/// The kind of an injected anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// A known instance seen with a public address it never used (think of a hijacked ENI); the
    /// address belongs to an external service other instances talk to.
    ForeignPublicIp,
    /// A known instance seen with an address from a network no row of the estate ever uses.
    UnseenNetwork,
    /// Instance A seen with instance B's private address.
    ShuffledInternal,
}

/// One injected anomaly: the (entity, ip) pair sits in `src_endpoint` (`instance_uid`, `ip`) of
/// `rows` rows of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    pub id: usize,
    pub kind: AnomalyKind,
    /// The instance id (`src_endpoint.instance_uid`).
    pub entity: String,
    /// The address (`src_endpoint.ip`).
    pub ip: String,
    /// Always `src_endpoint`: the default pairing sees it.
    pub endpoint: String,
    pub account: String,
    pub region: String,
    /// `YYYYMMDD`.
    pub day: String,
    /// `VPC_FLOW` or `ROUTE53`.
    pub source: String,
    /// `1.0` or `2.0`.
    pub source_version: String,
    pub bucket: String,
    pub object_key: String,
    /// Number of rows carrying the pair.
    pub rows: usize,
}

/// `ground-truth.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruth {
    pub seed: u64,
    /// Days without anomalies (training data), `YYYYMMDD`.
    pub clean_days: Vec<String>,
    /// Days anomalies may appear on.
    pub anomaly_days: Vec<String>,
    /// Basic estate: the injected anomalous rows (empty for the realistic estate).
    pub anomalies: Vec<Anomaly>,
    /// Realistic estate: the attacks, as connections (absent for the basic estate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attacks: Vec<Attack>,
    /// Realistic estate: per day after the first, the instance ids launched that day
    /// (autoscaling replacements); absent for the basic estate.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub launched: BTreeMap<String, Vec<String>>,
}

/// One object of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestObject {
    /// The `n` of `events/<n>.*.json`.
    pub ordinal: usize,
    pub bucket: String,
    pub key: String,
    /// Path relative to the output directory (`<bucket>/<key>`).
    pub path: String,
    pub source: String,
    pub source_version: String,
    pub account: String,
    pub region: String,
    pub day: String,
    pub rows: u64,
    pub row_groups: usize,
    pub bytes: u64,
    /// MD5 of the file, as S3 reports for single-part uploads.
    pub etag: String,
    /// Rows that carry an injected anomaly.
    pub anomaly_rows: usize,
    pub s3_event: String,
    pub eventbridge_event: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub generator: String,
    pub seed: u64,
    pub start_day: String,
    pub days: u32,
    pub compression: Codec,
    pub row_group_rows: usize,
    pub version_plan: String,
    /// `(region, bucket)` pairs.
    pub buckets: Vec<(String, String)>,
    /// The Security Lake (delegated administrator) account owning the buckets.
    pub lake_account: String,
    pub objects: Vec<ManifestObject>,
}

/// What [`simulate`] wrote.
#[derive(Debug, Clone)]
pub struct SimSummary {
    pub objects: usize,
    pub rows: u64,
    pub bytes: u64,
    pub anomalies: usize,
    pub buckets: Vec<String>,
    pub manifest: PathBuf,
    pub ground_truth: PathBuf,
    pub events_dir: PathBuf,
}

/// One object to write on its own, for benchmarks and fixtures ([`write_single_object`]).
#[derive(Debug, Clone)]
pub struct ObjectSpec {
    pub source: Source,
    pub version: SourceVersion,
    pub rows: usize,
    pub compression: Codec,
    pub row_group_rows: usize,
    pub seed: u64,
    /// Instances of the (single-account) estate the rows come from.
    pub instances: usize,
}

impl Default for ObjectSpec {
    fn default() -> Self {
        ObjectSpec {
            source: Source::VpcFlow,
            version: SourceVersion::V1,
            rows: 100_000,
            compression: Codec::Gzip,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            seed: 1,
            instances: 2_000,
        }
    }
}

/// What writing one object produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectStats {
    pub rows: u64,
    pub row_groups: usize,
    pub bytes: u64,
    /// MD5 hex of the file.
    pub etag: String,
}

// Random streams: one per purpose, one per object, so objects do not depend on each other.
const STREAM_ESTATE: u64 = 1;
const STREAM_PLAN: u64 = 2;
const STREAM_OBJECT_BASE: u64 = 1 << 32;
const STREAM_EVENT_BASE: u64 = 2 << 32;

fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

const DAY_MS: i64 = 86_400_000;

/// Values shared by every row of one object, handed to the column extractors.
pub(crate) struct ObjCtx<'a> {
    pub(crate) estate: &'a Estate,
    pub(crate) cell: &'a Cell,
    pub(crate) account: Bytes,
    pub(crate) region: Bytes,
    pub(crate) profiles: Vec<Bytes>,
    pub(crate) ocsf_version: Bytes,
}

impl<'a> ObjCtx<'a> {
    fn new(estate: &'a Estate, cell: &'a Cell, version: SourceVersion) -> ObjCtx<'a> {
        let mut profiles = vec![
            Bytes::from_static(b"cloud"),
            Bytes::from_static(b"security_control"),
        ];
        if version == SourceVersion::V2 {
            profiles.push(Bytes::from_static(b"datetime"));
        }
        ObjCtx {
            estate,
            cell,
            account: estate.accounts[cell.account].clone(),
            region: estate.regions[cell.region].name_b.clone(),
            profiles,
            ocsf_version: Bytes::from_static(version.ocsf_version().as_bytes()),
        }
    }
}

/// The leaves after `metadata.product.feature.name` that come from the object context alone:
/// vendor, profiles, OCSF version, account and region. VPC Flow Logs and Route 53 list them
/// identically, so they share this one copy instead of drifting apart.
pub(crate) fn context_leaves<'a, R>(version: SourceVersion) -> [Leaf<R, ObjCtx<'a>>; 5] {
    let account = if version == SourceVersion::V2 {
        "cloud.account.uid"
    } else {
        "cloud.account_uid"
    };
    [
        leaf("metadata.product.vendor_name", |_, _, s| s.lit("AWS")),
        leaf("metadata.profiles.array", |_, c: &ObjCtx<'_>, s| {
            s.str_list(Some(c.profiles.iter().cloned()))
        }),
        leaf("metadata.version", |_, c: &ObjCtx<'_>, s| {
            s.str(Some(c.ocsf_version.clone()))
        }),
        leaf(account, |_, c: &ObjCtx<'_>, s| {
            s.str(Some(c.account.clone()))
        }),
        leaf("cloud.region", |_, c: &ObjCtx<'_>, s| {
            s.str(Some(c.region.clone()))
        }),
    ]
}

/// One OCSF observable of a row: name, value, type and type id.
pub(crate) type Observable = (&'static str, Bytes, &'static str, i32);

/// Rows whose v2 schema carries an `observables` list.
pub(crate) trait Observables {
    fn observables(&self, e: &Estate) -> Vec<Observable>;
}

/// The four `observables.array.*` leaves. VPC Flow Logs and Route 53 encode them the same way
/// and differ only in which observables a row has, so one copy serves both.
pub(crate) fn observable_leaves<'a, R: Observables>() -> [Leaf<R, ObjCtx<'a>>; 4] {
    [
        leaf("observables.array.name", |r: &R, c: &ObjCtx<'_>, s| {
            let o = r.observables(c.estate);
            s.struct_list_str(Some(
                o.into_iter()
                    .map(|x| Some(Bytes::from_static(x.0.as_bytes()))),
            ))
        }),
        leaf("observables.array.value", |r: &R, c: &ObjCtx<'_>, s| {
            let o = r.observables(c.estate);
            s.struct_list_str(Some(o.into_iter().map(|x| Some(x.1))))
        }),
        leaf("observables.array.type", |r: &R, c: &ObjCtx<'_>, s| {
            let o = r.observables(c.estate);
            s.struct_list_str(Some(
                o.into_iter()
                    .map(|x| Some(Bytes::from_static(x.2.as_bytes()))),
            ))
        }),
        leaf("observables.array.type_id", |r: &R, c: &ObjCtx<'_>, s| {
            let o = r.observables(c.estate);
            s.struct_list_i32(Some(o.into_iter().map(|x| Some(x.3))))
        }),
    ]
}

/// Writes one object of `spec.rows` rows to `path` (no anomalies), from a one-account estate of
/// `spec.instances` instances in `us-east-1`, with times spread over one day.
pub fn write_single_object(path: &Path, spec: &ObjectSpec) -> Result<ObjectStats, SimError> {
    if spec.instances == 0 {
        return Err(SimError::InvalidConfig(
            "instances must be at least 1".into(),
        ));
    }
    let mut rng = rng_for(spec.seed, STREAM_ESTATE);
    let estate = Estate::build(&mut rng, 1, spec.instances, &["us-east-1".to_string()])?;
    let day_start = util::parse_day(&SimConfig::default().start_day)
        .ok_or_else(|| SimError::Internal("default start day".into()))?
        * DAY_MS;
    write_object(
        path,
        ObjectJob {
            estate: &estate,
            cell: 0,
            source: &spec.source,
            version: spec.version,
            rows: spec.rows,
            window: (day_start, day_start + DAY_MS),
            day_start,
            row_group_rows: spec.row_group_rows,
            compression: spec.compression,
            rng: rng_for(spec.seed, STREAM_OBJECT_BASE),
            anomalies: Vec::new(),
        },
    )
}

/// An object of the plan.
struct Planned {
    day: i64,
    cell: usize,
    source: Source,
    version: SourceVersion,
    part: usize,
    key: String,
    rows: usize,
    anomalies: Vec<AnomalyRow>,
    used_rows: BTreeSet<usize>,
}

fn validate(cfg: &SimConfig) -> Result<i64, SimError> {
    let bad = |m: &str| Err(SimError::InvalidConfig(m.to_string()));
    let Some(start) = util::parse_day(&cfg.start_day) else {
        return bad("start_day must be a date as YYYYMMDD");
    };
    if cfg.days == 0 {
        return bad("days must be at least 1");
    }
    if cfg.accounts == 0 || cfg.instances == 0 {
        return bad("accounts and instances must be at least 1");
    }
    if cfg.regions.is_empty() {
        return bad("at least one region is needed");
    }
    let mut seen = BTreeSet::new();
    for r in &cfg.regions {
        let ok = r.split('-').count() >= 3
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok || !seen.insert(r) {
            return bad(&format!("bad or duplicate region {r:?}"));
        }
    }
    if cfg.accounts * cfg.regions.len() > 100 {
        return bad("at most 100 account-region pairs");
    }
    if cfg.instances > 100_000 {
        return bad("at most 100,000 instances");
    }
    if cfg.sources.is_empty() {
        return bad("at least one source is needed");
    }
    for s in &cfg.sources {
        if !matches!(s, Source::VpcFlow | Source::Route53) {
            return Err(SimError::UnsupportedSource(s.to_string()));
        }
    }
    if cfg.rows_per_object == 0 || cfg.objects_per_day == 0 || cfg.row_group_rows == 0 {
        return bad("rows_per_object, objects_per_day and row_group_rows must be at least 1");
    }
    Ok(start)
}

fn rows_for(cfg: &SimConfig, source: &Source) -> usize {
    match source {
        Source::Route53 => (cfg.rows_per_object / 4).max(1),
        _ => cfg.rows_per_object,
    }
}

/// Writes a simulated lake under `out` (created if needed; existing files with the same names are
/// overwritten, others left alone). See the module documentation for the layout.
pub fn simulate(cfg: &SimConfig, out: &Path) -> Result<SimSummary, SimError> {
    simulate_with_progress(cfg, out, |_| {})
}

/// [`simulate`], calling `on_object` after each object is written.
pub fn simulate_with_progress(
    cfg: &SimConfig,
    out: &Path,
    on_object: impl FnMut(&ManifestObject),
) -> Result<SimSummary, SimError> {
    let start = validate(cfg)?;
    match cfg.estate {
        EstateProfile::Basic => simulate_basic(cfg, start, out, on_object),
        EstateProfile::Realistic => realistic::simulate(cfg, start, out, on_object),
    }
}

/// The objects of the lake, keyed by (day index, cell, source index, version, part).
type PlanIndex = BTreeMap<(u32, usize, usize, SourceVersion, usize), usize>;

/// The plan: every object's identity and key, before any row exists, so anomalies can be
/// assigned to objects and the ground truth can name their keys.
fn plan_objects(
    cfg: &SimConfig,
    estate: &Estate,
    start: i64,
    plan_rng: &mut ChaCha8Rng,
) -> (Vec<Planned>, PlanIndex) {
    let mut plan: Vec<Planned> = Vec::new();
    let mut index: BTreeMap<(u32, usize, usize, SourceVersion, usize), usize> = BTreeMap::new();
    for day_idx in 0..cfg.days {
        for region in 0..cfg.regions.len() {
            for account in 0..cfg.accounts {
                let cell = account * cfg.regions.len() + region;
                for version in cfg.versions.versions(account, day_idx, cfg.days) {
                    for (si, source) in cfg.sources.iter().enumerate() {
                        for part in 0..cfg.objects_per_day {
                            let key = format!(
                                "aws/{}/{}/region={}/accountId={}/eventDay={}/{}{}",
                                source.as_str(),
                                version.as_str(),
                                cfg.regions[region],
                                String::from_utf8_lossy(&estate.accounts[account]),
                                util::format_day(start + i64::from(day_idx)),
                                util::random_hex(plan_rng, 32),
                                cfg.compression.key_suffix()
                            );
                            index.insert((day_idx, cell, si, version, part), plan.len());
                            plan.push(Planned {
                                day: start + i64::from(day_idx),
                                cell,
                                source: source.clone(),
                                version,
                                part,
                                key,
                                rows: rows_for(cfg, source),
                                anomalies: Vec::new(),
                                used_rows: BTreeSet::new(),
                            });
                        }
                    }
                }
            }
        }
    }

    (plan, index)
}

/// `[start, end)` (ms) of the rows of a planned object: its part of its day.
fn object_window(cfg: &SimConfig, object: &Planned) -> (i64, i64) {
    let day_start = object.day * DAY_MS;
    let part_ms = DAY_MS / cfg.objects_per_day as i64;
    (
        day_start + part_ms * object.part as i64,
        day_start + part_ms * (object.part as i64 + 1),
    )
}

/// What [`write_lake`] wrote, before the ground truth.
struct Written {
    manifest: Manifest,
    manifest_path: PathBuf,
    events_dir: PathBuf,
    rows: u64,
    bytes: u64,
}

/// Writes every planned object with `write(ordinal, object, path, window)` (which returns the
/// object's stats and its anomaly rows), the SQS events announcing it, and `manifest.json`.
fn write_lake(
    cfg: &SimConfig,
    estate: &Estate,
    plan: Vec<Planned>,
    out: &Path,
    mut on_object: impl FnMut(&ManifestObject),
    mut write: impl FnMut(
        usize,
        &mut Planned,
        &Path,
        (i64, i64),
    ) -> Result<(ObjectStats, usize), SimError>,
) -> Result<Written, SimError> {
    let events_dir = out.join("events");
    fs::create_dir_all(&events_dir).map_err(io_err(&events_dir))?;
    let mut manifest_objects = Vec::with_capacity(plan.len());
    let (mut total_rows, mut total_bytes) = (0u64, 0u64);
    for (ordinal, mut object) in plan.into_iter().enumerate() {
        let cell = &estate.cells[object.cell];
        let region = &estate.regions[cell.region];
        let path = out.join(&region.bucket).join(&object.key);
        let window = object_window(cfg, &object);
        let (stats, anomaly_rows) = write(ordinal, &mut object, &path, window)?;
        let mut ev_rng = rng_for(cfg.seed, STREAM_EVENT_BASE + ordinal as u64);
        // Delivered a few minutes after the window closes, as Security Lake batches.
        let put_ms = window.1 + ev_rng.random_range(120_000..900_000);
        let (s3, eb) = events::object_events(
            &mut ev_rng,
            &events::ObjectEvent {
                region: &region.name,
                bucket: &region.bucket,
                key: &object.key,
                size: stats.bytes,
                etag: &stats.etag,
                put_ms,
                lake_account: &estate.lake_account,
                queue_arn: &region.queue_arn,
            },
        )?;
        let s3_name = format!("events/{ordinal:06}.s3.json");
        let eb_name = format!("events/{ordinal:06}.eventbridge.json");
        write_file(&out.join(&s3_name), s3.as_bytes())?;
        write_file(&out.join(&eb_name), eb.as_bytes())?;
        total_rows += stats.rows;
        total_bytes += stats.bytes;
        let entry = ManifestObject {
            ordinal,
            bucket: region.bucket.clone(),
            key: object.key.clone(),
            path: format!("{}/{}", region.bucket, object.key),
            source: object.source.to_string(),
            source_version: object.version.to_string(),
            account: String::from_utf8_lossy(&estate.accounts[cell.account]).into_owned(),
            region: region.name.clone(),
            day: util::format_day(object.day),
            rows: stats.rows,
            row_groups: stats.row_groups,
            bytes: stats.bytes,
            etag: stats.etag,
            anomaly_rows,
            s3_event: s3_name,
            eventbridge_event: eb_name,
        };
        on_object(&entry);
        manifest_objects.push(entry);
    }

    let manifest = Manifest {
        generator: format!("seclake-simulate {}", env!("CARGO_PKG_VERSION")),
        seed: cfg.seed,
        start_day: cfg.start_day.clone(),
        days: cfg.days,
        compression: cfg.compression,
        row_group_rows: cfg.row_group_rows,
        version_plan: cfg.versions.to_string(),
        buckets: estate
            .regions
            .iter()
            .map(|r| (r.name.clone(), r.bucket.clone()))
            .collect(),
        lake_account: estate.lake_account.clone(),
        objects: manifest_objects,
    };
    let manifest_path = out.join("manifest.json");
    write_file(
        &manifest_path,
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    Ok(Written {
        manifest,
        manifest_path,
        events_dir,
        rows: total_rows,
        bytes: total_bytes,
    })
}

/// Writes `ground-truth.json` and sums up.
fn finish_lake(
    out: &Path,
    written: Written,
    truth: &GroundTruth,
    anomalies: usize,
) -> Result<SimSummary, SimError> {
    let truth_path = out.join("ground-truth.json");
    write_file(&truth_path, serde_json::to_string_pretty(truth)?.as_bytes())?;
    Ok(SimSummary {
        objects: written.manifest.objects.len(),
        rows: written.rows,
        bytes: written.bytes,
        anomalies,
        buckets: written
            .manifest
            .buckets
            .iter()
            .map(|b| b.1.clone())
            .collect(),
        manifest: written.manifest_path,
        ground_truth: truth_path,
        events_dir: written.events_dir,
    })
}

fn write_file(path: &Path, data: &[u8]) -> Result<(), SimError> {
    let mut with_newline = Vec::with_capacity(data.len() + 1);
    with_newline.extend_from_slice(data);
    with_newline.push(b'\n');
    fs::write(path, with_newline).map_err(io_err(path))
}
