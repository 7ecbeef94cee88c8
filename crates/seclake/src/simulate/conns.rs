//! Connections of the realistic estate and the flow records they leave, as VPC Flow Logs write
//! them through Security Lake: every connection is logged by the initiator's interface (egress
//! record and the ingress reply) and, when the responder is an instance of the estate, by the
//! responder's interface too; each record carries the capturing interface's `instance_uid`
//! only. TCP flags are the OR over each 60-second aggregation window.

use rand::Rng;

use super::dns::{self, Ask, DnsRow};
use super::roles::{NTP_V4, Tier, World};
use super::vpc::{Addr, Dir, Ep, Iid, Outcome, VpcRow, ephemeral};

/// Aggregation interval of the flow log (ms).
const AGG_MS: i64 = 60_000;

/// One end of a connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Side {
    pub(crate) ip: Addr,
    pub(crate) port: u16,
    /// The instance and its interface, when the end is an instance of the estate.
    pub(crate) inst: Option<(u32, u32)>,
}

/// How the responder answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Accept,
    /// The responder's security group refuses (REJECT on its interface, nothing back).
    Refused,
    /// Nobody answers (no such host).
    Unanswered,
    /// The initiator's own security group blocks it (egress REJECT).
    EgressBlocked,
}

/// One connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conn {
    pub(crate) t0: i64,
    pub(crate) init: Side,
    pub(crate) resp: Side,
    /// 6 TCP, 17 UDP, 1 ICMP.
    pub(crate) proto: u8,
    pub(crate) answer: Answer,
    /// Aggregation windows it spans (1: short).
    pub(crate) windows: u32,
    /// (packets, bytes) from the initiator and from the responder over the whole connection.
    pub(crate) fwd: (i64, i64),
    pub(crate) rev: (i64, i64),
}

impl World {
    /// The side of instance `i` on port `port`.
    pub(crate) fn side(&self, i: u32, port: u16) -> Side {
        let a = self.addr_of(i);
        Side {
            ip: Addr::Priv(a),
            port,
            inst: Some((i, self.estate.addrs[a as usize].eni)),
        }
    }
}

/// A remote (not an estate instance) side.
pub(crate) fn remote(v4: u32, port: u16) -> Side {
    Side {
        ip: Addr::V4(v4),
        port,
        inst: None,
    }
}

fn ep(side: Side, captured: bool, icmp: bool) -> Ep {
    let (eni, inst) = match side.inst {
        Some((i, eni)) if captured => (Some(eni), Iid::Inst(i)),
        _ => (None, Iid::Null),
    };
    Ep {
        ip: side.ip,
        port: Some(if icmp { 0 } else { side.port }),
        eni,
        inst,
        via: None,
    }
}

/// A record of the packets from `from` to `to`, captured on `at_from`'s or `to`'s interface.
#[allow(clippy::too_many_arguments)]
fn record(
    c: &Conn,
    time: i64,
    end: i64,
    from: Side,
    to: Side,
    at_from: bool,
    flags: u8,
    traffic: (i64, i64),
    outcome: Outcome,
) -> VpcRow {
    let icmp = c.proto == 1;
    VpcRow {
        time,
        end,
        src: ep(from, at_from, icmp),
        dst: ep(to, !at_from, icmp),
        proto: Some(c.proto),
        flags: Some(if c.proto == 6 { flags } else { 0 }),
        v6: false,
        dir: if at_from { Dir::Out } else { Dir::In },
        traffic: Some(traffic),
        outcome,
    }
}

fn share(total: (i64, i64), windows: u32, k: u32) -> (i64, i64) {
    let n = i64::from(windows);
    let k = i64::from(k);
    let p = (total.0 / n + i64::from(k < total.0 % n)).max(1);
    let b = (total.1 / n).max(p * 40);
    (p, b)
}

