//! The basic estate: every row drawn on its own from instances with random peers and services
//! ([`super::vpc::VpcGen`], [`super::dns::DnsGen`]), streamed a row group at a time, with
//! anomalies as single rows whose `src_endpoint` pair never occurs otherwise.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use parquet::file::writer::SerializedFileWriter;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::columns::{self, Leaf, Sink};
use super::estate::Estate;
use super::util::{self, HashingWriter};
use super::vpc::Addr;
use super::{
    Anomaly, AnomalyKind, Codec, DAY_MS, GroundTruth, ManifestObject, ObjCtx, ObjectStats,
    STREAM_ESTATE, STREAM_OBJECT_BASE, STREAM_PLAN, SimConfig, SimError, SimSummary, dns,
    finish_lake, io_err, plan_objects, rng_for, schema, vpc, write_lake,
};
use crate::Source;
use crate::SourceVersion;

/// An anomaly row to put at a given row index of an object.
#[derive(Clone, Copy)]
pub(super) struct AnomalyRow {
    pub(super) row: usize,
    pub(super) instance: u32,
    pub(super) ip: Addr,
}

/// Everything needed to write one object.
pub(super) struct ObjectJob<'a> {
    pub(super) estate: &'a Estate,
    pub(super) cell: usize,
    pub(super) source: &'a Source,
    pub(super) version: SourceVersion,
    pub(super) rows: usize,
    /// `[start, end)` of the rows' times, ms since the epoch, within `day_start..day_start+1d`.
    pub(super) window: (i64, i64),
    pub(super) day_start: i64,
    pub(super) row_group_rows: usize,
    pub(super) compression: Codec,
    pub(super) rng: ChaCha8Rng,
    /// Sorted by row.
    pub(super) anomalies: Vec<AnomalyRow>,
}

pub(super) fn write_object(path: &Path, job: ObjectJob<'_>) -> Result<ObjectStats, SimError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let file = File::create(path).map_err(io_err(path))?;
    let sink = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let schema = schema::schema(job.source, job.version)?;
    let props = schema::writer_properties(&schema, job.version, job.compression);
    let writer = SerializedFileWriter::new(sink, schema, props)?;
    let estate = job.estate;
    let cell = &estate.cells[job.cell];
    let ctx = ObjCtx::new(estate, cell, job.version);
    let (writer, row_groups) = match job.source {
        Source::VpcFlow => {
            let generator = vpc::VpcGen { estate, cell };
            let leaves = vpc::leaves(job.version);
            stream_rows(
                writer,
                &leaves,
                &ctx,
                &job,
                |rng, anomaly, time, end| match anomaly {
                    Some(a) => generator.anomaly(rng, time, end, a.instance, a.ip),
                    None => generator.row(rng, time, end),
                },
            )?
        }
        Source::Route53 => {
            let generator = dns::DnsGen { estate, cell };
            let leaves = dns::leaves(job.version);
            stream_rows(
                writer,
                &leaves,
                &ctx,
                &job,
                |rng, anomaly, time, _| match anomaly {
                    Some(a) => generator.anomaly(rng, time, a.instance, a.ip),
                    None => generator.row(rng, time),
                },
            )?
        }
        other => return Err(SimError::UnsupportedSource(other.to_string())),
    };
    let hashing = writer.into_inner()?;
    let (_file, bytes, etag) = hashing.finish().map_err(io_err(path))?;
    Ok(ObjectStats {
        rows: job.rows as u64,
        row_groups,
        bytes,
        etag,
    })
}

/// Generates the rows of one object in time order and writes them a row group at a time.
fn stream_rows<'a, R, W, F>(
    mut writer: SerializedFileWriter<W>,
    leaves: &[Leaf<R, ObjCtx<'a>>],
    ctx: &ObjCtx<'a>,
    job: &ObjectJob<'_>,
    mut next: F,
) -> Result<(SerializedFileWriter<W>, usize), SimError>
where
    W: Write + Send,
    F: FnMut(&mut ChaCha8Rng, Option<AnomalyRow>, i64, i64) -> R,
{
    columns::check_leaves(&writer, leaves)?;
    let mut rng = job.rng.clone();
    let rg_rows = job.row_group_rows.max(1);
    let mut buf: Vec<R> = Vec::with_capacity(rg_rows.min(job.rows));
    let mut sink: Option<Sink> = None;
    let mut anomalies = job.anomalies.iter().peekable();
    let (w0, w1) = job.window;
    let span = (w1 - w0).max(1);
    let step = (span / job.rows.max(1) as i64).max(1);
    let last_ms = job.day_start + DAY_MS - 1;
    let mut row_groups = 0;
    for k in 0..job.rows {
        // Evenly spread start times with jitter: nearly sorted, like a delivery batch.
        let base = w0 + (span as i128 * k as i128 / job.rows.max(1) as i128) as i64;
        let time = (base + rng.random_range(0..step.min(60_000) + 1)).min(w1 - 1);
        let end = (time + rng.random_range(1_000..=60_000)).min(last_ms);
        let anomaly = anomalies.next_if(|a| a.row == k).copied();
        buf.push(next(&mut rng, anomaly, time, end));
        if buf.len() == rg_rows {
            columns::write_row_group(&mut writer, leaves, &buf, ctx, &mut sink)?;
            row_groups += 1;
            buf.clear();
        }
    }
    if !buf.is_empty() || job.rows == 0 {
        columns::write_row_group(&mut writer, leaves, &buf, ctx, &mut sink)?;
        row_groups += 1;
    }
    Ok((writer, row_groups))
}

