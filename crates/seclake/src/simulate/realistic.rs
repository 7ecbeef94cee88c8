//! The realistic estate's lake: the same key layout, schemas, events and manifest as the basic
//! one, with rows from [`super::roles`] (tiers, habits, churn), [`super::conns`] (connections
//! as both-side flow records) and [`super::attacks`] (attacks and their ground truth), plus
//! `groups.csv` (instance -> Auto Scaling group or fixed host group).
//!
//! An object's rows are generated whole before it is written (connections span several
//! records, which are sorted by time), so memory is one object of compact rows.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::Path;

use parquet::file::writer::SerializedFileWriter;
use rand::Rng;

use super::attacks::{self, Attack, AttackKind, AttackPair};
use super::columns::{self, Leaf};
use super::conns::ObjGen;
use super::roles::World;
use super::util::{self, HashingWriter};
use super::vpc::VpcRow;
use super::{
    DAY_MS, GroundTruth, ManifestObject, ObjCtx, ObjectStats, Planned, STREAM_ESTATE,
    STREAM_OBJECT_BASE, STREAM_PLAN, SimConfig, SimError, SimSummary, dns, finish_lake, io_err,
    object_window, plan_objects, rng_for, schema, vpc, write_lake,
};
use crate::{Source, SourceVersion};

/// Writes the realistic lake (see [`super::simulate`]).
pub(super) fn simulate(
    cfg: &SimConfig,
    start: i64,
    out: &Path,
    on_object: impl FnMut(&ManifestObject),
) -> Result<SimSummary, SimError> {
    let flow = cfg.sources.iter().position(|s| *s == Source::VpcFlow);
    if cfg.anomalies > 0 && flow.is_none() {
        return Err(SimError::InvalidConfig(
            "the realistic estate's attacks are VPC_FLOW records: add VPC_FLOW to the sources \
             or set anomalies to 0"
                .into(),
        ));
    }
    let mut rng = rng_for(cfg.seed, STREAM_ESTATE);
    let world = World::build(&mut rng, cfg)?;
    let mut plan_rng = rng_for(cfg.seed, STREAM_PLAN);
    let (plan, index) = plan_objects(cfg, &world.estate, start, &mut plan_rng);

    let attack_days = cfg.days.div_ceil(3);
    let first_attack_day = cfg.days - attack_days;
    let mut extra: BTreeMap<usize, Vec<VpcRow>> = BTreeMap::new();
    let mut attacks = Vec::with_capacity(cfg.anomalies);
    let mut taken = attacks::Taken::default();
    let n_cells = world.estate.cells.len();
    for id in 0..cfg.anomalies {
        let mut kind = AttackKind::ALL[id % AttackKind::ALL.len()];
        let day = plan_rng.random_range(first_attack_day..cfg.days);
        let mut entity = None;
        let cell = if kind == AttackKind::C2NewInstance {
            let launched: Vec<u32> = world.launched[day as usize]
                .iter()
                .copied()
                .filter(|i| !taken.instances.contains(i))
                .collect();
            if launched.is_empty() {
                // Nothing is launched on the first day (a one-day lake), or all are taken.
                kind = AttackKind::C2UnseenNetwork;
                plan_rng.random_range(0..n_cells)
            } else {
                let i = launched[plan_rng.random_range(0..launched.len())];
                entity = Some(i);
                world.estate.instances[i as usize].cell as usize
            }
        } else {
            plan_rng.random_range(0..n_cells)
        };
        let account = world.estate.cells[cell].account;
        let versions = cfg.versions.versions(account, day, cfg.days);
        let version = versions[plan_rng.random_range(0..versions.len())];
        let part = plan_rng.random_range(0..cfg.objects_per_day);
        let si = flow.unwrap_or(0);
        let Some(&ordinal) = index.get(&(day, cell, si, version, part)) else {
            return Err(SimError::Internal("attack object missing from plan".into()));
        };
        let object = &plan[ordinal];
        let g = ObjGen::new(
            &world,
            cell as u32,
            day,
            object_window(cfg, object),
            object.day * DAY_MS + DAY_MS - 1,
        );
        let Some(a) = attacks::plan_one(&mut plan_rng, &g, kind, entity, &mut taken) else {
            return Err(SimError::Internal(format!(
                "no instance to carry out a {kind:?} attack"
            )));
        };
        let ips: Vec<u32> = a.pairs.iter().map(|p| p.0).collect();
        let rows = attacks::pair_rows(&world, &a.records, a.entity, &ips);
        let group = &world.groups[world.life[a.entity as usize].group as usize];
        let region = &world.estate.regions[world.estate.cells[cell].region];
        attacks.push(Attack {
            id,
            kind: a.kind,
            entity: String::from_utf8_lossy(&world.estate.instances[a.entity as usize].id)
                .into_owned(),
            group: world.subnet_id(a.entity),
            asg: group.tier.autoscaled().then(|| group.name.clone()),
            account: String::from_utf8_lossy(&world.estate.accounts[account]).into_owned(),
            region: region.name.clone(),
            day: util::format_day(object.day),
            source: Source::VpcFlow.to_string(),
            source_version: version.to_string(),
            object_keys: vec![object.key.clone()],
            pairs: a
                .pairs
                .iter()
                .map(|&(ip, port)| AttackPair {
                    ip: attacks::ip_text(ip),
                    port,
                })
                .collect(),
            rows,
        });
        extra.entry(ordinal).or_default().extend(a.records);
    }

    let written = write_lake(
        cfg,
        &world.estate,
        plan,
        out,
        on_object,
        |ordinal, object, path, window| {
            let day = (object.day - start) as u32;
            let g = ObjGen::new(
                &world,
                object.cell as u32,
                day,
                window,
                object.day * DAY_MS + DAY_MS - 1,
            );
            let mut rng = rng_for(cfg.seed, STREAM_OBJECT_BASE + ordinal as u64);
            let ctx = ObjCtx::new(
                &world.estate,
                &world.estate.cells[object.cell],
                object.version,
            );
            match object.source {
                Source::VpcFlow => {
                    let attack = extra.remove(&ordinal).unwrap_or_default();
                    let n_attack = attack.len();
                    let mut rows = g.vpc_rows(&mut rng, object.rows.saturating_sub(n_attack));
                    rows.extend(attack);
                    rows.sort_by_key(|r| r.time);
                    let stats =
                        write_rows(cfg, object, path, &rows, &vpc::leaves(object.version), &ctx)?;
                    Ok((stats, n_attack))
                }
                Source::Route53 => {
                    let rows = g.dns_rows(&mut rng, object.rows);
                    let stats =
                        write_rows(cfg, object, path, &rows, &dns::leaves(object.version), &ctx)?;
                    Ok((stats, 0))
                }
                ref other => Err(SimError::UnsupportedSource(other.to_string())),
            }
        },
    )?;

    let groups_path = out.join("groups.csv");
    fs::write(&groups_path, world.groups_csv()).map_err(io_err(&groups_path))?;
    let day = |d: u32| util::format_day(start + i64::from(d));
    let truth = GroundTruth {
        seed: cfg.seed,
        clean_days: (0..first_attack_day).map(day).collect(),
        anomaly_days: (first_attack_day..cfg.days).map(day).collect(),
        anomalies: Vec::new(),
        launched: (1..cfg.days)
            .map(|d| {
                let ids = world.launched[d as usize]
                    .iter()
                    .map(|&i| {
                        String::from_utf8_lossy(&world.estate.instances[i as usize].id).into_owned()
                    })
                    .collect();
                (day(d), ids)
            })
            .collect(),
        attacks,
    };
    finish_lake(out, written, &truth, truth.attacks.len())
}

