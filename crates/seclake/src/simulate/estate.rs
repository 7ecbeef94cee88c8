//! The simulated AWS estate: accounts, VPCs, subnets, ENIs, instances and the outside world they
//! talk to. Everything is drawn once from the estate's own random stream, so objects can be written
//! in any order and still agree on who owns which address.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use rand::Rng;
use rand::seq::SliceRandom;

use super::SimError;
use super::util::{random_account, random_hex, random_lower_alnum, random_uuid};

/// First octets of the public networks external services live in.
const SERVICE_OCTETS: &[u8] = &[
    3, 13, 18, 20, 23, 34, 35, 44, 52, 54, 99, 104, 140, 142, 151, 157, 162, 199, 204, 205,
];

/// First octets of the public networks clients and scanners come from.
pub(crate) const CLIENT_OCTETS: &[u8] = &[
    24, 47, 50, 66, 67, 68, 69, 71, 73, 75, 81, 82, 86, 88, 89, 92, 93, 95, 98, 101, 103, 106, 109,
    111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 141, 159, 161, 167,
    170, 174, 175, 176, 177, 178, 179, 180, 181, 186, 187, 188, 189, 190, 191, 200, 201, 210, 211,
    212, 213, 217, 218, 219, 220, 221, 222,
];

/// First octets no normal row ever uses: the "network never seen in the estate" anomalies come
/// from here, which makes that claim true by construction.
pub(crate) const UNSEEN_OCTETS: &[u8] =
    &[5, 31, 37, 45, 46, 62, 77, 80, 91, 94, 185, 193, 194, 195];

const SAAS: &[(&str, u16, u8)] = &[
    ("api.github.com.", 443, 6),
    ("github.com.", 443, 6),
    ("objects.githubusercontent.com.", 443, 6),
    ("registry.npmjs.org.", 443, 6),
    ("pypi.org.", 443, 6),
    ("files.pythonhosted.org.", 443, 6),
    ("registry-1.docker.io.", 443, 6),
    ("auth.docker.io.", 443, 6),
    ("production.cloudflare.docker.com.", 443, 6),
    ("security.ubuntu.com.", 80, 6),
    ("archive.ubuntu.com.", 80, 6),
    ("ntp.ubuntu.com.", 123, 17),
    ("api.datadoghq.com.", 443, 6),
    ("http-intake.logs.datadoghq.com.", 443, 6),
    ("hooks.slack.com.", 443, 6),
    ("api.stripe.com.", 443, 6),
    ("login.microsoftonline.com.", 443, 6),
    ("oauth2.googleapis.com.", 443, 6),
    ("www.googleapis.com.", 443, 6),
    ("api.twilio.com.", 443, 6),
    ("o450912.ingest.sentry.io.", 443, 6),
    ("api.segment.io.", 443, 6),
    ("repo.maven.apache.org.", 443, 6),
    ("static.crates.io.", 443, 6),
    ("index.crates.io.", 443, 6),
    ("dl.google.com.", 443, 6),
    ("api.openai.com.", 443, 6),
    ("smtp.sendgrid.net.", 587, 6),
    ("time.cloudflare.com.", 123, 17),
    ("updates.jenkins.io.", 443, 6),
];

const AWS_ENDPOINTS: &[&str] = &[
    "s3",
    "sts",
    "dynamodb",
    "ssm",
    "ec2messages",
    "ssmmessages",
    "logs",
    "monitoring",
    "sqs",
    "kms",
    "secretsmanager",
    "ecr.api",
];

/// Ports internal peers serve on.
const INTERNAL_PORTS: &[u16] = &[5432, 3306, 6379, 8080, 443, 9200, 2049, 8443, 11211, 9092];

pub(crate) struct RegionInfo {
    pub(crate) name: String,
    pub(crate) name_b: Bytes,
    pub(crate) bucket: String,
    pub(crate) queue_arn: String,
}

