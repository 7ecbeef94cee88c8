//! The realistic estate: per account and region one VPC with five tiers (web, app, database,
//! batch, bastion), each in its own subnets, with habits shared by the tier's instances; AWS and
//! SaaS services whose addresses rotate daily inside their provider's ranges; and autoscaling
//! churn of the web and batch tiers.
//!
//! Everything, including every instance that will ever exist and every day's service addresses,
//! is drawn once from the estate's random stream, so objects can be written in any order.

use std::collections::BTreeSet;

use bytes::Bytes;
use rand::Rng;
use rand::seq::SliceRandom;

use super::estate::{
    Cell, EniKind, Estate, Instance, Service, Subnet, Vpc, ipv4_text, zone_prefix,
};
use super::util::random_hex;
use super::{SimConfig, SimError};

/// The role of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tier {
    Web,
    App,
    Database,
    Batch,
    Bastion,
}

impl Tier {
    pub(crate) const ALL: [Tier; 5] = [
        Tier::Web,
        Tier::App,
        Tier::Database,
        Tier::Batch,
        Tier::Bastion,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Tier::Web => "web",
            Tier::App => "app",
            Tier::Database => "database",
            Tier::Batch => "batch",
            Tier::Bastion => "bastion",
        }
    }

    /// Web and batch instances are replaced every day (autoscaling churn).
    pub(crate) fn churns(self) -> bool {
        matches!(self, Tier::Web | Tier::Batch)
    }

    /// Web, app and batch run in Auto Scaling groups; databases and the bastion are fixed hosts.
    pub(crate) fn autoscaled(self) -> bool {
        matches!(self, Tier::Web | Tier::App | Tier::Batch)
    }

    /// The tiers whose instances this tier exchanges traffic with, in either direction (so an
    /// instance of this tier is seen with their addresses in normal traffic).
    pub(crate) fn contacts(self) -> &'static [Tier] {
        match self {
            Tier::Web => &[Tier::App],
            Tier::App => &[Tier::Web, Tier::Database, Tier::Bastion],
            Tier::Database => &[Tier::App, Tier::Bastion],
            Tier::Batch => &[],
            Tier::Bastion => &[Tier::App, Tier::Database],
        }
    }

    fn subnets(self) -> u32 {
        match self {
            Tier::Web | Tier::App | Tier::Database => 2,
            Tier::Batch | Tier::Bastion => 1,
        }
    }
}

/// AWS services of a region: name, /16 networks (first two octets) of its pool, addresses in
/// use per day. The second octet moves by 13 per further region.
type AwsPool = (&'static str, &'static [(u8, u8)], usize);
const AWS_POOLS: &[AwsPool] = &[
    ("s3", &[(52, 216), (52, 217), (3, 5)], 24),
    ("dynamodb", &[(3, 218), (52, 94)], 10),
    ("sts", &[(54, 239)], 4),
    ("sqs", &[(3, 227)], 6),
    ("secretsmanager", &[(52, 46)], 4),
    ("logs", &[(3, 236)], 6),
];

/// SaaS APIs: name, /20 network (first three octets), addresses in use per day.
const SAAS_POOLS: &[(&str, [u8; 3], usize)] = &[
    ("api.github.com.", [140, 82, 112], 3),
    ("api.datadoghq.com.", [3, 233, 144], 6),
    ("api.stripe.com.", [54, 187, 208], 4),
    ("hooks.slack.com.", [44, 237, 176], 3),
    ("o450912.ingest.sentry.io.", [34, 120, 192], 3),
    ("pypi.org.", [151, 101, 0], 4),
    ("api.openai.com.", [104, 18, 32], 4),
];

/// The SaaS APIs an app tier picks three of.
const APP_SAAS: &[&str] = &[
    "api.github.com.",
    "api.datadoghq.com.",
    "api.stripe.com.",
    "hooks.slack.com.",
    "o450912.ingest.sentry.io.",
    "api.openai.com.",
];

