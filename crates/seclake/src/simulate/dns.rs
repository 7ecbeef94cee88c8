//! Route 53 Resolver query log rows (OCSF DNS Activity 4003) as Security Lake stores them.
//!
//! Queries from instances carry `src_endpoint.instance_uid`; queries from interfaces without an
//! instance (Lambda, endpoints) and from on-premises clients through a Resolver inbound endpoint
//! have it null, the latter with `dst_endpoint` = the endpoint (`rslvr-in-…`, `rni-…`), like AWS's
//! samples.

use bytes::Bytes;
use rand::Rng;

use super::columns::{Leaf, leaf};
use super::estate::{Cell, Estate};
use super::vpc::Addr;
use super::{ObjCtx, Observable, Observables, context_leaves, observable_leaves};
use crate::SourceVersion;

#[derive(Clone, Copy, Debug)]
enum QName {
    Service(u32),
    /// `ip-a-b-c-d.ec2.internal.` of a private address.
    Internal(u32),
    /// Reverse lookup of a private address.
    Ptr(u32),
    Nx(u32),
    /// A service of the realistic estate answered with `n` of its addresses of day `day`, from
    /// the `first`-th on (its daily rotation, `Estate::pool_days`).
    Pooled {
        svc: u32,
        day: u16,
        first: u16,
        n: u8,
    },
}

/// What an instance of the realistic estate asks its resolver.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ask {
    /// Service `svc` on day `day`: answered with `n` addresses of the day's rotation.
    Pooled {
        svc: u32,
        day: u16,
        first: u16,
        n: u8,
    },
    /// The `ip-a-b-c-d` name of a private address.
    Internal(u32),
    /// Reverse lookup of a private address.
    Ptr(u32),
    /// A name that does not resolve.
    Nx(u32),
}

