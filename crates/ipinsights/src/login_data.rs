//! A login data set generated as in SageMaker's `ipinsights_login` example
//! (`generate_data.py`), without its external ASN file.
//!
//! The example draws addresses from the ip2asn table of real autonomous systems, ordered by
//! address. Here an [`AsnTable`] of `num_asns` contiguous ranges covering `1.0.0.0` to
//! `223.255.255.255` is synthesised from the seed, with sizes log-uniform over a factor
//! of 256, so that neighbouring indices are neighbouring networks of mixed sizes as in the
//! real table. Then, as in the example, for every user:
//!
//! - a home ASN uniform over the table, and a work ASN uniform within ±50,000 indices of it
//!   (redrawn until it differs);
//! - `min(10,000, ⌊50·(Pareto(1) + 1)⌋)` login events (numpy's Lomax `pareto`);
//! - `p_travel ~ Beta(1, 30)`, `p_home ~ Beta(3, 5)`;
//! - per event: with probability `p_travel` a uniformly random ASN; otherwise home (with
//!   probability `p_home`) or work, moved by `⌊N(0, 10²)⌋` indices; then an address uniform
//!   in that ASN's range, and a time uniform over 10 days.
//!
//! The split is out-of-time as in the tutorial: events in the first 7 days train, the rest
//! test (keeping only users seen in training).

use std::net::Ipv4Addr;

use rayon::prelude::*;

use crate::data::Dataset;
use crate::rng::{self, Rng};

/// Parameters of the generator (defaults follow the example).
#[derive(Debug, Clone, PartialEq)]
pub struct LoginConfig {
    /// Users (`NUM_USERS = 10000` in the tutorial).
    pub num_users: usize,
    /// Synthetic autonomous systems.
    pub num_asns: usize,
    /// Cap on events per user (`MAX_NUM_OF_EVENTS`).
    pub max_events_per_user: usize,
    /// Days covered by the timestamps.
    pub days: u32,
    /// Leading days that go to the training set.
    pub train_days: u32,
    /// Seed of everything.
    pub seed: u64,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            num_users: 10_000,
            num_asns: 400_000,
            max_events_per_user: 10_000,
            days: 10,
            train_days: 7,
            seed: 0,
        }
    }
}

/// Half-width of the window the work ASN is drawn from (`HOME_WORK_DISTANCE_UNIFORM_WINDOW`).
pub const HOME_WORK_WINDOW: i64 = 50_000;
/// Standard deviation of the move around home or work, in ASN indices
/// (`HOME_WORK_LOCALITY_WINDOW_SIGMA`).
pub const LOCALITY_SIGMA: f64 = 10.0;

/// Contiguous address ranges standing in for the ip2asn table.
#[derive(Debug, Clone)]
pub struct AsnTable {
    /// First address of each range; range `i` ends just before `starts[i + 1]`.
    starts: Vec<u32>,
    /// One past the last address of the last range.
    end: u64,
}

