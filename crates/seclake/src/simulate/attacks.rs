//! Attacks of the realistic estate: connections an attacking instance initiates, written as the
//! flow records they leave (both sides, as normal connections), with their ground truth.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::conns::{Answer, Conn, ObjGen, emit, remote};
use super::roles::{Tier, World};
use super::vpc::{Addr, Iid, VpcRow, ephemeral};

/// The kind of an attack of the realistic estate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackKind {
    /// Calls to port 443 or 8443 of an address in a /8 no record of the estate ever uses.
    C2UnseenNetwork,
    /// Calls to an address in a /16 no record uses, inside a cloud provider /8 the estate's
    /// services do use (AWS's 3/8, 52/8, 54/8).
    C2CloudUnused,
    /// SSH (22) from a web or batch instance (tiers that never initiate SSH) to a database, or
    /// from batch to an app host, tiers it never talks to.
    LateralSsh,
    /// A database instance (databases never initiate to the internet) calls port 443 of an
    /// address of the day's rotation of a SaaS API the app tier uses.
    DbEgress,
    /// SYNs from a web or batch instance to 20-40 private addresses of its VPC, on a few ports:
    /// instances of tiers it never talks to (refused by their security groups) and addresses
    /// where nothing lives (unanswered).
    InternalScan,
    /// An instance launched that day (an autoscaling replacement with its tier's normal
    /// habits) also calls an address in a never-seen /8.
    C2NewInstance,
}

impl AttackKind {
    pub const ALL: [AttackKind; 6] = [
        AttackKind::C2UnseenNetwork,
        AttackKind::C2CloudUnused,
        AttackKind::LateralSsh,
        AttackKind::DbEgress,
        AttackKind::InternalScan,
        AttackKind::C2NewInstance,
    ];
}

/// A responder address an attack reached, and the port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AttackPair {
    pub ip: String,
    pub port: u16,
}

/// One attack in `ground-truth.json` (`attacks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attack {
    pub id: usize,
    pub kind: AttackKind,
    /// The initiating instance.
    pub entity: String,
    /// Its subnet (the scorer's default group).
    pub group: String,
    /// Its Auto Scaling group (`asg-web-<account>`…), `None` for databases and the bastion.
    pub asg: Option<String>,
    pub account: String,
    pub region: String,
    /// `YYYYMMDD`.
    pub day: String,
    /// Always `VPC_FLOW`.
    pub source: String,
    pub source_version: String,
    /// The objects holding its records.
    pub object_keys: Vec<String>,
    /// The responder addresses reached (one for most kinds, one per target for internal_scan).
    pub pairs: Vec<AttackPair>,
    /// Records with the entity's `instance_uid` on one side and a pair's address on the other
    /// (egress records and their ingress replies).
    pub rows: usize,
}

/// An attack's records before they are merged into their object.
pub(crate) struct PlannedAttack {
    pub(crate) kind: AttackKind,
    pub(crate) entity: u32,
    pub(crate) pairs: Vec<(u32, u16)>,
    pub(crate) records: Vec<VpcRow>,
}

fn v4_of(w: &World, a: Addr) -> Option<u32> {
    match a {
        Addr::Priv(p) => Some(w.estate.addrs[p as usize].v4),
        Addr::V4(v) => Some(v),
        _ => None,
    }
}

/// The records of `records` carrying (entity, one of `ips`) in either direction.
pub(crate) fn pair_rows(w: &World, records: &[VpcRow], entity: u32, ips: &[u32]) -> usize {
    let has = |a: Addr| v4_of(w, a).is_some_and(|v| ips.contains(&v));
    records
        .iter()
        .filter(|r| {
            (matches!(r.src.inst, Iid::Inst(i) if i == entity) && has(r.dst.ip))
                || (matches!(r.dst.inst, Iid::Inst(i) if i == entity) && has(r.src.ip))
        })
        .count()
}

/// What earlier attacks used. Attacks do not share addresses nor attacking instances, and no
/// attack targets an earlier attack's instance (two instances attacking each other would put
/// each other's records in both attacks' pairs), so each attack's pairs are its own.
#[derive(Default)]
pub(crate) struct Taken {
    pub(crate) ips: BTreeSet<u32>,
    /// Attacking instances.
    pub(crate) instances: BTreeSet<u32>,
}

/// An alive instance of one of `tiers` that no earlier attack attacked from, uniformly.
fn pick_of(rng: &mut impl Rng, g: &ObjGen<'_>, taken: &Taken, tiers: &[Tier]) -> Option<u32> {
    let mut c: Vec<u32> = tiers
        .iter()
        .flat_map(|&t| g.alive(t).to_vec())
        .filter(|i| !taken.instances.contains(i))
        .collect();
    c.sort_unstable();
    (!c.is_empty()).then(|| c[rng.random_range(0..c.len())])
}

/// A few calls of `i` to a command-and-control address; returns the port.
fn c2(rng: &mut impl Rng, g: &ObjGen<'_>, i: u32, ip: u32, records: &mut Vec<VpcRow>) -> u16 {
    let port = if rng.random_bool(0.7) { 443 } else { 8443 };
    for _ in 0..rng.random_range(2..=5) {
        let long = if rng.random_bool(0.3) { 3 } else { 1 };
        let init = g.w.side(i, ephemeral(rng));
        let c = g.tcp(rng, init, remote(ip, port), long, 12, 200, 500);
        emit(&c, g.last_start(), g.last_ms, records);
    }
    port
}