pub(crate) struct Vpc {
    pub(crate) id: Bytes,
    pub(crate) v6_prefix: Option<[u16; 4]>,
}

pub(crate) struct Subnet {
    pub(crate) id: Bytes,
    pub(crate) vpc: u32,
    pub(crate) zone: Bytes,
    pub(crate) base: u32,
    pub(crate) size: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum EniKind {
    Instance,
    NatGateway,
    LoadBalancer,
    VpcEndpoint,
    Lambda,
}

pub(crate) struct Eni {
    pub(crate) id: Bytes,
    pub(crate) subnet: u32,
    pub(crate) kind: EniKind,
    /// The ENI's (first) private address.
    pub(crate) addr: u32,
}

pub(crate) struct PrivAddr {
    pub(crate) v4: u32,
    pub(crate) text: Bytes,
    pub(crate) eni: u32,
    /// `ip-10-1-2-3.ec2.internal.` style name.
    pub(crate) host_name: Bytes,
    /// `3.2.1.10.in-addr.arpa.`
    pub(crate) ptr_name: Bytes,
}

pub(crate) struct Instance {
    pub(crate) id: Bytes,
    pub(crate) cell: u32,
    pub(crate) vpc: u32,
    /// Private addresses (indices into [`Estate::addrs`]); the first is the primary one.
    pub(crate) addrs: Vec<u32>,
    pub(crate) v6: Option<Bytes>,
    /// Serves the internet (port), so it sees inbound clients and scanners.
    pub(crate) web_port: Option<u16>,
    /// External services it uses, most used first.
    pub(crate) services: Vec<u32>,
    /// Internal peers (instance, port the peer serves on).
    pub(crate) peers: Vec<(u32, u16)>,
}

pub(crate) struct Service {
    pub(crate) name: Bytes,
    pub(crate) cname: Option<Bytes>,
    pub(crate) v4: Vec<(u32, Bytes)>,
    pub(crate) v6: Option<Bytes>,
    pub(crate) port: u16,
    pub(crate) proto: u8,
    /// AWS regional endpoints are only used from their region.
    pub(crate) region: Option<usize>,
}

/// One (account, region): what a single object's rows are drawn from.
pub(crate) struct Cell {
    pub(crate) account: usize,
    pub(crate) region: usize,
    pub(crate) instances: Vec<u32>,
    /// Cumulative activity weights of `instances` (some instances are much chattier).
    pub(crate) cum_weights: Vec<f64>,
    /// ENIs without an instance (NAT gateways, load balancers, endpoints, Lambda).
    pub(crate) service_enis: Vec<u32>,
    pub(crate) load_balancers: Vec<u32>,
    /// Dual-stack instances that use at least one service with an IPv6 address.
    pub(crate) v6_instances: Vec<u32>,
    pub(crate) vpcs: Vec<u32>,
    /// Route 53 Resolver inbound endpoint (`rslvr-in-…`, `rni-…`, VPC) for on-premises queries.
    pub(crate) resolver: Option<(Bytes, Bytes, u32)>,
    pub(crate) firewall: (Bytes, Bytes),
}

impl Cell {
    pub(crate) fn pick_instance(&self, rng: &mut impl Rng) -> Option<u32> {
        let total = *self.cum_weights.last()?;
        let x = rng.random::<f64>() * total;
        let i = self.cum_weights.partition_point(|&c| c <= x);
        Some(self.instances[i.min(self.instances.len() - 1)])
    }
}

pub(crate) struct Estate {
    pub(crate) regions: Vec<RegionInfo>,
    pub(crate) accounts: Vec<Bytes>,
    /// The Security Lake delegated administrator: owns the buckets.
    pub(crate) lake_account: String,
    pub(crate) vpcs: Vec<Vpc>,
    pub(crate) subnets: Vec<Subnet>,
    pub(crate) enis: Vec<Eni>,
    pub(crate) addrs: Vec<PrivAddr>,
    pub(crate) instances: Vec<Instance>,
    pub(crate) services: Vec<Service>,
    pub(crate) cells: Vec<Cell>,
    /// Names that do not resolve (typos, dead services).
    pub(crate) nx_names: Vec<Bytes>,
    pub(crate) used_v4: BTreeSet<u32>,
    /// Realistic estate only: the addresses of service `s` on day `d` (`pool_days[s][d]`), a
    /// daily rotation inside the service's provider ranges. Empty for the basic estate.
    pub(crate) pool_days: Vec<Vec<Vec<(u32, Bytes)>>>,
}

pub(crate) fn ipv4_text(v4: u32) -> Bytes {
    Bytes::from(Ipv4Addr::from(v4).to_string())
}

pub(crate) fn zone_prefix(region: &str) -> String {
    // us-east-1 -> use1, ap-southeast-2 -> apse2, eu-central-1 -> euc1.
    let parts: Vec<&str> = region.split('-').collect();
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i == 0 || i + 1 == parts.len() {
            out.push_str(p);
        } else {
            for dir in ["north", "south", "east", "west", "central"] {
                if let Some(rest) = p.strip_prefix(dir) {
                    out.push_str(&dir[..1]);
                    if !rest.is_empty() {
                        out.push_str(&rest[..1]);
                    }
                    break;
                }
            }
        }
    }
    out
}

