//! Pairing rules: which (entity, address) a flow record stands for. The extractor in
//! [`crate::pairs`] reads the columns; this module decides what they mean.
//!
//! # Who initiated
//!
//! A VPC Flow record is written by one ENI and describes the packets one way, `src -> dst`.
//! Every connection therefore appears at least twice (request and reply), and four times when
//! both ends are instances of the estate, and on each record only the capturing ENI's side
//! carries an `instance_uid`. [`initiator`] decides per record which side opened the
//! connection, from the strongest evidence present:
//!
//! 1. TCP flags (VPC Flow Logs OR them over the aggregation window): SYN without ACK means the
//!    source initiated; SYN-ACK means the destination did.
//! 2. Ports, for TCP, UDP and SCTP: a service port (below 1024 or a well-known server port such
//!    as 3306, 5432 or 8080) against a registered or ephemeral one, or a registered port
//!    (1024-32767) against an ephemeral one (32768 and up): the side on the service port is the
//!    responder.
//! 3. `connection_info.direction_id` (1 inbound, 2 outbound, relative to the capturing ENI):
//!    with nothing better, the sender of the record's packets is taken as the initiator.
//!
//! A record none of these decides is counted as undecided and gives no pair.
//! [`Pairing::Initiator`] pairs the initiating instance with the responder's address, so the
//! request and the reply of one connection give the same pair, and a connection an outside host
//! opens to an instance is not a pair of that instance (its initiator has no instance id).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Which endpoint fields make a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pairing {
    /// The instance that opened a connection with the address it connected to (VPC Flow: see
    /// the module docs); for Route 53, the querying instance with the A-record answers it got.
    /// Outbound attempts that were refused count (a blocked C2 call is a signal); inbound
    /// connections and probes, opened by hosts without an instance id, do not.
    #[default]
    Initiator,
    /// `src_endpoint.instance_uid` with `src_endpoint.ip`, as AWS's sample does: the addresses
    /// an instance sends from. Inbound flows (instance in `dst_endpoint`) are not seen.
    Src,
    /// Each endpoint's own `instance_uid` with its own `ip`: the addresses an instance is seen
    /// with in either direction. For Route 53 this is the same as `src` (the resolver side
    /// carries no address).
    Endpoint,
    /// An instance with the address at the other end of the flow, in either direction: who it
    /// exchanges packets with, inbound clients included. For Route 53, as `initiator`.
    Peer,
}

impl Pairing {
    pub const ALL: [Pairing; 4] = [
        Pairing::Initiator,
        Pairing::Src,
        Pairing::Endpoint,
        Pairing::Peer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Pairing::Initiator => "initiator",
            Pairing::Src => "src",
            Pairing::Endpoint => "endpoint",
            Pairing::Peer => "peer",
        }
    }
}

impl fmt::Display for Pairing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Pairing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "initiator" => Ok(Pairing::Initiator),
            "src" => Ok(Pairing::Src),
            "endpoint" => Ok(Pairing::Endpoint),
            "peer" => Ok(Pairing::Peer),
            other => Err(format!(
                "unknown pairing {other:?}: expected initiator, src, endpoint or peer"
            )),
        }
    }
}

/// The group entity an instance gets beside its own id: instance ids churn with autoscaling,
/// the subnet (or VPC) a tier lives in does not. A model trained on both scores an instance it
/// never saw as its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// No group.
    None,
    /// The entity's endpoint `subnet_uid` (Route 53 records have none: their `vpc_uid`).
    #[default]
    Subnet,
    /// The entity's endpoint `vpc_uid`.
    Vpc,
}

impl GroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::None => "none",
            GroupBy::Subnet => "subnet",
            GroupBy::Vpc => "vpc",
        }
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(GroupBy::None),
            "subnet" => Ok(GroupBy::Subnet),
            "vpc" => Ok(GroupBy::Vpc),
            other => Err(format!(
                "unknown group {other:?}: expected subnet, vpc or none"
            )),
        }
    }
}

/// The side of a flow record that opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Src,
    Dst,
}