/// Weighted AWS services of the app and batch tiers.
const APP_AWS: &[(&str, f64)] = &[
    ("s3", 3.0),
    ("dynamodb", 2.0),
    ("sqs", 2.0),
    ("sts", 1.0),
    ("secretsmanager", 1.0),
    ("logs", 1.0),
];
const BATCH_AWS: &[(&str, f64)] = &[
    ("s3", 12.0),
    ("sqs", 2.0),
    ("dynamodb", 1.0),
    ("sts", 1.0),
    ("logs", 1.0),
];
const BATCH_SAAS: &[&str] = &["api.datadoghq.com.", "pypi.org."];

/// Database engines: port per database instance, round-robin.
pub(crate) const DB_PORTS: [u16; 3] = [5432, 3306, 6379];

/// Share of a churning tier replaced every day.
const CHURN: f64 = 0.3;

/// A pool of service addresses (one estate service).
struct PoolSpec {
    /// (network, prefix length).
    nets: Vec<(u32, u8)>,
    per_day: usize,
}

/// A tier of one cell: its subnets, habits and every instance it ever had.
pub(crate) struct Group {
    pub(crate) cell: u32,
    pub(crate) tier: Tier,
    /// `asg-web-<account>` for autoscaled tiers, `database-<account>` otherwise (with the
    /// region appended when the estate has several).
    pub(crate) name: String,
    pub(crate) subnets: Vec<u32>,
    /// The port the tier serves on (web 443, app 8080 or 443, bastion 22; databases have one
    /// per instance), 0 for batch.
    pub(crate) port: u16,
    /// Every instance ever in the group, in launch order.
    pub(crate) members: Vec<u32>,
    /// Services the tier uses (indices into `Estate::services`) with their weights.
    pub(crate) services: Vec<(u32, f64)>,
}

/// When an instance exists and how chatty it is.
pub(crate) struct Life {
    pub(crate) group: u32,
    /// First day index it exists.
    pub(crate) born: u32,
    /// First day index it no longer exists (`u32::MAX`: never terminated).
    pub(crate) died: u32,
    /// Per-instance volume.
    pub(crate) weight: f64,
    /// The port it serves on.
    pub(crate) port: u16,
}

/// What the realistic estate adds to a cell.
pub(crate) struct CellWorld {
    pub(crate) vpc: u32,
    /// `10.x.0.0` of the VPC's /16.
    pub(crate) vpc_base: u32,
    /// Group per tier ([`Tier::index`]).
    pub(crate) groups: [u32; 5],
    /// Internet clients that come back (the rest appear once).
    pub(crate) clients: Vec<u32>,
    /// Administrators' addresses, the only sources of SSH to the bastion.
    pub(crate) offices: Vec<u32>,
}

pub(crate) struct World {
    pub(crate) estate: Estate,
    pub(crate) groups: Vec<Group>,
    /// Per instance (parallel to `Estate::instances`).
    pub(crate) life: Vec<Life>,
    /// Per cell (parallel to `Estate::cells`).
    pub(crate) cells: Vec<CellWorld>,
    /// Per day index, the instances launched that day (empty for the first day: the initial
    /// fleet).
    pub(crate) launched: Vec<Vec<u32>>,
    /// `first octet << 8 | second octet` of every /16 a service pool uses.
    pub(crate) pool_nets: BTreeSet<u32>,
    /// Whether a service is a SaaS API (not AWS).
    pub(crate) saas: Vec<bool>,
}

/// Amazon Time Sync, the instances' NTP server.
pub(crate) const NTP_V4: u32 = u32::from_be_bytes([169, 254, 169, 123]);

fn v4(o: [u8; 4]) -> u32 {
    u32::from_be_bytes(o)
}

impl World {
    pub(crate) fn build(rng: &mut impl Rng, cfg: &SimConfig) -> Result<World, SimError> {
        let cells = cfg.accounts * cfg.regions.len();
        if cfg.instances < 5 * cells {
            return Err(SimError::InvalidConfig(format!(
                "the realistic estate needs at least 5 instances per account and region \
                 (one per tier): at least {} here",
                5 * cells
            )));
        }
        let estate = Estate::skeleton(rng, cfg.accounts, &cfg.regions);
        let mut w = World {
            estate,
            groups: Vec::new(),
            life: Vec::new(),
            cells: Vec::new(),
            launched: vec![Vec::new(); cfg.days as usize],
            pool_nets: BTreeSet::new(),
            saas: Vec::new(),
        };
        let specs = w.build_services();
        w.build_pools(rng, &specs, cfg.days);
        let mut ids = BTreeSet::new();
        for cell in 0..cells {
            let n = cfg.instances / cells + usize::from(cell < cfg.instances % cells);
            w.build_cell(rng, cell, n, &mut ids)?;
        }
        w.churn(rng, cfg.days, &mut ids)?;
        w.estate.add_nx_names(rng);
        Ok(w)
    }