/// Draws the instance and the connections of one attack of `kind` in the object that `g`
/// describes; `taken` holds the addresses and instances earlier attacks used. `None` when the cell has nobody
/// to do it.
pub(crate) fn plan_one(
    rng: &mut impl Rng,
    g: &ObjGen<'_>,
    kind: AttackKind,
    entity: Option<u32>,
    taken: &mut Taken,
) -> Option<PlannedAttack> {
    let w = g.w;
    let cw = &w.cells[g.cell as usize];
    let mut records = Vec::new();
    let mut pairs = Vec::new();
    let entity = match kind {
        AttackKind::C2UnseenNetwork | AttackKind::C2NewInstance => {
            let i = match entity {
                Some(i) => i,
                None => pick_of(rng, g, taken, &[Tier::App, Tier::Batch, Tier::Web])?,
            };
            let ip = loop {
                let ip = w.estate.unseen_v4(rng);
                if taken.ips.insert(ip) {
                    break ip;
                }
            };
            let port = c2(rng, g, i, ip, &mut records);
            pairs.push((ip, port));
            i
        }
        AttackKind::C2CloudUnused => {
            let i = pick_of(rng, g, taken, &[Tier::App, Tier::Batch, Tier::Web])?;
            let firsts: Vec<u32> = [3u32, 52, 54]
                .into_iter()
                .filter(|f| w.pool_nets.iter().any(|n| n >> 8 == *f))
                .collect();
            let ip = loop {
                let first = firsts[rng.random_range(0..firsts.len())];
                let net = first << 8 | rng.random_range(0..256);
                let ip = net << 16 | rng.random_range(1..0xfffe);
                if !w.pool_nets.contains(&net) && ip & 0xff != 0 && taken.ips.insert(ip) {
                    break ip;
                }
            };
            let port = c2(rng, g, i, ip, &mut records);
            pairs.push((ip, port));
            i
        }
        AttackKind::LateralSsh => {
            let i = pick_of(rng, g, taken, &[Tier::Web, Tier::Batch])?;
            let target_tiers: &[Tier] = if w.tier_of(i) == Tier::Web {
                &[Tier::Database]
            } else {
                &[Tier::Database, Tier::App]
            };
            let j = pick_of(rng, g, taken, target_tiers)?;
            for _ in 0..rng.random_range(1..=3) {
                let init = w.side(i, ephemeral(rng));
                let c = g.tcp(rng, init, w.side(j, 22), 4, 40, 90, 200);
                emit(&c, g.last_start(), g.last_ms, &mut records);
            }
            pairs.push((w.v4_of(j), 22));
            i
        }
        AttackKind::DbEgress => {
            let i = pick_of(rng, g, taken, &[Tier::Database])?;
            let app = &w.groups[cw.groups[Tier::App.index()] as usize];
            let saas: Vec<u32> = app
                .services
                .iter()
                .map(|s| s.0)
                .filter(|&s| w.saas[s as usize])
                .collect();
            let s = *saas.get(rng.random_range(0..saas.len().max(1)))?;
            let ip = g.pool_addr(rng, s);
            for _ in 0..rng.random_range(1..=3) {
                let init = w.side(i, ephemeral(rng));
                let c = g.tcp(rng, init, remote(ip, 443), 5, 3_000, 1_400, 60);
                emit(&c, g.last_start(), g.last_ms, &mut records);
            }
            pairs.push((ip, 443));
            i
        }
        AttackKind::InternalScan => {
            let i = pick_of(rng, g, taken, &[Tier::Web, Tier::Batch])?;
            let tier = w.tier_of(i);
            let mut existing: Vec<u32> = Tier::ALL
                .iter()
                .filter(|t| !tier.contacts().contains(t))
                .flat_map(|&t| g.alive(t).to_vec())
                .filter(|&j| j != i && !taken.instances.contains(&j))
                .collect();
            existing.sort_unstable();
            existing.shuffle(rng);
            let n = rng.random_range(20..=40usize);
            let mut targets: Vec<(u32, Option<u32>)> = existing
                .iter()
                .take(n * 6 / 10)
                .map(|&j| (w.v4_of(j), Some(j)))
                .collect();
            let mut seen: BTreeSet<u32> = targets.iter().map(|t| t.0).collect();
            while targets.len() < n {
                // An address of the VPC's subnets where nothing lives.
                let subnets = &w.estate.subnets;
                let s = &subnets[rng.random_range(0..subnets.len())];
                if s.vpc != cw.vpc {
                    continue;
                }
                let a = s.base + rng.random_range(4..s.size - 1);
                if !w.estate.used_v4.contains(&a) && seen.insert(a) {
                    targets.push((a, None));
                }
            }
            targets.shuffle(rng);
            let mut ports = vec![22u16, 445, 3389, 5432, 6379, 8080, 9200];
            ports.shuffle(rng);
            ports.truncate(rng.random_range(2..=3));
            let t0 = g.start(rng);
            for (k, (ip, j)) in targets.iter().enumerate() {
                let port = ports[rng.random_range(0..ports.len())];
                let (resp, answer) = match j {
                    Some(j) => (w.side(*j, port), Answer::Refused),
                    None => (remote(*ip, port), Answer::Unanswered),
                };
                let c = Conn {
                    t0: (t0 + k as i64 * 700).min(g.last_start()),
                    init: w.side(i, ephemeral(rng)),
                    resp,
                    proto: 6,
                    answer,
                    windows: 1,
                    fwd: (rng.random_range(1..=2), 60),
                    rev: (0, 0),
                };
                emit(&c, g.last_start(), g.last_ms, &mut records);
                pairs.push((*ip, port));
            }
            i
        }
    };
    taken.instances.insert(entity);
    Some(PlannedAttack {
        kind,
        entity,
        pairs,
        records,
    })
}

/// Text of an IPv4 address.
pub(crate) fn ip_text(v: u32) -> String {
    Ipv4Addr::from(v).to_string()
}
