//! VPC Flow Logs rows (OCSF Network Activity 4001) as Security Lake stores them.
//!
//! A flow record describes the interface it was captured on: for egress the instance is in
//! `src_endpoint`, for ingress in `dst_endpoint` with `src_endpoint.instance_uid` null (AWS's
//! sample example0). Interfaces without an instance write the `-` sentinel, and NODATA/SKIPDATA
//! records have `-` addresses (example3).

use bytes::Bytes;
use rand::Rng;

use super::columns::{Leaf, leaf};
use super::estate::{Cell, EniKind, Estate, ipv4_text};
use super::{ObjCtx, Observable, Observables, context_leaves, observable_leaves};
use crate::SourceVersion;

/// An address as a compact reference into the estate.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Addr {
    Dash,
    /// A private estate address (index into `Estate::addrs`).
    Priv(u32),
    /// The k-th IPv4 address of an external service.
    Svc(u32, u8),
    /// Any other IPv4 address (clients, scanners, anomalies).
    V4(u32),
    /// An instance's IPv6 address.
    InstV6(u32),
    /// A service's IPv6 address.
    SvcV6(u32),
}

impl Addr {
    pub(crate) fn text(self, e: &Estate) -> Option<Bytes> {
        match self {
            Addr::Dash => Some(Bytes::from_static(b"-")),
            Addr::Priv(a) => Some(e.addrs[a as usize].text.clone()),
            Addr::Svc(s, k) => Some(e.services[s as usize].v4[k as usize].1.clone()),
            Addr::V4(v) => Some(ipv4_text(v)),
            Addr::InstV6(i) => e.instances[i as usize].v6.clone(),
            Addr::SvcV6(s) => e.services[s as usize].v6.clone(),
        }
    }
}

/// `instance_uid`: null, the `-` sentinel, or an instance.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Iid {
    Null,
    Dash,
    Inst(u32),
}