fn internal_domain(region: &str) -> String {
    if region == "us-east-1" {
        "ec2.internal".to_string()
    } else {
        format!("{region}.compute.internal")
    }
}

impl Estate {
    pub(crate) fn build(
        rng: &mut impl Rng,
        accounts: usize,
        instances: usize,
        regions: &[String],
    ) -> Result<Estate, SimError> {
        let mut e = Estate::skeleton(rng, accounts, regions);
        e.build_services(rng);
        e.build_networks(rng)?;
        e.build_instances(rng, instances)?;
        e.build_peers(rng);
        e.add_nx_names(rng);
        Ok(e)
    }

    /// Regions (buckets, queues), the lake account and the member accounts: what every estate
    /// profile starts from, drawn in this order.
    pub(crate) fn skeleton(rng: &mut impl Rng, accounts: usize, regions: &[String]) -> Estate {
        let mut e = Estate {
            regions: Vec::new(),
            accounts: Vec::new(),
            lake_account: random_account(rng),
            vpcs: Vec::new(),
            subnets: Vec::new(),
            enis: Vec::new(),
            addrs: Vec::new(),
            instances: Vec::new(),
            services: Vec::new(),
            cells: Vec::new(),
            nx_names: Vec::new(),
            used_v4: BTreeSet::new(),
            pool_days: Vec::new(),
        };
        let subscriber_account = random_account(rng);
        for name in regions {
            let bucket = format!(
                "aws-security-data-lake-{name}-{}",
                random_lower_alnum(rng, 30)
            );
            let queue_arn = format!(
                "arn:aws:sqs:{name}:{subscriber_account}:AmazonSecurityLake-{}-Main-Queue",
                random_uuid(rng)
            );
            e.regions.push(RegionInfo {
                name: name.clone(),
                name_b: Bytes::from(name.clone()),
                bucket,
                queue_arn,
            });
        }
        let mut seen_accounts = BTreeSet::new();
        while e.accounts.len() < accounts {
            let a = random_account(rng);
            if a != e.lake_account && seen_accounts.insert(a.clone()) {
                e.accounts.push(Bytes::from(a));
            }
        }
        e
    }

    /// Names that do not resolve.
    pub(crate) fn add_nx_names(&mut self, rng: &mut impl Rng) {
        for i in 0..40 {
            let base = [
                "api", "cdn", "auth", "metrics", "status", "files", "sync", "edge",
            ][i % 8];
            self.nx_names.push(Bytes::from(format!(
                "{base}-{}.{}.",
                random_hex(rng, 4),
                [
                    "example-corp.com",
                    "internal.example.net",
                    "svc.cluster.local",
                    "example.org"
                ][i % 4]
            )));
        }
    }