/// Writes `rows` (already in order) as one object, a row group per `cfg.row_group_rows`.
fn write_rows<'a, R>(
    cfg: &SimConfig,
    object: &Planned,
    path: &Path,
    rows: &[R],
    leaves: &[Leaf<R, ObjCtx<'a>>],
    ctx: &ObjCtx<'a>,
) -> Result<ObjectStats, SimError> {
    let version: SourceVersion = object.version;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let file = File::create(path).map_err(io_err(path))?;
    let sink = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let schema = schema::schema(&object.source, version)?;
    let props = schema::writer_properties(&schema, version, cfg.compression);
    let mut writer = SerializedFileWriter::new(sink, schema, props)?;
    columns::check_leaves(&writer, leaves)?;
    let mut sink = None;
    let mut row_groups = 0;
    for chunk in rows.chunks(cfg.row_group_rows.max(1)) {
        columns::write_row_group(&mut writer, leaves, chunk, ctx, &mut sink)?;
        row_groups += 1;
    }
    if rows.is_empty() {
        columns::write_row_group(&mut writer, leaves, rows, ctx, &mut sink)?;
        row_groups += 1;
    }
    let hashing = writer.into_inner()?;
    let (_file, bytes, etag) = hashing.finish().map_err(io_err(path))?;
    Ok(ObjectStats {
        rows: rows.len() as u64,
        row_groups,
        bytes,
        etag,
    })
}