impl AsnTable {
    /// `n` ranges covering 1.0.0.0–223.255.255.255, sizes log-uniform over ×256.
    pub fn synthesize(n: usize, seed: u64) -> Self {
        let n = n.max(1);
        let lo = 1u64 << 24;
        let hi = 224u64 << 24;
        let mut r = rng::rng(seed, 0xA5);
        let w: Vec<f64> = (0..n)
            .map(|_| (rng::unit(&mut r) * 256f64.ln()).exp())
            .collect();
        let total: f64 = w.iter().sum();
        let span = (hi - lo) as f64;
        let mut starts = Vec::with_capacity(n);
        let mut acc = 0f64;
        for x in &w {
            let s = lo + (acc / total * span) as u64;
            starts.push(s as u32);
            acc += x;
        }
        // Floors can only make a range empty when n approaches the span; guard anyway.
        for i in 1..n {
            if starts[i] <= starts[i - 1] {
                starts[i] = starts[i - 1] + 1;
            }
        }
        Self { starts, end: hi }
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether the table is empty (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// `(first, last)` address of range `i`.
    pub fn range(&self, i: usize) -> (u32, u32) {
        let start = self.starts[i];
        let next = self.starts.get(i + 1).map_or(self.end, |&s| u64::from(s));
        (start, (next - 1) as u32)
    }

    /// An address uniform within range `i` (`draw_ip_from_asn`).
    pub fn draw_ip(&self, i: usize, r: &mut Rng) -> u32 {
        let (a, b) = self.range(i);
        a + rng::below(r, u64::from(b - a) + 1) as u32
    }
}

/// The generated data.
#[derive(Debug, Clone)]
pub struct LoginData {
    /// Events of the training days.
    pub train: Dataset,
    /// Events of the remaining days, of users present in `train`.
    pub test: Vec<(String, Ipv4Addr)>,
    /// The ASN table the addresses were drawn from.
    pub asns: AsnTable,
}

/// The entity name of user `id` (`user_<id>`, as in the example's log lines).
pub fn user_name(id: usize) -> String {
    format!("user_{id}")
}

/// Generates the data set (in parallel over users; deterministic for a seed).
pub fn generate(cfg: &LoginConfig) -> LoginData {
    let asns = AsnTable::synthesize(cfg.num_asns, cfg.seed);
    let n = asns.len() as i64;
    let window = u64::from(cfg.days) * 86_400;
    let train_end = u64::from(cfg.train_days) * 86_400;
    let per_user: Vec<(Vec<u32>, Vec<u32>)> = (0..cfg.num_users)
        .into_par_iter()
        .map(|user| {
            let mut r = rng::rng(cfg.seed, (1 << 40) + user as u64);
            let home = rng::below(&mut r, n as u64) as i64;
            let mut work = home;
            while work == home {
                let x = home - HOME_WORK_WINDOW
                    + rng::below(&mut r, 2 * HOME_WORK_WINDOW as u64) as i64;
                work = x.rem_euclid(n);
            }
            let events = (50.0 / rng::unit_open0(&mut r)).floor();
            let events = (events.min(cfg.max_events_per_user as f64)) as usize;
            let p_travel = rng::beta_int(&mut r, 1, 30);
            let p_home = rng::beta_int(&mut r, 3, 5);
            let mut train = Vec::new();
            let mut test = Vec::new();
            for _ in 0..events {
                let asn = if rng::unit(&mut r) < p_travel {
                    rng::below(&mut r, n as u64) as i64
                } else {
                    let center = if rng::unit(&mut r) < p_home {
                        home
                    } else {
                        work
                    };
                    // numpy: int() truncates toward zero, then Python's % is non-negative.
                    let x = (center as f64 + LOCALITY_SIGMA * rng::normal(&mut r)).trunc() as i64;
                    x.rem_euclid(n)
                };
                let ip = asns.draw_ip(asn as usize, &mut r);
                let t = rng::below(&mut r, window);
                if t < train_end {
                    train.push(ip);
                } else {
                    test.push(ip);
                }
            }
            (train, test)
        })
        .collect();
    let mut train = Dataset::new();
    let mut test = Vec::new();
    for (user, (tr, te)) in per_user.into_iter().enumerate() {
        let name = user_name(user);
        for ip in &tr {
            train.push(&name, Ipv4Addr::from(*ip));
        }
        if !tr.is_empty() {
            test.extend(te.into_iter().map(|ip| (name.clone(), Ipv4Addr::from(ip))));
        }
    }
    LoginData { train, test, asns }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asn_table_partitions_the_space() {
        let t = AsnTable::synthesize(1000, 3);
        assert_eq!(t.len(), 1000);
        assert_eq!(t.range(0).0, 1 << 24);
        assert_eq!(t.range(999).1, (224u32 << 24) - 1);
        for i in 1..t.len() {
            assert_eq!(t.range(i).0, t.range(i - 1).1 + 1);
        }
    }

    #[test]
    fn generator_is_deterministic_and_plausible() {
        let cfg = LoginConfig {
            num_users: 200,
            num_asns: 20_000,
            seed: 5,
            ..Default::default()
        };
        let a = generate(&cfg);
        let b = generate(&cfg);
        assert_eq!(a.train.ips(), b.train.ips());
        assert_eq!(a.test, b.test);
        let total = a.train.len() + a.test.len();
        // E[events] ≈ 50·(1 + ln 200) ≈ 315 per user with the cap; heavy-tailed, so loose.
        assert!(total > 200 * 100 && total < 200 * 2000, "{total}");
        let frac_train = a.train.len() as f64 / total as f64;
        assert!((0.6..0.8).contains(&frac_train), "{frac_train}");
        assert!(a.test.iter().all(|(u, _)| a.train.contains_entity(u)));
    }
}