    fn build_services(&mut self) -> Vec<PoolSpec> {
        let mut specs = Vec::new();
        for r in 0..self.estate.regions.len() {
            let region = self.estate.regions[r].name.clone();
            for (name, nets, per_day) in AWS_POOLS {
                let nets = nets
                    .iter()
                    .map(|&(a, b)| (v4([a, b.wrapping_add((13 * r % 256) as u8), 0, 0]), 16))
                    .collect();
                self.push_service(format!("{name}.{region}.amazonaws.com."), Some(r), false);
                specs.push(PoolSpec {
                    nets,
                    per_day: *per_day,
                });
            }
        }
        for (name, net, per_day) in SAAS_POOLS {
            self.push_service(name.to_string(), None, true);
            specs.push(PoolSpec {
                nets: vec![(v4([net[0], net[1], net[2], 0]), 20)],
                per_day: *per_day,
            });
        }
        for spec in &specs {
            for &(net, _) in &spec.nets {
                self.pool_nets.insert(net >> 16);
            }
        }
        specs
    }

    fn push_service(&mut self, name: String, region: Option<usize>, saas: bool) {
        self.estate.services.push(Service {
            name: Bytes::from(name),
            cname: None,
            v4: Vec::new(),
            v6: None,
            port: 443,
            proto: 6,
            region,
        });
        self.saas.push(saas);
    }

    /// Every day's addresses of every pool: new /32s each day inside the same networks.
    fn build_pools(&mut self, rng: &mut impl Rng, specs: &[PoolSpec], days: u32) {
        for spec in specs {
            let mut per_day = Vec::with_capacity(days as usize);
            for _ in 0..days {
                let mut seen = BTreeSet::new();
                let mut addrs = Vec::with_capacity(spec.per_day);
                while addrs.len() < spec.per_day {
                    let (net, len) = spec.nets[rng.random_range(0..spec.nets.len())];
                    let host = rng.random_range(1..(1u32 << (32 - len)) - 1);
                    let a = net | host;
                    if a & 0xff != 0 && a & 0xff != 255 && seen.insert(a) {
                        addrs.push((a, ipv4_text(a)));
                    }
                }
                per_day.push(addrs);
            }
            self.estate.pool_days.push(per_day);
        }
    }

    fn service(&self, name: &str, region: usize) -> Option<u32> {
        let region_name = &self.estate.regions[region].name;
        let full = format!("{name}.{region_name}.amazonaws.com.");
        (0..self.estate.services.len() as u32).find(|&s| {
            let n = &self.estate.services[s as usize].name;
            n.as_ref() == full.as_bytes() || n.as_ref() == name.as_bytes()
        })
    }