impl Iid {
    pub(crate) fn text(self, e: &Estate) -> Option<Bytes> {
        match self {
            Iid::Null => None,
            Iid::Dash => Some(Bytes::from_static(b"-")),
            Iid::Inst(i) => Some(e.instances[i as usize].id.clone()),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Ep {
    pub(crate) ip: Addr,
    pub(crate) port: Option<u16>,
    /// Set on the side whose interface captured the record.
    pub(crate) eni: Option<u32>,
    pub(crate) inst: Iid,
    /// `intermediate_ips` (the packet-level address behind a NAT gateway).
    pub(crate) via: Option<Addr>,
}

impl Ep {
    fn remote(ip: Addr, port: u16) -> Ep {
        Ep {
            ip,
            port: Some(port),
            eni: None,
            inst: Iid::Null,
            via: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Accept,
    Reject,
    NoData,
    SkipData,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    In,
    Out,
    Unknown,
}

/// One flow record in compact form.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VpcRow {
    pub(crate) time: i64,
    pub(crate) end: i64,
    pub(crate) src: Ep,
    pub(crate) dst: Ep,
    pub(crate) proto: Option<u8>,
    pub(crate) flags: Option<u8>,
    pub(crate) v6: bool,
    pub(crate) dir: Dir,
    /// (packets, bytes).
    pub(crate) traffic: Option<(i64, i64)>,
    pub(crate) outcome: Outcome,
}

pub(crate) fn ephemeral(rng: &mut impl Rng) -> u16 {
    rng.random_range(32768..=60999)
}

fn client_port(rng: &mut impl Rng) -> u16 {
    rng.random_range(1024..=65535)
}

fn accepted_flags(rng: &mut impl Rng) -> u8 {
    const FLAGS: [u8; 8] = [2, 18, 19, 3, 27, 1, 0, 4];
    FLAGS[(rng.random::<f64>().powi(2) * FLAGS.len() as f64) as usize]
}

fn traffic(rng: &mut impl Rng, reject: bool) -> (i64, i64) {
    if reject {
        let p = rng.random_range(1..=3);
        return (p, p * rng.random_range(40..=60));
    }
    // Log-uniform packet counts: most flows are small, a few are bulk transfers.
    let p = (rng.random::<f64>() * 7.5).exp() as i64 + 1;
    (p, p * rng.random_range(40..=1500))
}

/// Draws the rows of one object from one (account, region) of the estate.
pub(crate) struct VpcGen<'a> {
    pub(crate) estate: &'a Estate,
    pub(crate) cell: &'a Cell,
}

impl VpcGen<'_> {
    fn inst_ep(&self, rng: &mut impl Rng, i: u32, port: u16) -> Ep {
        let inst = &self.estate.instances[i as usize];
        let a = if inst.addrs.len() > 1 && rng.random_bool(0.3) {
            inst.addrs[1]
        } else {
            inst.addrs[0]
        };
        Ep {
            ip: Addr::Priv(a),
            port: Some(port),
            eni: Some(self.estate.addrs[a as usize].eni),
            inst: Iid::Inst(i),
            via: None,
        }
    }

    fn service_of(&self, rng: &mut impl Rng, i: u32) -> u32 {
        let svcs = &self.estate.instances[i as usize].services;
        // Squared uniform: the first services in the list carry most of the traffic.
        svcs[((rng.random::<f64>().powi(2)) * svcs.len() as f64) as usize]
    }

    fn svc_addr(&self, rng: &mut impl Rng, s: u32) -> Addr {
        let n = self.estate.services[s as usize].v4.len();
        Addr::Svc(s, rng.random_range(0..n) as u8)
    }

    fn base(time: i64, end: i64, src: Ep, dst: Ep, dir: Dir) -> VpcRow {
        VpcRow {
            time,
            end,
            src,
            dst,
            proto: Some(6),
            flags: Some(2),
            v6: false,
            dir,
            traffic: None,
            outcome: Outcome::Accept,
        }
    }

    /// One normal flow record starting at `time` (ms) and ending at `end`.
    pub(crate) fn row(&self, rng: &mut impl Rng, time: i64, end: i64) -> VpcRow {
        let r = rng.random::<f64>();
        let Some(i) = self.cell.pick_instance(rng) else {
            return if r < 0.05 {
                self.nodata(rng, time, end)
            } else {
                self.infra(rng, time, end)
            };
        };
        let mut row = if r < 0.01 {
            self.nodata(rng, time, end)
        } else if r < 0.04 {
            // IPv6 comes from the dual-stack part of the fleet, whoever was drawn.
            let v6 = &self.cell.v6_instances;
            if v6.is_empty() {
                self.outbound(rng, time, end, i)
            } else {
                let j = v6[rng.random_range(0..v6.len())];
                self.ipv6(rng, time, end, j)
                    .unwrap_or_else(|| self.outbound(rng, time, end, i))
            }
        } else if r < 0.12 {
            self.infra(rng, time, end)
        } else if r < 0.22 {
            self.inbound(rng, time, end, i)
        } else if r < 0.39 {
            self.internal(rng, time, end, i)
                .unwrap_or_else(|| self.outbound(rng, time, end, i))
        } else {
            self.outbound(rng, time, end, i)
        };
        if row.traffic.is_none() && matches!(row.outcome, Outcome::Accept | Outcome::Reject) {
            row.traffic = Some(traffic(rng, row.outcome == Outcome::Reject));
        }
        row
    }

    fn nodata(&self, rng: &mut impl Rng, time: i64, end: i64) -> VpcRow {
        let c = self.cell;
        let eni = if !c.instances.is_empty() && rng.random_bool(0.7) {
            let i = c.instances[rng.random_range(0..c.instances.len())];
            self.estate.addrs[self.estate.instances[i as usize].addrs[0] as usize].eni
        } else {
            c.service_enis[rng.random_range(0..c.service_enis.len())]
        };
        VpcRow {
            time,
            end,
            src: Ep {
                ip: Addr::Dash,
                port: None,
                eni: Some(eni),
                inst: Iid::Dash,
                via: None,
            },
            dst: Ep {
                ip: Addr::Dash,
                port: None,
                eni: None,
                inst: Iid::Null,
                via: None,
            },
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
        }
    }

    fn outbound(&self, rng: &mut impl Rng, time: i64, end: i64, i: u32) -> VpcRow {
        let s = self.service_of(rng, i);
        let svc = &self.estate.services[s as usize];
        let remote = Ep::remote(self.svc_addr(rng, s), svc.port);
        let port = ephemeral(rng);
        let local = self.inst_ep(rng, i, port);
        let mut row = if rng.random_bool(0.6) {
            Self::base(time, end, local, remote, Dir::Out)
        } else {
            // The reply leg, captured on the same interface as ingress.
            Self::base(time, end, remote, local, Dir::In)
        };
        row.proto = Some(svc.proto);
        if svc.proto == 6 {
            row.flags = Some(accepted_flags(rng));
        } else {
            row.flags = Some(0);
        }
        if rng.random_bool(0.01) {
            // ICMP (echo) has no ports in flow logs.
            row.proto = Some(1);
            row.flags = Some(0);
            row.src.port = Some(0);
            row.dst.port = Some(0);
        }
        if rng.random_bool(0.005) {
            row.outcome = Outcome::Reject;
        }
        row
    }

    fn ipv6(&self, rng: &mut impl Rng, time: i64, end: i64, i: u32) -> Option<VpcRow> {
        let inst = &self.estate.instances[i as usize];
        inst.v6.as_ref()?;
        let s = *inst
            .services
            .iter()
            .find(|&&s| self.estate.services[s as usize].v6.is_some())?;
        let port = ephemeral(rng);
        let mut local = self.inst_ep(rng, i, port);
        local.ip = Addr::InstV6(i);
        let remote = Ep::remote(Addr::SvcV6(s), 443);
        let mut row = if rng.random_bool(0.6) {
            Self::base(time, end, local, remote, Dir::Out)
        } else {
            Self::base(time, end, remote, local, Dir::In)
        };
        row.v6 = true;
        row.flags = Some(accepted_flags(rng));
        Some(row)
    }

    fn inbound(&self, rng: &mut impl Rng, time: i64, end: i64, i: u32) -> VpcRow {
        let inst = &self.estate.instances[i as usize];
        match inst.web_port {
            Some(port) if rng.random_bool(0.7) => {
                let lbs = &self.cell.load_balancers;
                let src = if !lbs.is_empty() && rng.random_bool(0.5) {
                    let lb = lbs[rng.random_range(0..lbs.len())];
                    Ep::remote(
                        Addr::Priv(self.estate.enis[lb as usize].addr),
                        ephemeral(rng),
                    )
                } else {
                    Ep::remote(Addr::V4(Estate::client_v4(rng)), client_port(rng))
                };
                let dst = self.inst_ep(rng, i, port);
                let mut row = Self::base(time, end, src, dst, Dir::In);
                row.flags = Some(accepted_flags(rng));
                row
            }
            _ => {
                // Internet background noise: scans of well-known ports, refused by security groups.
                const SCAN: [u16; 8] = [22, 23, 3389, 445, 5900, 6379, 9200, 1433];
                let src = Ep::remote(Addr::V4(Estate::client_v4(rng)), client_port(rng));
                let port = SCAN[rng.random_range(0..SCAN.len())];
                let dst = self.inst_ep(rng, i, port);
                let mut row = Self::base(time, end, src, dst, Dir::In);
                row.outcome = Outcome::Reject;
                row
            }
        }
    }

    fn internal(&self, rng: &mut impl Rng, time: i64, end: i64, i: u32) -> Option<VpcRow> {
        let peers = &self.estate.instances[i as usize].peers;
        if peers.is_empty() {
            return None;
        }
        let (j, port) = peers[rng.random_range(0..peers.len())];
        let client_port = ephemeral(rng);
        let client = self.inst_ep(rng, i, client_port);
        let server = self.inst_ep(rng, j, port);
        let mut row = if rng.random_bool(0.5) {
            // Captured on the client's interface: the server is just an address.
            let dst = Ep::remote(server.ip, port);
            Self::base(time, end, client, dst, Dir::Out)
        } else {
            let src = Ep::remote(client.ip, client_port);
            Self::base(time, end, src, server, Dir::In)
        };
        row.flags = Some(accepted_flags(rng));
        Some(row)
    }

    /// Interfaces without an instance: NAT gateways, load balancers, endpoints, Lambda.
    fn infra(&self, rng: &mut impl Rng, time: i64, end: i64) -> VpcRow {
        let e = self.estate;
        let c = self.cell;
        let x = c.service_enis[rng.random_range(0..c.service_enis.len())];
        let eni = &e.enis[x as usize];
        let local = |port: u16| Ep {
            ip: Addr::Priv(eni.addr),
            port: Some(port),
            eni: Some(x),
            inst: Iid::Dash,
            via: None,
        };
        let any_service = |rng: &mut dyn rand::RngCore| {
            let s = rng.random_range(0..e.services.len()) as u32;
            let n = e.services[s as usize].v4.len();
            (
                Addr::Svc(s, rng.random_range(0..n) as u8),
                e.services[s as usize].port,
            )
        };
        let mut row = match eni.kind {
            EniKind::NatGateway | EniKind::Lambda | EniKind::Instance => {
                let (ip, port) = any_service(rng);
                let mut src = local(ephemeral(rng));
                if eni.kind == EniKind::NatGateway
                    && !c.instances.is_empty()
                    && rng.random_bool(0.3)
                {
                    let i = c.instances[rng.random_range(0..c.instances.len())];
                    src.via = Some(Addr::Priv(e.instances[i as usize].addrs[0]));
                }
                Self::base(time, end, src, Ep::remote(ip, port), Dir::Out)
            }
            EniKind::LoadBalancer => {
                let src = Ep::remote(Addr::V4(Estate::client_v4(rng)), client_port(rng));
                Self::base(time, end, src, local(443), Dir::In)
            }
            EniKind::VpcEndpoint => {
                let src_ip = if c.instances.is_empty() {
                    Addr::Priv(e.enis[c.service_enis[0] as usize].addr)
                } else {
                    let i = c.instances[rng.random_range(0..c.instances.len())];
                    Addr::Priv(e.instances[i as usize].addrs[0])
                };
                Self::base(
                    time,
                    end,
                    Ep::remote(src_ip, ephemeral(rng)),
                    local(443),
                    Dir::In,
                )
            }
        };
        row.flags = Some(accepted_flags(rng));
        row.traffic = Some(traffic(rng, false));
        row
    }

    /// An egress record of instance `i` whose source address is `ip`: the anomaly rows.
    pub(crate) fn anomaly(
        &self,
        rng: &mut impl Rng,
        time: i64,
        end: i64,
        i: u32,
        ip: Addr,
    ) -> VpcRow {
        let s = self.service_of(rng, i);
        let svc = &self.estate.services[s as usize];
        let port = ephemeral(rng);
        let mut src = self.inst_ep(rng, i, port);
        src.ip = ip;
        let dst = Ep::remote(self.svc_addr(rng, s), svc.port);
        let mut row = Self::base(time, end, src, dst, Dir::Out);
        row.proto = Some(svc.proto);
        row.flags = Some(if svc.proto == 6 {
            accepted_flags(rng)
        } else {
            0
        });
        row.traffic = Some(traffic(rng, false));
        row
    }
}

impl VpcRow {
    fn zone(&self, e: &Estate) -> Option<Bytes> {
        let eni = self.src.eni.or(self.dst.eni)?;
        Some(e.subnet(eni).zone.clone())
    }

    fn activity(&self) -> (&'static str, i32) {
        match self.outcome {
            Outcome::Accept => ("Traffic", 6),
            Outcome::Reject => ("Refuse", 5),
            Outcome::NoData | Outcome::SkipData => ("Unknown", 0),
        }
    }

    fn disposition(&self) -> (&'static str, i32) {
        match self.outcome {
            Outcome::Accept => ("Allowed", 1),
            Outcome::Reject => ("Blocked", 2),
            Outcome::NoData | Outcome::SkipData => ("-", 99),
        }
    }

    fn action(&self) -> (&'static str, i32) {
        match self.outcome {
            Outcome::Accept => ("Allowed", 1),
            Outcome::Reject => ("Denied", 2),
            Outcome::NoData | Outcome::SkipData => ("Unknown", 0),
        }
    }

    fn type_name(&self) -> &'static str {
        match self.outcome {
            Outcome::Accept => "Network Activity: Traffic",
            Outcome::Reject => "Network Activity: Refuse",
            Outcome::NoData | Outcome::SkipData => "Network Activity: Unknown",
        }
    }
}

impl Observables for VpcRow {
    fn observables(&self, e: &Estate) -> Vec<Observable> {
        let mut out = Vec::with_capacity(2);
        for (name, ep) in [
            ("src_endpoint.ip", &self.src),
            ("dst_endpoint.ip", &self.dst),
        ] {
            if let Some(ip) = ep.ip.text(e).filter(|ip| ip.as_ref() != b"-") {
                out.push((name, ip, "IP Address", 2));
            }
        }
        out
    }
}

fn ep_vpc(ep: &Ep, e: &Estate) -> Option<Bytes> {
    ep.eni.map(|x| e.vpc_id_of_eni(x))
}

fn ep_subnet(ep: &Ep, e: &Estate) -> Option<Bytes> {
    ep.eni.map(|x| e.subnet(x).id.clone())
}

fn ep_iface(ep: &Ep, e: &Estate) -> Option<Bytes> {
    ep.eni.map(|x| e.enis[x as usize].id.clone())
}

macro_rules! endpoint_leaves {
    ($name:literal, $field:ident) => {
        [
            leaf(concat!($name, ".port"), |r: &VpcRow, _, s| {
                s.i32(r.$field.port.map(i32::from))
            }),
            leaf(concat!($name, ".svc_name"), |_, _, s| s.lit("-")),
            leaf(concat!($name, ".ip"), |r: &VpcRow, c: &ObjCtx<'_>, s| {
                s.str(r.$field.ip.text(c.estate))
            }),
            leaf(
                concat!($name, ".intermediate_ips.array"),
                |r: &VpcRow, c: &ObjCtx<'_>, s| {
                    s.str_list(r.$field.via.and_then(|a| a.text(c.estate)).map(|t| [t]))
                },
            ),
            leaf(
                concat!($name, ".interface_uid"),
                |r: &VpcRow, c: &ObjCtx<'_>, s| s.str(ep_iface(&r.$field, c.estate)),
            ),
            leaf(
                concat!($name, ".vpc_uid"),
                |r: &VpcRow, c: &ObjCtx<'_>, s| s.str(ep_vpc(&r.$field, c.estate)),
            ),
            leaf(
                concat!($name, ".instance_uid"),
                |r: &VpcRow, c: &ObjCtx<'_>, s| s.str(r.$field.inst.text(c.estate)),
            ),
            leaf(
                concat!($name, ".subnet_uid"),
                |r: &VpcRow, c: &ObjCtx<'_>, s| s.str(ep_subnet(&r.$field, c.estate)),
            ),
        ]
    };
}