    fn public_v4(&mut self, rng: &mut impl Rng, octets: &[u8]) -> u32 {
        loop {
            let first = octets[rng.random_range(0..octets.len())];
            let v = u32::from_be_bytes([
                first,
                rng.random_range(0..=255),
                rng.random_range(0..=255),
                rng.random_range(1..=254),
            ]);
            if self.used_v4.insert(v) {
                return v;
            }
        }
    }

    fn build_services(&mut self, rng: &mut impl Rng) {
        let mut specs: Vec<(String, u16, u8, Option<usize>)> = SAAS
            .iter()
            .map(|(n, p, proto)| (n.to_string(), *p, *proto, None))
            .collect();
        for r in 0..self.regions.len() {
            let region = self.regions[r].name.clone();
            for ep in AWS_ENDPOINTS {
                specs.push((format!("{ep}.{region}.amazonaws.com."), 443, 6, Some(r)));
            }
        }
        for i in 0..30 {
            specs.push((
                format!("api-{i}.partner{}.example.com.", i % 7),
                443,
                6,
                None,
            ));
        }
        for (name, port, proto, region) in specs {
            let n_v4 = if region.is_some() {
                rng.random_range(2..=4)
            } else {
                rng.random_range(1..=3)
            };
            let v4 = (0..n_v4)
                .map(|_| {
                    let v = self.public_v4(rng, SERVICE_OCTETS);
                    (v, ipv4_text(v))
                })
                .collect();
            let cname = rng
                .random_bool(0.25)
                .then(|| Bytes::from(format!("d{}.cloudfront.net.", random_lower_alnum(rng, 13))));
            let v6 = rng.random_bool(0.4).then(|| {
                let a = Ipv6Addr::new(
                    [0x2606, 0x2a04, 0x2600, 0x2620][rng.random_range(0..4)],
                    rng.random_range(0x1000..0xffff),
                    rng.random_range(0..0x100),
                    0,
                    0,
                    0,
                    rng.random_range(0..0xffff),
                    rng.random_range(1..0xffff),
                );
                Bytes::from(a.to_string())
            });
            self.services.push(Service {
                name: Bytes::from(name),
                cname,
                v4,
                v6,
                port,
                proto,
                region,
            });
        }
    }

    pub(crate) fn alloc_addr(
        &mut self,
        rng: &mut impl Rng,
        subnet: u32,
        eni: u32,
    ) -> Result<u32, SimError> {
        let (base, size) = {
            let s = &self.subnets[subnet as usize];
            (s.base, s.size)
        };
        // AWS reserves the first four addresses and the last one of every subnet.
        for _ in 0..10_000 {
            let v = base + rng.random_range(4..size - 1);
            if self.used_v4.insert(v) {
                let o = Ipv4Addr::from(v).octets();
                let region = {
                    let cell = self.vpc_cell(self.subnets[subnet as usize].vpc);
                    &self.regions[self.cells[cell].region].name
                };
                let idx = self.addrs.len() as u32;
                self.addrs.push(PrivAddr {
                    v4: v,
                    text: ipv4_text(v),
                    eni,
                    host_name: Bytes::from(format!(
                        "ip-{}-{}-{}-{}.{}.",
                        o[0],
                        o[1],
                        o[2],
                        o[3],
                        internal_domain(region)
                    )),
                    ptr_name: Bytes::from(format!(
                        "{}.{}.{}.{}.in-addr.arpa.",
                        o[3], o[2], o[1], o[0]
                    )),
                });
                return Ok(idx);
            }
        }
        Err(SimError::InvalidConfig(
            "private address space of a subnet is exhausted; use fewer instances".into(),
        ))
    }

    /// The cell a VPC belongs to (VPCs are created cell by cell, so a scan is fine at build time).
    fn vpc_cell(&self, vpc: u32) -> usize {
        self.cells
            .iter()
            .position(|c| c.vpcs.contains(&vpc))
            .unwrap_or(0)
    }