    fn build_cell(
        &mut self,
        rng: &mut impl Rng,
        cell: usize,
        n: usize,
        ids: &mut BTreeSet<Bytes>,
    ) -> Result<(), SimError> {
        let n_regions = self.estate.regions.len();
        let (account, region) = (cell / n_regions, cell % n_regions);
        if cell >= 250 {
            return Err(SimError::InvalidConfig(
                "too many account-region pairs for the realistic estate".into(),
            ));
        }
        let zp = zone_prefix(&self.estate.regions[region].name);
        let firewall = (
            Bytes::from(format!("rslvr-frg-{}", random_hex(rng, 17))),
            Bytes::from(format!("rslvr-fdl-{}", random_hex(rng, 17))),
        );
        let vpc = self.estate.vpcs.len() as u32;
        self.estate.vpcs.push(Vpc {
            id: Bytes::from(format!("vpc-0{}", random_hex(rng, 16))),
            v6_prefix: None,
        });
        self.estate.cells.push(Cell {
            account,
            region,
            instances: Vec::new(),
            cum_weights: Vec::new(),
            service_enis: Vec::new(),
            load_balancers: Vec::new(),
            v6_instances: Vec::new(),
            vpcs: vec![vpc],
            resolver: None,
            firewall,
        });
        let vpc_base = v4([10, (cell + 1) as u8, 0, 0]);
        let mut azs: Vec<u32> = (1..=6).collect();
        azs.shuffle(rng);
        let account_id = String::from_utf8_lossy(&self.estate.accounts[account]).into_owned();
        let suffix = if n_regions > 1 {
            format!("{account_id}-{}", self.estate.regions[region].name)
        } else {
            account_id
        };
        let mut slot = 0u32;
        let mut groups = [0u32; 5];
        for tier in Tier::ALL {
            let mut subnets = Vec::new();
            for k in 0..tier.subnets() {
                subnets.push(self.estate.subnets.len() as u32);
                self.estate.subnets.push(Subnet {
                    id: Bytes::from(format!("subnet-0{}", random_hex(rng, 16))),
                    vpc,
                    zone: Bytes::from(format!("{zp}-az{}", azs[k as usize])),
                    base: vpc_base + (slot << 12),
                    size: 1 << 12,
                });
                slot += 1;
            }
            let port = match tier {
                Tier::Web => 443,
                Tier::App => [8080, 443][rng.random_range(0..2)],
                Tier::Bastion => 22,
                Tier::Database | Tier::Batch => 0,
            };
            let mut services = Vec::new();
            let (aws, saas): (&[(&str, f64)], Vec<&str>) = match tier {
                Tier::App => {
                    let mut s = APP_SAAS.to_vec();
                    s.shuffle(rng);
                    s.truncate(3);
                    (APP_AWS, s)
                }
                Tier::Batch => (BATCH_AWS, BATCH_SAAS.to_vec()),
                _ => (&[], Vec::new()),
            };
            for (name, weight) in aws {
                if let Some(s) = self.service(name, region) {
                    services.push((s, *weight));
                }
            }
            for name in saas {
                if let Some(s) = self.service(name, region) {
                    services.push((s, 1.0));
                }
            }
            groups[tier.index()] = self.groups.len() as u32;
            self.groups.push(Group {
                cell: cell as u32,
                tier,
                name: if tier.autoscaled() {
                    format!("asg-{}-{suffix}", tier.name())
                } else {
                    format!("{}-{suffix}", tier.name())
                },
                subnets,
                port,
                members: Vec::new(),
                services,
            });
        }
        let clients = (0..400).map(|_| Estate::client_v4(rng)).collect();
        let offices = (0..3).map(|_| Estate::client_v4(rng)).collect();
        self.cells.push(CellWorld {
            vpc,
            vpc_base,
            groups,
            clients,
            offices,
        });

        let db = (n * 12 / 100).max(1);
        let batch = (n / 5).max(1);
        let web = (n * 3 / 10).max(1);
        let app = n - 1 - db - batch - web;
        for (tier, count) in [
            (Tier::Web, web),
            (Tier::App, app),
            (Tier::Database, db),
            (Tier::Batch, batch),
            (Tier::Bastion, 1),
        ] {
            for _ in 0..count {
                self.launch(rng, groups[tier.index()], 0, ids)?;
            }
        }
        Ok(())
    }

    /// A new instance of `group`, existing from day `born`.
    fn launch(
        &mut self,
        rng: &mut impl Rng,
        group: u32,
        born: u32,
        ids: &mut BTreeSet<Bytes>,
    ) -> Result<u32, SimError> {
        let (cell, tier, subnet, port) = {
            let g = &self.groups[group as usize];
            let subnet = g.subnets[rng.random_range(0..g.subnets.len())];
            let port = if g.tier == Tier::Database {
                DB_PORTS[g.members.len() % DB_PORTS.len()]
            } else {
                g.port
            };
            (g.cell, g.tier, subnet, port)
        };
        let eni = self.estate.new_eni(rng, subnet, EniKind::Instance)?;
        let addr = self.estate.enis[eni as usize].addr;
        let id = loop {
            let id = Bytes::from(format!("i-0{}", random_hex(rng, 16)));
            if ids.insert(id.clone()) {
                break id;
            }
        };
        let idx = self.estate.instances.len() as u32;
        let services = self.groups[group as usize]
            .services
            .iter()
            .map(|s| s.0)
            .collect();
        self.estate.instances.push(Instance {
            id,
            cell,
            vpc: self.cells[cell as usize].vpc,
            addrs: vec![addr],
            v6: None,
            web_port: (tier == Tier::Web).then_some(port),
            services,
            peers: Vec::new(),
        });
        let weight = (rng.random::<f64>() * 1.6).exp();
        self.life.push(Life {
            group,
            born,
            died: u32::MAX,
            weight,
            port,
        });
        let c = &mut self.estate.cells[cell as usize];
        let prev = c.cum_weights.last().copied().unwrap_or(0.0);
        c.instances.push(idx);
        c.cum_weights.push(prev + weight);
        self.groups[group as usize].members.push(idx);
        if born > 0 {
            self.launched[born as usize].push(idx);
        }
        Ok(idx)
    }