/// A query of instance `inst` from its private address `addr` (realistic estate).
pub(crate) fn instance_query(
    rng: &mut impl Rng,
    time: i64,
    vpc: u32,
    addr: u32,
    inst: u32,
    ask: Ask,
) -> DnsRow {
    let (qname, qtype, rcode) = match ask {
        Ask::Pooled { svc, day, first, n } => (
            QName::Pooled { svc, day, first, n },
            QType::A,
            Rcode::NoError,
        ),
        Ask::Internal(a) => (QName::Internal(a), QType::A, Rcode::NoError),
        Ask::Ptr(a) => (QName::Ptr(a), QType::Ptr, Rcode::NoError),
        Ask::Nx(n) => (QName::Nx(n), QType::A, Rcode::NxDomain),
    };
    DnsRow {
        time,
        vpc: Some(vpc),
        ip: Addr::Priv(addr),
        port: rng.random_range(1024..=65535),
        inst: Some(inst),
        qname,
        qtype,
        rcode,
        udp: rng.random_bool(0.98),
        via_resolver_endpoint: false,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QType {
    A,
    Aaaa,
    Ptr,
    Txt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rcode {
    NoError,
    NxDomain,
    Refused,
    ServFail,
}

/// One resolver query log record in compact form.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DnsRow {
    time: i64,
    vpc: Option<u32>,
    ip: Addr,
    port: u16,
    inst: Option<u32>,
    qname: QName,
    qtype: QType,
    rcode: Rcode,
    udp: bool,
    via_resolver_endpoint: bool,
}

pub(crate) struct DnsGen<'a> {
    pub(crate) estate: &'a Estate,
    pub(crate) cell: &'a Cell,
}

impl DnsGen<'_> {
    fn question(&self, rng: &mut impl Rng, i: Option<u32>) -> (QName, QType, Rcode) {
        let e = self.estate;
        let r = rng.random::<f64>();
        if r < 0.03 {
            return (
                QName::Nx(rng.random_range(0..e.nx_names.len()) as u32),
                QType::A,
                Rcode::NxDomain,
            );
        }
        if r < 0.035 {
            // Blocked by a DNS Firewall rule group.
            return (
                QName::Nx(rng.random_range(0..e.nx_names.len()) as u32),
                QType::A,
                Rcode::Refused,
            );
        }
        let rcode = if rng.random_bool(0.002) {
            Rcode::ServFail
        } else {
            Rcode::NoError
        };
        if let Some(i) = i {
            let inst = &e.instances[i as usize];
            if r < 0.15 && !inst.peers.is_empty() {
                let (j, _) = inst.peers[rng.random_range(0..inst.peers.len())];
                let addr = e.instances[j as usize].addrs[0];
                return (QName::Internal(addr), QType::A, rcode);
            }
            if r < 0.17 {
                return (QName::Ptr(inst.addrs[0]), QType::Ptr, rcode);
            }
            let svcs = &inst.services;
            let s = svcs[(rng.random::<f64>().powi(2) * svcs.len() as f64) as usize];
            let t = match rng.random_range(0..20) {
                0..=2 => QType::Aaaa,
                3 => QType::Txt,
                _ => QType::A,
            };
            return (QName::Service(s), t, rcode);
        }
        let s = rng.random_range(0..e.services.len()) as u32;
        (QName::Service(s), QType::A, rcode)
    }

    /// One normal query record at `time` (ms).
    pub(crate) fn row(&self, rng: &mut impl Rng, time: i64) -> DnsRow {
        let e = self.estate;
        let c = self.cell;
        let r = rng.random::<f64>();
        let port = rng.random_range(1024..=65535);
        let udp = rng.random_bool(0.97);
        if r < 0.75
            && let Some(i) = c.pick_instance(rng)
        {
            let inst = &e.instances[i as usize];
            let a = inst.addrs[rng.random_range(0..inst.addrs.len())];
            let (qname, qtype, rcode) = self.question(rng, Some(i));
            return DnsRow {
                time,
                vpc: Some(inst.vpc),
                ip: Addr::Priv(a),
                port,
                inst: Some(i),
                qname,
                qtype,
                rcode,
                udp,
                via_resolver_endpoint: false,
            };
        }
        if r < 0.88 || c.resolver.is_none() {
            let x = c.service_enis[rng.random_range(0..c.service_enis.len())];
            let eni = &e.enis[x as usize];
            let (qname, qtype, rcode) = self.question(rng, None);
            return DnsRow {
                time,
                vpc: Some(e.subnet(x).vpc),
                ip: Addr::Priv(eni.addr),
                port,
                inst: None,
                qname,
                qtype,
                rcode,
                udp,
                via_resolver_endpoint: false,
            };
        }
        let vpc = c.resolver.as_ref().map(|r| r.2);
        let (qname, qtype, rcode) = self.question(rng, None);
        DnsRow {
            time,
            vpc,
            ip: Addr::V4(Estate::on_prem_v4(rng)),
            port,
            inst: None,
            qname,
            qtype,
            rcode,
            udp,
            via_resolver_endpoint: true,
        }
    }

    /// A query of instance `i` whose source address is `ip`: the anomaly rows.
    pub(crate) fn anomaly(&self, rng: &mut impl Rng, time: i64, i: u32, ip: Addr) -> DnsRow {
        let inst = &self.estate.instances[i as usize];
        let s = inst.services[rng.random_range(0..inst.services.len())];
        DnsRow {
            time,
            vpc: Some(inst.vpc),
            ip,
            port: rng.random_range(1024..=65535),
            inst: Some(i),
            qname: QName::Service(s),
            qtype: QType::A,
            rcode: Rcode::NoError,
            udp: true,
            via_resolver_endpoint: false,
        }
    }
}

impl DnsRow {
    fn hostname(&self, e: &Estate) -> Bytes {
        match self.qname {
            QName::Service(s) | QName::Pooled { svc: s, .. } => e.services[s as usize].name.clone(),
            QName::Internal(a) => e.addrs[a as usize].host_name.clone(),
            QName::Ptr(a) => e.addrs[a as usize].ptr_name.clone(),
            QName::Nx(n) => e.nx_names[n as usize].clone(),
        }
    }

    /// (type, rdata) of each answer; `None` when the response has no answer section.
    fn answers(&self, e: &Estate) -> Option<Vec<(&'static str, Bytes)>> {
        if self.rcode != Rcode::NoError {
            return None;
        }
        let mut out = Vec::new();
        match (self.qname, self.qtype) {
            (QName::Service(s), t) => {
                let svc = &e.services[s as usize];
                if let Some(cname) = &svc.cname {
                    out.push(("CNAME", cname.clone()));
                }
                match t {
                    QType::A => out.extend(svc.v4.iter().map(|(_, txt)| ("A", txt.clone()))),
                    QType::Aaaa => out.extend(svc.v6.iter().map(|v6| ("AAAA", v6.clone()))),
                    QType::Txt => out.push((
                        "TXT",
                        Bytes::from_static(b"\"v=spf1 include:_spf.example.com ~all\""),
                    )),
                    QType::Ptr => {}
                }
            }
            (QName::Internal(a), _) => out.push(("A", e.addrs[a as usize].text.clone())),
            (QName::Ptr(a), _) => out.push(("PTR", e.addrs[a as usize].host_name.clone())),
            (QName::Nx(_), _) => {}
            (QName::Pooled { svc, day, first, n }, _) => {
                let svc_info = &e.services[svc as usize];
                if let Some(cname) = &svc_info.cname {
                    out.push(("CNAME", cname.clone()));
                }
                let pool = &e.pool_days[svc as usize][day as usize];
                for k in 0..usize::from(n).min(pool.len()) {
                    out.push(("A", pool[(usize::from(first) + k) % pool.len()].1.clone()));
                }
            }
        }
        Some(out)
    }