    pub(crate) fn new_eni(
        &mut self,
        rng: &mut impl Rng,
        subnet: u32,
        kind: EniKind,
    ) -> Result<u32, SimError> {
        let idx = self.enis.len() as u32;
        self.enis.push(Eni {
            id: Bytes::from(format!("eni-0{}", random_hex(rng, 16))),
            subnet,
            kind,
            addr: 0,
        });
        let addr = self.alloc_addr(rng, subnet, idx)?;
        self.enis[idx as usize].addr = addr;
        Ok(idx)
    }

    fn build_networks(&mut self, rng: &mut impl Rng) -> Result<(), SimError> {
        let mut next_ten = 1u32;
        for account in 0..self.accounts.len() {
            for region in 0..self.regions.len() {
                let cell_idx = self.cells.len();
                let zp = zone_prefix(&self.regions[region].name);
                let fw = (
                    Bytes::from(format!("rslvr-frg-{}", random_hex(rng, 17))),
                    Bytes::from(format!("rslvr-fdl-{}", random_hex(rng, 17))),
                );
                self.cells.push(Cell {
                    account,
                    region,
                    instances: Vec::new(),
                    cum_weights: Vec::new(),
                    service_enis: Vec::new(),
                    load_balancers: Vec::new(),
                    v6_instances: Vec::new(),
                    vpcs: Vec::new(),
                    resolver: None,
                    firewall: fw,
                });
                let n_vpcs = rng.random_range(1..=3);
                for v in 0..n_vpcs {
                    let default_vpc = v == 0 && rng.random_bool(0.5);
                    let (id, base, subnet_bits) = if default_vpc {
                        // Default VPCs still carry the old 8-hex ids.
                        (format!("vpc-{}", random_hex(rng, 8)), 0xAC1F_0000u32, 12)
                    } else {
                        if next_ten > 250 {
                            return Err(SimError::InvalidConfig(
                                "too many VPCs: use fewer accounts or regions (at most ~100 account-region pairs)".into(),
                            ));
                        }
                        let b = u32::from_be_bytes([10, next_ten as u8, 0, 0]);
                        next_ten += 1;
                        (format!("vpc-0{}", random_hex(rng, 16)), b, 12)
                    };
                    let vpc_idx = self.vpcs.len() as u32;
                    let v6_prefix = rng.random_bool(0.5).then(|| {
                        [
                            0x2600,
                            0x1f18 + rng.random_range(0..0x10),
                            rng.random_range(0..0xffff),
                            rng.random_range(0..0x100) << 8,
                        ]
                    });
                    self.vpcs.push(Vpc {
                        id: Bytes::from(id),
                        v6_prefix,
                    });
                    self.cells[cell_idx].vpcs.push(vpc_idx);
                    let n_subnets = rng.random_range(2..=4u32);
                    let mut azs: Vec<u32> = (1..=6).collect();
                    azs.shuffle(rng);
                    let first_subnet = self.subnets.len() as u32;
                    for s in 0..n_subnets {
                        self.subnets.push(Subnet {
                            id: Bytes::from(format!("subnet-0{}", random_hex(rng, 16))),
                            vpc: vpc_idx,
                            zone: Bytes::from(format!("{zp}-az{}", azs[s as usize])),
                            base: base + (s << subnet_bits),
                            size: 1 << subnet_bits,
                        });
                    }
                    // Infrastructure ENIs: what makes `instance_uid = "-"` rows.
                    let nat = self.new_eni(rng, first_subnet, EniKind::NatGateway)?;
                    self.cells[cell_idx].service_enis.push(nat);
                    for s in 0..rng.random_range(1..=2u32) {
                        let lb =
                            self.new_eni(rng, first_subnet + s % n_subnets, EniKind::LoadBalancer)?;
                        self.cells[cell_idx].service_enis.push(lb);
                        self.cells[cell_idx].load_balancers.push(lb);
                    }
                    let vpce = self.new_eni(rng, first_subnet + 1, EniKind::VpcEndpoint)?;
                    self.cells[cell_idx].service_enis.push(vpce);
                    if rng.random_bool(0.6) {
                        let subnet = first_subnet + rng.random_range(0..n_subnets);
                        let lambda = self.new_eni(rng, subnet, EniKind::Lambda)?;
                        self.cells[cell_idx].service_enis.push(lambda);
                    }
                }
                if rng.random_bool(0.6) {
                    let vpcs = &self.cells[cell_idx].vpcs;
                    let vpc = vpcs[rng.random_range(0..vpcs.len())];
                    self.cells[cell_idx].resolver = Some((
                        Bytes::from(format!("rslvr-in-{}", random_hex(rng, 17))),
                        Bytes::from(format!("rni-{}", random_hex(rng, 17))),
                        vpc,
                    ));
                }
            }
        }
        Ok(())
    }