/// The leaf columns of `network_activity` in schema order.
pub(crate) fn leaves<'a>(version: SourceVersion) -> Vec<Leaf<VpcRow, ObjCtx<'a>>> {
    let v2 = version == SourceVersion::V2;
    let mut l: Vec<Leaf<VpcRow, ObjCtx<'a>>> = vec![
        leaf("metadata.product.version", |_, _, s| s.lit("5")),
        leaf("metadata.product.name", |_, _, s| s.lit("Amazon VPC")),
        leaf("metadata.product.feature.name", |_, _, s| s.lit("Flowlogs")),
    ];
    l.extend(context_leaves(version));
    l.extend([
        leaf("cloud.zone", |r: &VpcRow, c: &ObjCtx<'_>, s| {
            s.str(r.zone(c.estate))
        }),
        leaf("cloud.provider", |_, _, s| s.lit("AWS")),
    ]);
    l.extend(endpoint_leaves!("src_endpoint", src));
    l.extend(endpoint_leaves!("dst_endpoint", dst));
    l.extend([
        leaf("connection_info.protocol_num", |r: &VpcRow, _, s| {
            s.i32(r.proto.map(i32::from))
        }),
        leaf("connection_info.tcp_flags", |r: &VpcRow, _, s| {
            s.i32(r.flags.map(i32::from))
        }),
        leaf("connection_info.protocol_ver", |r: &VpcRow, _, s| {
            s.lit(match (r.outcome, r.v6) {
                (Outcome::NoData | Outcome::SkipData, _) => "-",
                (_, true) => "IPv6",
                (_, false) => "IPv4",
            })
        }),
        leaf("connection_info.boundary_id", |_, _, s| s.i32(Some(99))),
        leaf("connection_info.boundary", |r: &VpcRow, _, s| {
            // AWS's NODATA sample has a null boundary; traffic rows carry the "-" sentinel.
            match r.outcome {
                Outcome::NoData | Outcome::SkipData => s.str(None),
                _ => s.lit("-"),
            }
        }),
        leaf("connection_info.direction_id", |r: &VpcRow, _, s| {
            s.i32(Some(match r.dir {
                Dir::In => 1,
                Dir::Out => 2,
                Dir::Unknown => 99,
            }))
        }),
        leaf("connection_info.direction", |r: &VpcRow, _, s| {
            s.lit(match r.dir {
                Dir::In => "Inbound",
                Dir::Out => "Outbound",
                Dir::Unknown => "-",
            })
        }),
        leaf("traffic.packets", |r: &VpcRow, _, s| {
            s.i64(r.traffic.map(|t| t.0))
        }),
        leaf("traffic.bytes", |r: &VpcRow, _, s| {
            s.i64(r.traffic.map(|t| t.1))
        }),
        leaf("time", |r: &VpcRow, _, s| s.i64(Some(r.time))),
    ]);
    if v2 {
        l.extend([
            leaf("time_dt", |r: &VpcRow, _, s| s.i64(Some(r.time))),
            leaf("start_time_dt", |r: &VpcRow, _, s| s.i64(Some(r.time))),
            leaf("end_time_dt", |r: &VpcRow, _, s| s.i64(Some(r.end))),
        ]);
    } else {
        l.extend([
            leaf("start_time", |r: &VpcRow, _, s| s.i64(Some(r.time))),
            leaf("end_time", |r: &VpcRow, _, s| s.i64(Some(r.end))),
        ]);
    }
    l.extend([
        leaf("status_code", |r: &VpcRow, _, s| {
            s.lit(match r.outcome {
                Outcome::NoData => "NODATA",
                Outcome::SkipData => "SKIPDATA",
                _ => "OK",
            })
        }),
        leaf("severity_id", |_, _, s| s.i32(Some(1))),
        leaf("severity", |_, _, s| s.lit("Informational")),
        leaf("class_name", |_, _, s| s.lit("Network Activity")),
        leaf("class_uid", |_, _, s| s.i32(Some(4001))),
        leaf("category_name", |_, _, s| s.lit("Network Activity")),
        leaf("category_uid", |_, _, s| s.i32(Some(4))),
        leaf("activity_name", |r: &VpcRow, _, s| s.lit(r.activity().0)),
        leaf("activity_id", |r: &VpcRow, _, s| {
            s.i32(Some(r.activity().1))
        }),
    ]);
    if v2 {
        l.extend([
            leaf("action", |r: &VpcRow, _, s| s.lit(r.action().0)),
            leaf("action_id", |r: &VpcRow, _, s| s.i32(Some(r.action().1))),
        ]);
    }
    l.extend([
        leaf("disposition", |r: &VpcRow, _, s| s.lit(r.disposition().0)),
        leaf("disposition_id", |r: &VpcRow, _, s| {
            s.i32(Some(r.disposition().1))
        }),
    ]);
    if v2 {
        l.push(leaf("type_uid", |r: &VpcRow, _, s| {
            s.i64(Some(400100 + i64::from(r.activity().1)))
        }));
    } else {
        l.push(leaf("type_uid", |r: &VpcRow, _, s| {
            s.i32(Some(400100 + r.activity().1))
        }));
    }
    l.extend([
        leaf("type_name", |r: &VpcRow, _, s| s.lit(r.type_name())),
        leaf("unmapped.map.key", |_, _, s| {
            s.map_side(Some([
                Bytes::from_static(b"sublocation_id"),
                Bytes::from_static(b"sublocation_type"),
            ]))
        }),
        leaf("unmapped.map.value", |_, _, s| {
            s.map_side(Some([Bytes::from_static(b"-"), Bytes::from_static(b"-")]))
        }),
    ]);
    if v2 {
        l.extend(observable_leaves());
    }
    l
}