/// What decided the initiator of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// SYN without ACK: the source.
    Syn,
    /// SYN-ACK: the destination.
    SynAck,
    /// A service port against a higher one.
    Ports,
    /// Only `direction_id` was known: the sender.
    Direction,
}

/// The columns of one flow record the decision reads; `None` where null or absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowFacts {
    pub protocol: Option<i64>,
    pub tcp_flags: Option<i64>,
    pub src_port: Option<i64>,
    pub dst_port: Option<i64>,
    pub direction_id: Option<i64>,
}

const TCP: i64 = 6;
const UDP: i64 = 17;
const SCTP: i64 = 132;
const SYN: i64 = 0x02;
const ACK: i64 = 0x10;

/// First port of the ephemeral range (Linux uses 32768-60999, Windows 49152-65535).
pub const EPHEMERAL_START: i64 = 32768;

/// Server ports at or above 1024 that clients never pick as their own port in practice.
pub const SERVICE_PORTS: &[i64] = &[
    1433, 1521, 2049, 2181, 2375, 2376, 2379, 3000, 3306, 3389, 4222, 5000, 5044, 5432, 5439, 5601,
    5671, 5672, 5900, 5985, 5986, 6379, 6443, 7000, 7001, 8000, 8080, 8088, 8443, 8888, 9000, 9042,
    9090, 9092, 9093, 9200, 9300, 9418, 10250, 11211, 15672, 27017,
];

/// How server-like a port is: 0 a service port, 1 registered, 2 ephemeral.
fn port_rank(port: i64) -> u8 {
    if port < 1024 || SERVICE_PORTS.contains(&port) {
        0
    } else if port < EPHEMERAL_START {
        1
    } else {
        2
    }
}

/// Which side of a record opened its connection, and on what evidence; `None` when nothing
/// decides it.
pub fn initiator(f: &FlowFacts) -> Option<(Side, Evidence)> {
    let protocol = f.protocol;
    if let Some(flags) = f.tcp_flags
        && matches!(protocol, Some(TCP) | None)
        && flags & SYN != 0
    {
        return Some(if flags & ACK != 0 {
            (Side::Dst, Evidence::SynAck)
        } else {
            (Side::Src, Evidence::Syn)
        });
    }
    if matches!(protocol, Some(TCP | UDP | SCTP) | None)
        && let (Some(sp), Some(dp)) = (f.src_port, f.dst_port)
        && (1..=65535).contains(&sp)
        && (1..=65535).contains(&dp)
    {
        let (s, d) = (port_rank(sp), port_rank(dp));
        if d < s {
            return Some((Side::Src, Evidence::Ports));
        }
        if s < d {
            return Some((Side::Dst, Evidence::Ports));
        }
    }
    match f.direction_id {
        Some(1 | 2) => Some((Side::Src, Evidence::Direction)),
        _ => None,
    }
}

/// Records decided per kind of evidence, and those left undecided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InitiatorCounts {
    pub syn: u64,
    pub syn_ack: u64,
    pub ports: u64,
    pub direction: u64,
    pub undecided: u64,
}

impl InitiatorCounts {
    pub fn add(&mut self, decision: Option<(Side, Evidence)>) {
        match decision {
            Some((_, Evidence::Syn)) => self.syn += 1,
            Some((_, Evidence::SynAck)) => self.syn_ack += 1,
            Some((_, Evidence::Ports)) => self.ports += 1,
            Some((_, Evidence::Direction)) => self.direction += 1,
            None => self.undecided += 1,
        }
    }

    pub fn merge(&mut self, other: &InitiatorCounts) {
        self.syn += other.syn;
        self.syn_ack += other.syn_ack;
        self.ports += other.ports;
        self.direction += other.direction;
        self.undecided += other.undecided;
    }