/// Appends the records of `c` to `out`; no record starts after `last_start` nor ends after
/// `last_ms`. Returns the number of records.
pub(crate) fn emit(c: &Conn, last_start: i64, last_ms: i64, out: &mut Vec<VpcRow>) -> usize {
    let before = out.len();
    let init_logged = c.init.inst.is_some();
    let resp_logged = c.resp.inst.is_some();
    let end_of = |t: i64| (t + AGG_MS - 1).min(last_ms).max(t);
    match c.answer {
        Answer::Accept => {
            let mut windows = c.windows.max(1);
            while windows > 1 && c.t0 + i64::from(windows - 1) * AGG_MS > last_start {
                windows -= 1;
            }
            let rst = c.windows > 1 && (c.fwd.0 + c.rev.0) % 7 == 0;
            for k in 0..windows {
                let time = c.t0 + i64::from(k) * AGG_MS;
                let end = end_of(time);
                let (ff, rf) = match (windows, k) {
                    (1, _) => (3, 19),
                    (_, 0) => (2, 18),
                    (w, k) if k == w - 1 && rst => (4, 0),
                    (w, k) if k == w - 1 => (1, 1),
                    _ => (0, 0),
                };
                let (ff, rf) = if c.proto == 6 { (ff, rf) } else { (0, 0) };
                let f = share(c.fwd, windows, k);
                let r = share(c.rev, windows, k);
                let ok = Outcome::Accept;
                if init_logged {
                    out.push(record(c, time, end, c.init, c.resp, true, ff, f, ok));
                    out.push(record(c, time, end, c.resp, c.init, false, rf, r, ok));
                }
                if resp_logged {
                    out.push(record(c, time, end, c.init, c.resp, false, ff, f, ok));
                    out.push(record(c, time, end, c.resp, c.init, true, rf, r, ok));
                }
            }
        }
        Answer::Refused | Answer::Unanswered | Answer::EgressBlocked => {
            let end = end_of(c.t0);
            let syn = (c.fwd.0.clamp(1, 3), c.fwd.0.clamp(1, 3) * 44);
            if init_logged {
                let outcome = if c.answer == Answer::EgressBlocked {
                    Outcome::Reject
                } else {
                    Outcome::Accept
                };
                out.push(record(c, c.t0, end, c.init, c.resp, true, 2, syn, outcome));
            }
            if resp_logged && c.answer == Answer::Refused {
                out.push(record(
                    c,
                    c.t0,
                    end,
                    c.init,
                    c.resp,
                    false,
                    2,
                    syn,
                    Outcome::Reject,
                ));
            }
        }
    }
    out.len() - before
}

/// Log-uniform packet counts between `lo` and `hi`.
fn packets(rng: &mut impl Rng, lo: f64, hi: f64) -> i64 {
    (lo.ln() + rng.random::<f64>() * (hi.ln() - lo.ln())).exp() as i64
}

/// The rows of one object: one cell, one day, one time window.
pub(crate) struct ObjGen<'a> {
    pub(crate) w: &'a World,
    pub(crate) cell: u32,
    pub(crate) day: u32,
    /// `[start, end)` of the object's records (ms).
    pub(crate) window: (i64, i64),
    /// Last millisecond of the day.
    pub(crate) last_ms: i64,
    alive: [Vec<u32>; 5],
    cum: [Vec<f64>; 5],
    all: Vec<u32>,
    all_cum: Vec<f64>,
}

fn cumulative(w: &World, ids: &[u32]) -> Vec<f64> {
    let mut acc = 0.0;
    ids.iter()
        .map(|&i| {
            acc += w.life[i as usize].weight;
            acc
        })
        .collect()
}

fn pick_weighted(rng: &mut impl Rng, ids: &[u32], cum: &[f64]) -> Option<u32> {
    let total = *cum.last()?;
    let x = rng.random::<f64>() * total;
    Some(ids[cum.partition_point(|&c| c <= x).min(ids.len() - 1)])
}

/// Normal activities and their weights.
#[derive(Clone, Copy)]
enum Activity {
    WebClient,
    Scanner,
    OfficeSsh,
    WebToApp,
    AppToDb,
    AppOut,
    BatchOut,
    Dns,
    Ntp,
    BastionSsh,
    Icmp,
    BlockedRetry,
    NoData,
}

const ACTIVITIES: [(Activity, f64); 13] = [
    (Activity::WebClient, 0.27),
    (Activity::Scanner, 0.035),
    (Activity::OfficeSsh, 0.005),
    (Activity::WebToApp, 0.14),
    (Activity::AppToDb, 0.16),
    (Activity::AppOut, 0.11),
    (Activity::BatchOut, 0.10),
    (Activity::Dns, 0.11),
    (Activity::Ntp, 0.03),
    (Activity::BastionSsh, 0.004),
    (Activity::Icmp, 0.01),
    (Activity::BlockedRetry, 0.004),
    (Activity::NoData, 0.008),
];