    fn build_instances(&mut self, rng: &mut impl Rng, n: usize) -> Result<(), SimError> {
        let n_regions = self.regions.len();
        for i in 0..n {
            // Round-robin over accounts so every account has instances when n >= accounts.
            let account = i % self.accounts.len();
            let region = rng.random_range(0..n_regions);
            let cell = (account * n_regions + region) as u32;
            let vpcs = self.cells[cell as usize].vpcs.clone();
            // The first VPC of a cell holds most of the fleet.
            let vpc = if rng.random_bool(0.6) {
                vpcs[0]
            } else {
                vpcs[rng.random_range(0..vpcs.len())]
            };
            let subnets: Vec<u32> = (0..self.subnets.len() as u32)
                .filter(|&s| self.subnets[s as usize].vpc == vpc)
                .collect();
            let idx = self.instances.len() as u32;
            let subnet = subnets[rng.random_range(0..subnets.len())];
            let eni = self.new_eni(rng, subnet, EniKind::Instance)?;
            let mut addrs = vec![self.enis[eni as usize].addr];
            let r = rng.random::<f64>();
            if r < 0.15 {
                // A secondary private address on the primary ENI.
                addrs.push(self.alloc_addr(rng, subnet, eni)?);
            } else if r < 0.30 {
                // A second ENI, possibly in another subnet of the VPC.
                let s2 = subnets[rng.random_range(0..subnets.len())];
                let eni2 = self.new_eni(rng, s2, EniKind::Instance)?;
                addrs.push(self.enis[eni2 as usize].addr);
            }
            let v6 = self.vpcs[vpc as usize].v6_prefix.and_then(|p| {
                rng.random_bool(0.7).then(|| {
                    let a = Ipv6Addr::new(
                        p[0],
                        p[1],
                        p[2],
                        p[3] | rng.random_range(0..0x100),
                        rng.random(),
                        rng.random(),
                        rng.random(),
                        rng.random(),
                    );
                    Bytes::from(a.to_string())
                })
            });
            let web_port = rng
                .random_bool(0.3)
                .then(|| [443, 443, 80, 8080][rng.random_range(0..4)]);
            self.instances.push(Instance {
                id: Bytes::from(format!("i-0{}", random_hex(rng, 16))),
                cell,
                vpc,
                addrs,
                v6,
                web_port,
                services: Vec::new(),
                peers: Vec::new(),
            });
            let c = &mut self.cells[cell as usize];
            // Log-normal-ish activity: a few instances dominate, as in real fleets.
            let w = (rng.random::<f64>() * 3.0).exp();
            let prev = c.cum_weights.last().copied().unwrap_or(0.0);
            c.instances.push(idx);
            c.cum_weights.push(prev + w);
        }
        Ok(())
    }