pub(super) fn simulate_basic(
    cfg: &SimConfig,
    start: i64,
    out: &Path,
    on_object: impl FnMut(&ManifestObject),
) -> Result<SimSummary, SimError> {
    let mut rng = rng_for(cfg.seed, STREAM_ESTATE);
    let estate = Estate::build(&mut rng, cfg.accounts, cfg.instances, &cfg.regions)?;
    let mut plan_rng = rng_for(cfg.seed, STREAM_PLAN);
    let (mut plan, index) = plan_objects(cfg, &estate, start, &mut plan_rng);

    let anomaly_days = cfg.days.div_ceil(3);
    let first_anomaly_day = cfg.days - anomaly_days;
    let mut anomalies = Vec::with_capacity(cfg.anomalies);
    for id in 0..cfg.anomalies {
        let mut kind = [
            AnomalyKind::ForeignPublicIp,
            AnomalyKind::UnseenNetwork,
            AnomalyKind::ShuffledInternal,
        ][id % 3];
        if kind == AnomalyKind::ShuffledInternal && estate.instances.len() < 2 {
            kind = AnomalyKind::UnseenNetwork;
        }
        let inst = plan_rng.random_range(0..estate.instances.len()) as u32;
        let instance = &estate.instances[inst as usize];
        let cell = instance.cell as usize;
        let day_idx = plan_rng.random_range(first_anomaly_day..cfg.days);
        // Flow logs are where most pairs are; a quarter of the anomalies go to Route 53 when
        // it is simulated.
        let si = match cfg.sources.iter().position(|s| *s == Source::Route53) {
            Some(r53) if cfg.sources.len() > 1 && plan_rng.random_bool(0.25) => r53,
            Some(r53) if cfg.sources.len() == 1 => r53,
            _ => cfg
                .sources
                .iter()
                .position(|s| *s == Source::VpcFlow)
                .unwrap_or(0),
        };
        let versions = cfg
            .versions
            .versions(estate.cells[cell].account, day_idx, cfg.days);
        let version = versions[plan_rng.random_range(0..versions.len())];
        let part = plan_rng.random_range(0..cfg.objects_per_day);
        let Some(&ordinal) = index.get(&(day_idx, cell, si, version, part)) else {
            return Err(SimError::Internal(
                "anomaly object missing from plan".into(),
            ));
        };
        let (ip, v4) = match kind {
            AnomalyKind::ForeignPublicIp => {
                let candidates: Vec<u32> = (0..estate.services.len() as u32)
                    .filter(|s| !instance.services.contains(s))
                    .collect();
                let s = candidates[plan_rng.random_range(0..candidates.len())];
                let k = plan_rng.random_range(0..estate.services[s as usize].v4.len());
                let v4 = estate.services[s as usize].v4[k].0;
                (Addr::V4(v4), v4)
            }
            AnomalyKind::UnseenNetwork => {
                let v4 = estate.unseen_v4(&mut plan_rng);
                (Addr::V4(v4), v4)
            }
            AnomalyKind::ShuffledInternal => {
                let mut other = plan_rng.random_range(0..estate.instances.len() as u32 - 1);
                if other >= inst {
                    other += 1;
                }
                let a = estate.instances[other as usize].addrs[0];
                (Addr::Priv(a), estate.addrs[a as usize].v4)
            }
        };
        let object = &mut plan[ordinal];
        let free = object.rows - object.used_rows.len();
        if free == 0 {
            return Err(SimError::InvalidConfig(
                "too many anomalies for the object size; raise rows_per_object".into(),
            ));
        }
        let n_rows = plan_rng.random_range(1..=3).min(free);
        for _ in 0..n_rows {
            let row = loop {
                let r = plan_rng.random_range(0..object.rows);
                if object.used_rows.insert(r) {
                    break r;
                }
            };
            object.anomalies.push(AnomalyRow {
                row,
                instance: inst,
                ip,
            });
        }
        let region = &estate.regions[estate.cells[cell].region];
        anomalies.push(Anomaly {
            id,
            kind,
            entity: String::from_utf8_lossy(&instance.id).into_owned(),
            ip: std::net::Ipv4Addr::from(v4).to_string(),
            endpoint: "src_endpoint".to_string(),
            account: String::from_utf8_lossy(&estate.accounts[estate.cells[cell].account])
                .into_owned(),
            region: region.name.clone(),
            day: util::format_day(object.day),
            source: object.source.to_string(),
            source_version: object.version.to_string(),
            bucket: region.bucket.clone(),
            object_key: object.key.clone(),
            rows: n_rows,
        });
    }

    let written = write_lake(
        cfg,
        &estate,
        plan,
        out,
        on_object,
        |ordinal, object, path, window| {
            let mut anomalies = std::mem::take(&mut object.anomalies);
            anomalies.sort_by_key(|a| a.row);
            let anomaly_rows = anomalies.len();
            let stats = write_object(
                path,
                ObjectJob {
                    estate: &estate,
                    cell: object.cell,
                    source: &object.source,
                    version: object.version,
                    rows: object.rows,
                    window,
                    day_start: object.day * DAY_MS,
                    row_group_rows: cfg.row_group_rows,
                    compression: cfg.compression,
                    rng: rng_for(cfg.seed, STREAM_OBJECT_BASE + ordinal as u64),
                    anomalies,
                },
            )?;
            Ok((stats, anomaly_rows))
        },
    )?;
    let truth = GroundTruth {
        seed: cfg.seed,
        clean_days: (0..first_anomaly_day)
            .map(|d| util::format_day(start + i64::from(d)))
            .collect(),
        anomaly_days: (first_anomaly_day..cfg.days)
            .map(|d| util::format_day(start + i64::from(d)))
            .collect(),
        anomalies,
        attacks: Vec::new(),
        launched: BTreeMap::new(),
    };
    finish_lake(out, written, &truth, truth.anomalies.len())
}