impl<'a> ObjGen<'a> {
    pub(crate) fn new(w: &'a World, cell: u32, day: u32, window: (i64, i64), last_ms: i64) -> Self {
        let alive = Tier::ALL.map(|t| w.alive_in(cell, t, day));
        let cum = std::array::from_fn(|k| cumulative(w, &alive[k]));
        let all: Vec<u32> = alive.iter().flatten().copied().collect();
        let all_cum = cumulative(w, &all);
        ObjGen {
            w,
            cell,
            day,
            window,
            last_ms,
            alive,
            cum,
            all,
            all_cum,
        }
    }

    pub(crate) fn alive(&self, tier: Tier) -> &[u32] {
        &self.alive[tier.index()]
    }

    /// An alive instance of `tier`, the chattier ones more often.
    pub(crate) fn pick(&self, rng: &mut impl Rng, tier: Tier) -> Option<u32> {
        let k = tier.index();
        pick_weighted(rng, &self.alive[k], &self.cum[k])
    }

    /// A start time inside the window, leaving room for one aggregation window.
    pub(crate) fn start(&self, rng: &mut impl Rng) -> i64 {
        let (a, b) = self.window;
        let hi = (b - AGG_MS).max(a + 1);
        rng.random_range(a..hi)
    }

    /// The last start time of a record of this object.
    pub(crate) fn last_start(&self) -> i64 {
        self.window.1 - 1
    }

    /// An address of service `svc` today (a few addresses carry most connections).
    pub(crate) fn pool_addr(&self, rng: &mut impl Rng, svc: u32) -> u32 {
        let pool = &self.w.estate.pool_days[svc as usize][self.day as usize];
        pool[(rng.random::<f64>().powi(2) * pool.len() as f64) as usize].0
    }

    /// A service of the group of instance `i`, by weight.
    fn service_of(&self, rng: &mut impl Rng, i: u32) -> Option<u32> {
        let g = &self.w.groups[self.w.life[i as usize].group as usize];
        let total: f64 = g.services.iter().map(|s| s.1).sum();
        let mut x = rng.random::<f64>() * total;
        for &(s, weight) in &g.services {
            if x < weight {
                return Some(s);
            }
            x -= weight;
        }
        g.services.last().map(|s| s.0)
    }