    fn rcode(&self) -> (&'static str, i32) {
        match self.rcode {
            Rcode::NoError => ("NoError", 0),
            Rcode::ServFail => ("ServError", 2),
            Rcode::NxDomain => ("NXDomain", 3),
            Rcode::Refused => ("Refused", 5),
        }
    }

    fn activity(&self) -> (&'static str, i32) {
        match self.rcode {
            Rcode::NoError | Rcode::NxDomain => ("Response", 2),
            Rcode::ServFail => ("Fail", 4),
            Rcode::Refused => ("Refuse", 5),
        }
    }

    fn type_name(&self) -> &'static str {
        match self.activity().1 {
            2 => "DNS Activity: Response",
            4 => "DNS Activity: Fail",
            _ => "DNS Activity: Refuse",
        }
    }

    fn blocked(&self) -> bool {
        self.rcode == Rcode::Refused
    }
}

impl Observables for DnsRow {
    fn observables(&self, e: &Estate) -> Vec<Observable> {
        let mut out = vec![("query.hostname", self.hostname(e), "Hostname", 1)];
        if let Some(ip) = self.ip.text(e) {
            out.push(("src_endpoint.ip", ip, "IP Address", 2));
        }
        out
    }
}

/// The leaf columns of `dns_activity` in schema order.
pub(crate) fn leaves<'a>(version: SourceVersion) -> Vec<Leaf<DnsRow, ObjCtx<'a>>> {
    let v2 = version == SourceVersion::V2;
    let mut l: Vec<Leaf<DnsRow, ObjCtx<'a>>> = vec![
        leaf("metadata.product.version", |_, _, s| s.lit("1.100000")),
        leaf("metadata.product.name", |_, _, s| s.lit("Route 53")),
        leaf("metadata.product.feature.name", |_, _, s| {
            s.lit("Resolver Query Logs")
        }),
    ];
    l.extend(context_leaves(version));
    l.extend([
        leaf("cloud.provider", |_, _, s| s.lit("AWS")),
        leaf("src_endpoint.vpc_uid", |r: &DnsRow, c: &ObjCtx<'_>, s| {
            s.str(r.vpc.map(|v| c.estate.vpcs[v as usize].id.clone()))
        }),
        leaf("src_endpoint.ip", |r: &DnsRow, c: &ObjCtx<'_>, s| {
            s.str(r.ip.text(c.estate))
        }),
        leaf("src_endpoint.port", |r: &DnsRow, _, s| {
            s.i32(Some(i32::from(r.port)))
        }),
        leaf(
            "src_endpoint.instance_uid",
            |r: &DnsRow, c: &ObjCtx<'_>, s| {
                s.str(r.inst.map(|i| c.estate.instances[i as usize].id.clone()))
            },
        ),
        leaf("time", |r: &DnsRow, _, s| s.i64(Some(r.time))),
    ]);
    if v2 {
        l.push(leaf("time_dt", |r: &DnsRow, _, s| s.i64(Some(r.time))));
    }
    l.extend([
        leaf("query.hostname", |r: &DnsRow, c: &ObjCtx<'_>, s| {
            s.str(Some(r.hostname(c.estate)))
        }),
        leaf("query.type", |r: &DnsRow, _, s| {
            s.lit(match r.qtype {
                QType::A => "A",
                QType::Aaaa => "AAAA",
                QType::Ptr => "PTR",
                QType::Txt => "TXT",
            })
        }),
        leaf("query.class", |_, _, s| s.lit("IN")),
        leaf("answers.array.type", |r: &DnsRow, c: &ObjCtx<'_>, s| {
            s.struct_list_str(r.answers(c.estate).map(|a| {
                a.into_iter()
                    .map(|(t, _)| Some(Bytes::from_static(t.as_bytes())))
            }))
        }),
        leaf("answers.array.rdata", |r: &DnsRow, c: &ObjCtx<'_>, s| {
            s.struct_list_str(
                r.answers(c.estate)
                    .map(|a| a.into_iter().map(|(_, d)| Some(d))),
            )
        }),
        leaf("answers.array.class", |r: &DnsRow, c: &ObjCtx<'_>, s| {
            s.struct_list_str(
                r.answers(c.estate)
                    .map(|a| a.into_iter().map(|_| Some(Bytes::from_static(b"IN")))),
            )
        }),
        leaf("connection_info.protocol_name", |r: &DnsRow, _, s| {
            s.lit(if r.udp { "UDP" } else { "TCP" })
        }),
        leaf("connection_info.direction", |_, _, s| s.lit("Unknown")),
        leaf("connection_info.direction_id", |_, _, s| s.i32(Some(0))),
        leaf(
            "dst_endpoint.instance_uid",
            |r: &DnsRow, c: &ObjCtx<'_>, s| {
                s.str(
                    c.cell
                        .resolver
                        .as_ref()
                        .filter(|_| r.via_resolver_endpoint)
                        .map(|x| x.0.clone()),
                )
            },
        ),
        leaf(
            "dst_endpoint.interface_uid",
            |r: &DnsRow, c: &ObjCtx<'_>, s| {
                s.str(
                    c.cell
                        .resolver
                        .as_ref()
                        .filter(|_| r.via_resolver_endpoint)
                        .map(|x| x.1.clone()),
                )
            },
        ),
        leaf("severity_id", |_, _, s| s.i32(Some(1))),
        leaf("severity", |_, _, s| s.lit("Informational")),
        leaf("class_name", |_, _, s| s.lit("DNS Activity")),
        leaf("class_uid", |_, _, s| s.i32(Some(4003))),
        leaf("category_name", |_, _, s| s.lit("Network Activity")),
        leaf("category_uid", |_, _, s| s.i32(Some(4))),
        leaf("rcode_id", |r: &DnsRow, _, s| s.i32(Some(r.rcode().1))),
        leaf("rcode", |r: &DnsRow, _, s| s.lit(r.rcode().0)),
        leaf("activity_id", |r: &DnsRow, _, s| {
            s.i32(Some(r.activity().1))
        }),
        leaf("activity_name", |r: &DnsRow, _, s| s.lit(r.activity().0)),
        leaf("type_name", |r: &DnsRow, _, s| s.lit(r.type_name())),
    ]);
    if v2 {
        l.extend([
            leaf("type_uid", |r: &DnsRow, _, s| {
                s.i64(Some(400300 + i64::from(r.activity().1)))
            }),
            leaf("action", |r: &DnsRow, _, s| {
                s.lit(if r.blocked() { "Denied" } else { "Allowed" })
            }),
            leaf("action_id", |r: &DnsRow, _, s| {
                s.i32(Some(if r.blocked() { 2 } else { 1 }))
            }),
        ]);
    } else {
        l.push(leaf("type_uid", |r: &DnsRow, _, s| {
            s.i32(Some(400300 + r.activity().1))
        }));
    }
    l.extend([
        leaf("disposition", |r: &DnsRow, _, s| {
            s.lit(if r.blocked() { "Blocked" } else { "No Action" })
        }),
        leaf("disposition_id", |r: &DnsRow, _, s| {
            s.i32(Some(if r.blocked() { 2 } else { 16 }))
        }),
    ]);
    if v2 {
        l.push(leaf(
            "firewall_rule.uid",
            |r: &DnsRow, c: &ObjCtx<'_>, s| {
                s.str_or_null_group(r.blocked().then(|| c.cell.firewall.0.clone()))
            },
        ));
    }
    l.extend([
        // Firewall ids are only present when a DNS Firewall rule group matched.
        leaf("unmapped.map.key", |r: &DnsRow, _, s| {
            s.map_side(r.blocked().then(|| {
                [
                    Bytes::from_static(b"firewall_rule_group_id"),
                    Bytes::from_static(b"firewall_domain_list_id"),
                ]
            }))
        }),
        leaf("unmapped.map.value", |r: &DnsRow, c: &ObjCtx<'_>, s| {
            s.map_side(
                r.blocked()
                    .then(|| [c.cell.firewall.0.clone(), c.cell.firewall.1.clone()]),
            )
        }),
    ]);
    if v2 {
        l.extend(observable_leaves());
    }
    l
}