    fn build_peers(&mut self, rng: &mut impl Rng) {
        let n_services = self.services.len();
        for i in 0..self.instances.len() {
            let region = self.cells[self.instances[i].cell as usize].region;
            let mut candidates: Vec<u32> = (0..n_services as u32)
                .filter(|&s| self.services[s as usize].region.is_none_or(|r| r == region))
                .collect();
            candidates.shuffle(rng);
            let k = rng.random_range(3..=8).min(candidates.len());
            candidates.truncate(k);
            // Every instance talks to its region's S3 and SSM endpoints (agents, artefacts).
            for name in ["s3.", "ssm."] {
                if let Some(s) = (0..n_services as u32).find(|&s| {
                    let svc = &self.services[s as usize];
                    svc.region == Some(region) && svc.name.starts_with(name.as_bytes())
                }) && !candidates.contains(&s)
                {
                    candidates.push(s);
                }
            }
            self.instances[i].services = candidates;

            let cell = &self.cells[self.instances[i].cell as usize];
            let vpc = self.instances[i].vpc;
            let same_vpc: Vec<u32> = cell
                .instances
                .iter()
                .copied()
                .filter(|&j| j as usize != i && self.instances[j as usize].vpc == vpc)
                .collect();
            let mut peers = Vec::new();
            for _ in 0..rng.random_range(0..=3) {
                if same_vpc.is_empty() {
                    break;
                }
                let j = same_vpc[rng.random_range(0..same_vpc.len())];
                let port = INTERNAL_PORTS[rng.random_range(0..INTERNAL_PORTS.len())];
                if !peers.iter().any(|&(p, _)| p == j) {
                    peers.push((j, port));
                }
            }
            self.instances[i].peers = peers;
            let inst = &self.instances[i];
            if inst.v6.is_some()
                && inst
                    .services
                    .iter()
                    .any(|&s| self.services[s as usize].v6.is_some())
            {
                self.cells[inst.cell as usize].v6_instances.push(i as u32);
            }
        }
    }

    /// A random client/scanner address (never an estate address, never an unseen network).
    pub(crate) fn client_v4(rng: &mut impl Rng) -> u32 {
        let first = CLIENT_OCTETS[rng.random_range(0..CLIENT_OCTETS.len())];
        u32::from_be_bytes([
            first,
            rng.random_range(0..=255),
            rng.random_range(0..=255),
            rng.random_range(1..=254),
        ])
    }

    /// A random on-premises address (queries arriving through a Resolver inbound endpoint).
    pub(crate) fn on_prem_v4(rng: &mut impl Rng) -> u32 {
        u32::from_be_bytes([
            192,
            168,
            rng.random_range(0..=255),
            rng.random_range(1..=254),
        ])
    }

    /// An address from a network no row of the estate ever uses.
    pub(crate) fn unseen_v4(&self, rng: &mut impl Rng) -> u32 {
        loop {
            let first = UNSEEN_OCTETS[rng.random_range(0..UNSEEN_OCTETS.len())];
            let v = u32::from_be_bytes([
                first,
                rng.random_range(0..=255),
                rng.random_range(0..=255),
                rng.random_range(1..=254),
            ]);
            if !self.used_v4.contains(&v) {
                return v;
            }
        }
    }

    pub(crate) fn subnet(&self, eni: u32) -> &Subnet {
        &self.subnets[self.enis[eni as usize].subnet as usize]
    }

    pub(crate) fn vpc_id_of_eni(&self, eni: u32) -> Bytes {
        self.vpcs[self.subnet(eni).vpc as usize].id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_prefixes() {
        assert_eq!(zone_prefix("us-east-1"), "use1");
        assert_eq!(zone_prefix("ap-southeast-2"), "apse2");
        assert_eq!(zone_prefix("eu-central-1"), "euc1");
        assert_eq!(zone_prefix("us-west-2"), "usw2");
    }

    #[test]
    fn octet_pools_are_disjoint() {
        for o in UNSEEN_OCTETS {
            assert!(
                !SERVICE_OCTETS.contains(o) && !CLIENT_OCTETS.contains(o),
                "{o}"
            );
        }
    }
}