    /// Every day after the first, [`CHURN`] of each web and batch group is terminated and
    /// replaced by new instances in the same subnets.
    fn churn(
        &mut self,
        rng: &mut impl Rng,
        days: u32,
        ids: &mut BTreeSet<Bytes>,
    ) -> Result<(), SimError> {
        for day in 1..days {
            for g in 0..self.groups.len() as u32 {
                if !self.groups[g as usize].tier.churns() {
                    continue;
                }
                let mut alive: Vec<u32> = self.groups[g as usize]
                    .members
                    .iter()
                    .copied()
                    .filter(|&i| self.life[i as usize].died == u32::MAX)
                    .collect();
                let k = ((alive.len() as f64 * CHURN).round() as usize).max(1);
                alive.shuffle(rng);
                for &old in alive.iter().take(k) {
                    self.life[old as usize].died = day;
                }
                for _ in 0..k {
                    self.launch(rng, g, day, ids)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn alive(&self, i: u32, day: u32) -> bool {
        let l = &self.life[i as usize];
        l.born <= day && day < l.died
    }

    pub(crate) fn tier_of(&self, i: u32) -> Tier {
        self.groups[self.life[i as usize].group as usize].tier
    }

    /// The alive instances of tier `tier` in `cell` on `day`.
    pub(crate) fn alive_in(&self, cell: u32, tier: Tier, day: u32) -> Vec<u32> {
        let g = self.cells[cell as usize].groups[tier.index()];
        self.groups[g as usize]
            .members
            .iter()
            .copied()
            .filter(|&i| self.alive(i, day))
            .collect()
    }

    /// The primary private address of instance `i` (index into `Estate::addrs`).
    pub(crate) fn addr_of(&self, i: u32) -> u32 {
        self.estate.instances[i as usize].addrs[0]
    }

    pub(crate) fn v4_of(&self, i: u32) -> u32 {
        self.estate.addrs[self.addr_of(i) as usize].v4
    }

    /// The subnet id of instance `i`.
    pub(crate) fn subnet_id(&self, i: u32) -> String {
        let eni = self.estate.addrs[self.addr_of(i) as usize].eni;
        String::from_utf8_lossy(&self.estate.subnet(eni).id).into_owned()
    }

    /// `groups.csv`: `instance_id,group`, one row per instance that ever existed.
    pub(crate) fn groups_csv(&self) -> String {
        let mut out = String::from("instance_id,group\n");
        for (i, inst) in self.estate.instances.iter().enumerate() {
            out.push_str(&String::from_utf8_lossy(&inst.id));
            out.push(',');
            out.push_str(&self.groups[self.life[i].group as usize].name);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::estate::{CLIENT_OCTETS, UNSEEN_OCTETS};
    use super::*;

    #[test]
    fn pools_avoid_client_and_unseen_networks() {
        let firsts: Vec<u8> = AWS_POOLS
            .iter()
            .flat_map(|p| p.1.iter().map(|n| n.0))
            .chain(SAAS_POOLS.iter().map(|p| p.1[0]))
            .collect();
        for o in firsts {
            assert!(
                !UNSEEN_OCTETS.contains(&o) && !CLIENT_OCTETS.contains(&o),
                "{o}"
            );
        }
        for name in APP_SAAS.iter().chain(BATCH_SAAS) {
            assert!(SAAS_POOLS.iter().any(|p| p.0 == *name), "{name}");
        }
    }
}