    pub fn is_empty(&self) -> bool {
        *self == InitiatorCounts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(protocol: i64, flags: Option<i64>, sp: i64, dp: i64, dir: i64) -> FlowFacts {
        FlowFacts {
            protocol: Some(protocol),
            tcp_flags: flags,
            src_port: Some(sp),
            dst_port: Some(dp),
            direction_id: Some(dir),
        }
    }

    #[test]
    fn syn_is_the_source_syn_ack_the_destination() {
        // Egress SYN of an instance to a web server.
        assert_eq!(
            initiator(&facts(6, Some(2), 45000, 443, 2)),
            Some((Side::Src, Evidence::Syn))
        );
        // SYN+FIN of a short connection in one window.
        assert_eq!(
            initiator(&facts(6, Some(3), 45000, 443, 2)),
            Some((Side::Src, Evidence::Syn))
        );
        // The reply, SYN-ACK (18) and SYN-ACK+FIN (19): the destination opened it, whatever the
        // ports say.
        for flags in [18, 19] {
            assert_eq!(
                initiator(&facts(6, Some(flags), 443, 45000, 1)),
                Some((Side::Dst, Evidence::SynAck))
            );
            assert_eq!(
                initiator(&facts(6, Some(flags), 45000, 50000, 1)),
                Some((Side::Dst, Evidence::SynAck))
            );
        }
    }

    #[test]
    fn mid_connection_fin_and_rst_fall_back_to_ports() {
        for flags in [None, Some(0), Some(1), Some(4), Some(5)] {
            assert_eq!(
                initiator(&facts(6, flags, 51234, 5432, 2)),
                Some((Side::Src, Evidence::Ports))
            );
            assert_eq!(
                initiator(&facts(6, flags, 5432, 51234, 2)),
                Some((Side::Dst, Evidence::Ports))
            );
        }
        // A registered port against an ephemeral one.
        assert_eq!(
            initiator(&facts(6, Some(0), 40001, 7777, 1)),
            Some((Side::Src, Evidence::Ports))
        );
    }

    #[test]
    fn udp_uses_ports_icmp_uses_direction() {
        assert_eq!(
            initiator(&facts(17, None, 40000, 53, 2)),
            Some((Side::Src, Evidence::Ports))
        );
        assert_eq!(
            initiator(&facts(17, Some(0), 123, 38000, 1)),
            Some((Side::Dst, Evidence::Ports))
        );
        // ICMP: no ports, no flags; the sender.
        assert_eq!(
            initiator(&facts(1, None, 0, 0, 1)),
            Some((Side::Src, Evidence::Direction))
        );
        // Flags on a non-TCP record are ignored.
        assert_eq!(
            initiator(&facts(17, Some(2), 53, 40000, 2)),
            Some((Side::Dst, Evidence::Ports))
        );
    }

    #[test]
    fn equal_ranks_without_direction_are_undecided() {
        let mut f = facts(6, Some(0), 40000, 50000, 0);
        assert_eq!(initiator(&f), None);
        f.direction_id = None;
        assert_eq!(initiator(&f), None);
        f.direction_id = Some(99);
        assert_eq!(initiator(&f), None);
        assert_eq!(initiator(&FlowFacts::default()), None);
        // Both service ports (e.g. 443 to 80).
        assert_eq!(initiator(&facts(6, None, 443, 80, 0)), None);
    }

    #[test]
    fn blocked_probes_are_decided_by_their_syn() {
        // AWS's sample example0: an inbound SYN from 1.2.3.4:56858 to 39938, refused.
        assert_eq!(
            initiator(&facts(6, Some(2), 56858, 39938, 1)),
            Some((Side::Src, Evidence::Syn))
        );
    }

    #[test]
    fn unknown_protocol_still_reads_flags_and_ports() {
        let f = FlowFacts {
            tcp_flags: Some(18),
            ..Default::default()
        };
        assert_eq!(initiator(&f), Some((Side::Dst, Evidence::SynAck)));
        let f = FlowFacts {
            src_port: Some(22),
            dst_port: Some(50000),
            ..Default::default()
        };
        assert_eq!(initiator(&f), Some((Side::Dst, Evidence::Ports)));
    }

    #[test]
    fn counts() {
        let mut c = InitiatorCounts::default();
        c.add(Some((Side::Src, Evidence::Syn)));
        c.add(Some((Side::Dst, Evidence::SynAck)));
        c.add(None);
        let mut d = c;
        d.merge(&c);
        assert_eq!((d.syn, d.syn_ack, d.undecided, d.ports), (2, 2, 2, 0));
        assert!(InitiatorCounts::default().is_empty());
    }
}