    /// A TCP connection accepted by the responder, `windows` long.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn tcp(
        &self,
        rng: &mut impl Rng,
        init: Side,
        resp: Side,
        windows: u32,
        fwd_pkts: i64,
        fwd_size: i64,
        rev_size: i64,
    ) -> Conn {
        let rev_pkts = (fwd_pkts * rng.random_range(8..=14) / 10).max(1);
        Conn {
            t0: self.start(rng),
            init,
            resp,
            proto: 6,
            answer: Answer::Accept,
            windows,
            fwd: (fwd_pkts, fwd_pkts * fwd_size),
            rev: (rev_pkts, rev_pkts * rev_size),
        }
    }

    fn windows(rng: &mut impl Rng, long: f64) -> u32 {
        if rng.random_bool(long) {
            rng.random_range(3..=6)
        } else {
            1
        }
    }

    /// One normal connection, or `None` when the drawn activity has nobody to do it.
    fn conn(&self, rng: &mut impl Rng, out: &mut Vec<VpcRow>) -> Option<usize> {
        let w = self.w;
        let cw = &w.cells[self.cell as usize];
        let total: f64 = ACTIVITIES.iter().map(|a| a.1).sum();
        let mut x = rng.random::<f64>() * total;
        let mut activity = Activity::NoData;
        for (a, weight) in ACTIVITIES {
            if x < weight {
                activity = a;
                break;
            }
            x -= weight;
        }
        let eph = ephemeral(rng);
        let conn = match activity {
            Activity::WebClient => {
                let i = self.pick(rng, Tier::Web)?;
                let client = if rng.random_bool(0.3) {
                    cw.clients[(rng.random::<f64>().powi(3) * cw.clients.len() as f64) as usize]
                } else {
                    super::estate::Estate::client_v4(rng)
                };
                let port = if rng.random_bool(0.9) { 443 } else { 80 };
                let init = remote(client, rng.random_range(1024..=65535));
                let p = packets(rng, 4.0, 200.0);
                let win = Self::windows(rng, 0.15);
                self.tcp(rng, init, w.side(i, port), win, p, 120, 900)
            }
            Activity::Scanner => {
                let mut targets = self.alive(Tier::Web).to_vec();
                targets.extend_from_slice(self.alive(Tier::Bastion));
                let i = targets[rng.random_range(0..targets.len())];
                const PORTS: [u16; 10] = [23, 445, 3389, 5900, 6379, 9200, 1433, 8081, 2375, 5060];
                let port = if rng.random_bool(0.5) {
                    PORTS[rng.random_range(0..PORTS.len())]
                } else {
                    rng.random_range(1..=65535)
                };
                Conn {
                    t0: self.start(rng),
                    init: remote(
                        super::estate::Estate::client_v4(rng),
                        rng.random_range(1024..=65535),
                    ),
                    resp: w.side(i, port),
                    proto: 6,
                    answer: Answer::Refused,
                    windows: 1,
                    fwd: (1, 44),
                    rev: (0, 0),
                }
            }
            Activity::OfficeSsh => {
                let i = self.pick(rng, Tier::Bastion)?;
                let office = cw.offices[rng.random_range(0..cw.offices.len())];
                let p = packets(rng, 20.0, 3000.0);
                let win = Self::windows(rng, 0.8);
                self.tcp(rng, remote(office, eph), w.side(i, 22), win, p, 90, 200)
            }
            Activity::WebToApp => {
                let i = self.pick(rng, Tier::Web)?;
                let j = self.pick(rng, Tier::App)?;
                let port = w.groups[cw.groups[Tier::App.index()] as usize].port;
                let p = packets(rng, 4.0, 150.0);
                let win = Self::windows(rng, 0.2);
                self.tcp(rng, w.side(i, eph), w.side(j, port), win, p, 400, 1200)
            }
            Activity::AppToDb => {
                let i = self.pick(rng, Tier::App)?;
                let dbs = self.alive(Tier::Database);
                let j = *dbs.get(rng.random_range(0..dbs.len().max(1)))?;
                let port = w.life[j as usize].port;
                let p = packets(rng, 2.0, 400.0);
                let win = Self::windows(rng, 0.35);
                self.tcp(rng, w.side(i, eph), w.side(j, port), win, p, 150, 600)
            }
            Activity::AppOut | Activity::BatchOut => {
                let tier = if matches!(activity, Activity::AppOut) {
                    Tier::App
                } else {
                    Tier::Batch
                };
                let i = self.pick(rng, tier)?;
                let s = self.service_of(rng, i)?;
                let ip = self.pool_addr(rng, s);
                let s3_bulk = tier == Tier::Batch && !w.saas[s as usize];
                let (p, rev) = if s3_bulk {
                    (packets(rng, 20.0, 20_000.0), 1400)
                } else {
                    (packets(rng, 4.0, 120.0), 800)
                };
                let long = if s3_bulk { 0.4 } else { 0.1 };
                let win = Self::windows(rng, long);
                self.tcp(rng, w.side(i, eph), remote(ip, 443), win, p, 300, rev)
            }
            Activity::Dns | Activity::Ntp => {
                let i = pick_weighted(rng, &self.all, &self.all_cum)?;
                let (ip, port, size) = if matches!(activity, Activity::Dns) {
                    (cw.vpc_base + 2, 53, rng.random_range(60..=110))
                } else {
                    (NTP_V4, 123, 76)
                };
                Conn {
                    t0: self.start(rng),
                    init: w.side(i, eph),
                    resp: remote(ip, port),
                    proto: 17,
                    answer: Answer::Accept,
                    windows: 1,
                    fwd: (1, size),
                    rev: (1, size + 40),
                }
            }
            Activity::BastionSsh => {
                let i = self.pick(rng, Tier::Bastion)?;
                let tier = if rng.random_bool(0.6) {
                    Tier::App
                } else {
                    Tier::Database
                };
                let j = self.pick(rng, tier)?;
                let p = packets(rng, 20.0, 2000.0);
                let win = Self::windows(rng, 0.8);
                self.tcp(rng, w.side(i, eph), w.side(j, 22), win, p, 90, 200)
            }
            Activity::Icmp => {
                // Health checks: web pings app, app pings its databases.
                let (a, b) = if rng.random_bool(0.5) {
                    (Tier::Web, Tier::App)
                } else {
                    (Tier::App, Tier::Database)
                };
                let i = self.pick(rng, a)?;
                let j = self.pick(rng, b)?;
                Conn {
                    t0: self.start(rng),
                    init: w.side(i, 0),
                    resp: w.side(j, 0),
                    proto: 1,
                    answer: Answer::Accept,
                    windows: 1,
                    fwd: (1, 84),
                    rev: (1, 84),
                }
            }
            Activity::BlockedRetry => {
                // An app instance retrying a port its security group does not allow out
                // (SMTP to its mail API), a few SYNs in a row.
                let i = self.pick(rng, Tier::App)?;
                let s = self.service_of(rng, i)?;
                let ip = self.pool_addr(rng, s);
                let t0 = self.start(rng);
                let mut n = 0;
                for k in 0..rng.random_range(2..=4) {
                    let c = Conn {
                        t0: (t0 + k * 3_000).min(self.last_start()),
                        init: w.side(i, ephemeral(rng)),
                        resp: remote(ip, 25),
                        proto: 6,
                        answer: Answer::EgressBlocked,
                        windows: 1,
                        fwd: (1, 60),
                        rev: (0, 0),
                    };
                    n += emit(&c, self.last_start(), self.last_ms, out);
                }
                return Some(n);
            }
            Activity::NoData => {
                let i = pick_weighted(rng, &self.all, &self.all_cum)?;
                let eni = w.estate.addrs[w.addr_of(i) as usize].eni;
                let t = self.start(rng);
                let dash = Ep {
                    ip: Addr::Dash,
                    port: None,
                    eni: None,
                    inst: Iid::Null,
                    via: None,
                };
                out.push(VpcRow {
                    time: t,
                    end: (t + AGG_MS - 1).min(self.last_ms),
                    src: Ep {
                        eni: Some(eni),
                        inst: Iid::Dash,
                        ..dash
                    },
                    dst: dash,
                    proto: None,
                    flags: None,
                    v6: false,
                    dir: Dir::Unknown,
                    traffic: None,
                    outcome: if rng.random_bool(0.9) {
                        Outcome::NoData
                    } else {
                        Outcome::SkipData
                    },
                });
                return Some(1);
            }
        };
        Some(emit(&conn, self.last_start(), self.last_ms, out))
    }

    /// At least `target` normal flow records (connections are not cut: a few more).
    pub(crate) fn vpc_rows(&self, rng: &mut impl Rng, target: usize) -> Vec<VpcRow> {
        let mut out = Vec::with_capacity(target + 32);
        let mut misses = 0;
        while out.len() < target {
            if self.conn(rng, &mut out).is_none() {
                misses += 1;
                if misses > 1_000_000 {
                    break;
                }
            }
        }
        out
    }

    /// `target` Route 53 Resolver queries of the alive instances: app and batch ask for their
    /// services (answered from today's pools), every tier for the internal names of the hosts
    /// it talks to, and databases only for internal names.
    pub(crate) fn dns_rows(&self, rng: &mut impl Rng, target: usize) -> Vec<DnsRow> {
        let w = self.w;
        let mut out = Vec::with_capacity(target);
        let (a, b) = self.window;
        let span = (b - a).max(1);
        for k in 0..target {
            let time = a + (span as i128 * k as i128 / target.max(1) as i128) as i64;
            let time = (time + rng.random_range(0..1_000)).min(b - 1);
            let Some(i) = pick_weighted(rng, &self.all, &self.all_cum) else {
                break;
            };
            let tier = w.tier_of(i);
            let r = rng.random::<f64>();
            let ask = if r < 0.02 {
                Ask::Nx(rng.random_range(0..w.estate.nx_names.len()) as u32)
            } else if r < 0.05 {
                Ask::Ptr(w.addr_of(i))
            } else {
                let peer_tier = match tier {
                    Tier::Web => Some(Tier::App),
                    Tier::App if r < 0.35 => Some(Tier::Database),
                    Tier::Database => Some(Tier::App),
                    Tier::Bastion => Some(if r < 0.5 { Tier::App } else { Tier::Database }),
                    _ => None,
                };
                let peer = peer_tier.and_then(|t| {
                    let peers = self.alive(t);
                    (!peers.is_empty()).then(|| peers[rng.random_range(0..peers.len())])
                });
                match peer {
                    Some(j) => Ask::Internal(w.addr_of(j)),
                    None => match self.service_of(rng, i) {
                        Some(svc) => {
                            let len = w.estate.pool_days[svc as usize][self.day as usize].len();
                            Ask::Pooled {
                                svc,
                                day: self.day as u16,
                                first: rng.random_range(0..len) as u16,
                                n: rng.random_range(1..=4),
                            }
                        }
                        None => Ask::Ptr(w.addr_of(i)),
                    },
                }
            };
            let vpc = w.cells[self.cell as usize].vpc;
            out.push(dns::instance_query(rng, time, vpc, w.addr_of(i), i, ask));
        }
        out
    }
}
