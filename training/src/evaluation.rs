//! Detection quality on a simulated estate: the model's alerts and three simple rules on the
//! same scored pairs, per attack kind (recall, ROC AUC), with precision and alerts per day.
//!
//! The unit is a distinct (day, entity, address): an analyst reads one alert per instance and
//! address a day, however many objects carried it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;

use ipinsights::alert::AlertRule;
use ipinsights::auc::roc_auc;
use serde::Serialize;

/// One scored pair of a scored day, as the Lambda's scorer saw it.
#[derive(Debug, Clone)]
pub struct ScoredPair {
    pub day: String,
    /// The object that carried it: the fan-out rule counts per object, as the Lambda does.
    pub object: String,
    pub entity: String,
    pub ip: Ipv4Addr,
    /// The entity the model scored it as (the instance, or its group).
    pub scored_as: String,
    pub dot_product: f64,
}

/// A simple rule, judged against the pairs of the training window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The pair never seen for the entity.
    Pair,
    /// The address's /24 never seen for the entity.
    Slash24,
    /// The address's /16 never seen for the entity.
    Slash16,
}

impl Rule {
    pub const ALL: [Rule; 3] = [Rule::Pair, Rule::Slash24, Rule::Slash16];

    pub fn name(self) -> &'static str {
        match self {
            Rule::Pair => "rule: pair never seen",
            Rule::Slash24 => "rule: /24 never seen",
            Rule::Slash16 => "rule: /16 never seen",
        }
    }

    fn mask(self) -> u32 {
        match self {
            Rule::Pair => u32::MAX,
            Rule::Slash24 => 0xFFFF_FF00,
            Rule::Slash16 => 0xFFFF_0000,
        }
    }
}

/// What each entity (instance or group) was seen with in the training window.
#[derive(Debug, Default)]
pub struct History {
    seen: [HashSet<(String, u32)>; 3],
}

impl History {
    pub fn add(&mut self, entity: &str, ip: Ipv4Addr) {
        for (i, rule) in Rule::ALL.iter().enumerate() {
            self.seen[i].insert((entity.to_string(), u32::from(ip) & rule.mask()));
        }
    }

    /// Whether `rule` flags `entity` reaching `ip`.
    pub fn flags(&self, rule: Rule, entity: &str, ip: Ipv4Addr) -> bool {
        let i = Rule::ALL.iter().position(|r| *r == rule).unwrap_or(0);
        !self.seen[i].contains(&(entity.to_string(), u32::from(ip) & rule.mask()))
    }
}

/// A scored unit: (day, entity, address).
type Unit = (String, String, u32);

/// The attack pairs of the ground truth: (day, entity, address) -> kind.
pub type Attacks = HashMap<(String, String, Ipv4Addr), String>;

/// One scorer's line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct ScorerLine {
    pub scorer: String,
    pub alerts: usize,
    pub alerts_per_day: f64,
    /// `None` when there is no alert.
    pub precision: Option<f64>,
    /// Kinds with recall >= 0.8.
    pub kinds_caught: usize,
    /// Kinds with recall >= 0.9.
    pub kinds_at_0_9: usize,
    pub recall: BTreeMap<String, f64>,
}

/// Per attack kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindLine {
    pub kind: String,
    /// Attack pairs in the ground truth.
    pub pairs: usize,
    /// Of them, scored (the model knew the instance or its group).
    pub scored: usize,
    /// The model's ROC AUC against every normal pair scored.
    pub auc: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub days: usize,
    pub threshold: f64,
    /// The fan-out rule's threshold and size, when it was on.
    pub fanout_threshold: Option<f64>,
    pub fanout_min_addresses: Option<usize>,
    pub normal_pairs: usize,
    pub attack_pairs: usize,
    pub kinds: Vec<KindLine>,
    pub scorers: Vec<ScorerLine>,
}

/// Builds the report: the model's alerts are the units `rule` flags in any of their objects.
pub fn evaluate(
    scored: &[ScoredPair],
    attacks: &Attacks,
    history: &History,
    rule: &AlertRule,
    days: usize,
) -> Report {
    let mut by_object: BTreeMap<&str, Vec<&ScoredPair>> = BTreeMap::new();
    for p in scored {
        by_object.entry(p.object.as_str()).or_default().push(p);
    }
    let mut alerted: std::collections::BTreeSet<Unit> = Default::default();
    for pairs in by_object.values() {
        let alerts = rule.alerts(
            pairs
                .iter()
                .map(|p| (p.entity.as_str(), p.ip, p.dot_product)),
        );
        for (p, a) in pairs.iter().zip(alerts) {
            if a.is_some() {
                alerted.insert((p.day.clone(), p.entity.clone(), u32::from(p.ip)));
            }
        }
    }
    // Lowest score per unit; the entity the rules judge is the one the model scored as.
    let mut units: BTreeMap<Unit, (f64, String)> = BTreeMap::new();
    for p in scored {
        let key = (p.day.clone(), p.entity.clone(), u32::from(p.ip));
        let entry = units
            .entry(key)
            .or_insert((f64::INFINITY, p.scored_as.clone()));
        if p.dot_product < entry.0 {
            *entry = (p.dot_product, p.scored_as.clone());
        }
    }
    let kind_of =
        |(day, entity, ip): &Unit| attacks.get(&(day.clone(), entity.clone(), Ipv4Addr::from(*ip)));
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for kind in attacks.values() {
        *kinds.entry(kind.clone()).or_insert(0) += 1;
    }
    let normal: Vec<f64> = units
        .iter()
        .filter(|(k, _)| kind_of(k).is_none())
        .map(|(_, (s, _))| *s)
        .collect();
    let kind_lines = kinds
        .iter()
        .map(|(kind, &pairs)| {
            let positives: Vec<f64> = units
                .iter()
                .filter(|(k, _)| kind_of(k) == Some(kind))
                .map(|(_, (s, _))| *s)
                .collect();
            KindLine {
                kind: kind.clone(),
                pairs,
                scored: positives.len(),
                // Low scores are anomalous: normal pairs rank above attacks.
                auc: roc_auc(&normal, &positives),
            }
        })
        .collect();

    let line = |name: String, flagged: &dyn Fn(&Unit, f64, &str) -> bool| {
        let mut alerts = 0usize;
        let mut true_alerts = 0usize;
        let mut caught: BTreeMap<String, usize> = BTreeMap::new();
        for (key, (score, scored_as)) in &units {
            if !flagged(key, *score, scored_as) {
                continue;
            }
            alerts += 1;
            if let Some(kind) = kind_of(key) {
                true_alerts += 1;
                *caught.entry(kind.clone()).or_insert(0) += 1;
            }
        }
        let recall: BTreeMap<String, f64> = kinds
            .iter()
            .map(|(kind, &n)| {
                let c = caught.get(kind).copied().unwrap_or(0);
                (kind.clone(), c as f64 / n.max(1) as f64)
            })
            .collect();
        ScorerLine {
            scorer: name,
            alerts,
            alerts_per_day: alerts as f64 / days.max(1) as f64,
            precision: (alerts > 0).then(|| true_alerts as f64 / alerts as f64),
            kinds_caught: recall.values().filter(|r| **r >= 0.8).count(),
            kinds_at_0_9: recall.values().filter(|r| **r >= 0.9).count(),
            recall,
        }
    };
    let name = match rule.fanout {
        Some(f) => format!(
            "model ({:.4}; {}+ below {:.4})",
            rule.threshold, f.min_addresses, f.threshold
        ),
        None => format!("model (threshold {:.4})", rule.threshold),
    };
    let mut scorers = vec![line(name, &|unit, _, _| alerted.contains(unit))];
    for rule in Rule::ALL {
        scorers.push(line(
            rule.name().to_string(),
            &|(_, _, ip), _, scored_as| history.flags(rule, scored_as, Ipv4Addr::from(*ip)),
        ));
    }
    Report {
        days,
        threshold: rule.threshold,
        fanout_threshold: rule.fanout.map(|f| f.threshold),
        fanout_min_addresses: rule.fanout.map(|f| f.min_addresses),
        normal_pairs: normal.len(),
        attack_pairs: attacks.len(),
        kinds: kind_lines,
        scorers,
    }
}

impl Report {
    /// The report as a terminal table.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.kind.as_str()).collect();
        let _ = writeln!(
            out,
            "{} scored days, {} normal and {} attack (day, instance, address) pairs",
            self.days, self.normal_pairs, self.attack_pairs
        );
        let _ = writeln!(
            out,
            "{:<34} {:>7} {:>8} {:>9} {:>7}  recall per kind",
            "scorer", "alerts", "per day", "precision", "caught"
        );
        for s in &self.scorers {
            let recalls: Vec<String> = kinds
                .iter()
                .map(|k| format!("{:.2}", s.recall.get(*k).copied().unwrap_or(0.0)))
                .collect();
            let _ = writeln!(
                out,
                "{:<34} {:>7} {:>8.1} {:>9} {:>4}/{:<2}  {}",
                s.scorer,
                s.alerts,
                s.alerts_per_day,
                s.precision
                    .map(|p| format!("{p:.3}"))
                    .unwrap_or_else(|| "-".into()),
                s.kinds_caught,
                kinds.len(),
                recalls.join(" ")
            );
        }
        let _ = writeln!(out, "{:<34} {}", "kinds (in that order)", kinds.join(" "));
        for k in &self.kinds {
            let _ = writeln!(
                out,
                "  {:<22} {:>4} attack pairs, {:>4} scored, model ROC AUC {}",
                k.kind,
                k.pairs,
                k.scored,
                k.auc
                    .map(|a| format!("{a:.4}"))
                    .unwrap_or_else(|| "-".into())
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(day: &str, entity: &str, ip: &str, scored_as: &str, s: f64) -> ScoredPair {
        ScoredPair {
            day: day.into(),
            object: format!("{day}/object"),
            entity: entity.into(),
            ip: ip.parse().unwrap(),
            scored_as: scored_as.into(),
            dot_product: s,
        }
    }

    #[test]
    fn model_and_rules_on_the_same_pairs() {
        let mut history = History::default();
        history.add("i-1", "10.0.1.1".parse().unwrap());
        history.add("subnet-a", "52.94.1.1".parse().unwrap());
        let scored = vec![
            // Known pair, twice (two objects): one unit, its lowest score.
            sp("d1", "i-1", "10.0.1.1", "i-1", 3.0),
            sp("d1", "i-1", "10.0.1.1", "i-1", 2.5),
            // Same /24, new address.
            sp("d1", "i-1", "10.0.1.2", "i-1", 1.0),
            // A new instance scored as its group, known /16.
            sp("d1", "i-new", "52.94.7.7", "subnet-a", 0.5),
            // Attacks.
            sp("d1", "i-1", "5.5.5.5", "i-1", -3.0),
            sp("d2", "i-new", "6.6.6.6", "subnet-a", 0.2),
        ];
        let mut attacks = Attacks::new();
        attacks.insert(
            ("d1".into(), "i-1".into(), "5.5.5.5".parse().unwrap()),
            "c2".into(),
        );
        attacks.insert(
            ("d2".into(), "i-new".into(), "6.6.6.6".parse().unwrap()),
            "new".into(),
        );
        attacks.insert(
            ("d2".into(), "i-x".into(), "7.7.7.7".parse().unwrap()),
            "new".into(),
        );
        let r = evaluate(&scored, &attacks, &history, &AlertRule::threshold(0.3), 2);
        assert_eq!((r.normal_pairs, r.attack_pairs), (3, 3));
        let model = &r.scorers[0];
        // Below 0.3: the two attacks scored.
        assert_eq!(model.alerts, 2);
        assert_eq!(model.precision, Some(1.0));
        assert_eq!(model.recall["c2"], 1.0);
        assert_eq!(model.recall["new"], 0.5, "the unscored attack is a miss");
        assert_eq!(model.kinds_caught, 1);
        assert_eq!(model.alerts_per_day, 1.0);
        let pair_rule = &r.scorers[1];
        // Never seen: 10.0.1.2, 52.94.7.7 (for the group), and both attacks.
        assert_eq!(pair_rule.alerts, 4);
        assert_eq!(pair_rule.precision, Some(0.5));
        let s24 = &r.scorers[2];
        assert_eq!(s24.alerts, 3, "10.0.1.2 shares a /24");
        let s16 = &r.scorers[3];
        assert_eq!(s16.alerts, 2, "52.94.7.7 shares the group's /16");
        let c2 = r.kinds.iter().find(|k| k.kind == "c2").unwrap();
        assert_eq!(c2.auc, Some(1.0));
        let new = r.kinds.iter().find(|k| k.kind == "new").unwrap();
        assert_eq!((new.pairs, new.scored), (2, 1));
        assert!(r.render().contains("rule: /16 never seen"));
    }

    #[test]
    fn the_fanout_rule_counts_addresses_per_object_as_the_lambda_does() {
        use ipinsights::alert::Fanout;
        let rule = AlertRule {
            threshold: 0.0,
            fanout: Some(Fanout {
                threshold: 1.0,
                min_addresses: 3,
            }),
        };
        let scan = |object: &str, ip: &str| ScoredPair {
            object: object.into(),
            ..sp("d1", "i-web", ip, "i-web", 0.5)
        };
        let mut attacks = Attacks::new();
        for ip in ["10.2.1.1", "10.2.2.1", "10.2.3.1"] {
            attacks.insert(
                ("d1".into(), "i-web".into(), ip.parse().unwrap()),
                "internal_scan".into(),
            );
        }
        let history = History::default();
        // Three slightly unusual addresses in one object: a fan-out.
        let one: Vec<_> = ["10.2.1.1", "10.2.2.1", "10.2.3.1"]
            .iter()
            .map(|ip| scan("o1", ip))
            .collect();
        let r = evaluate(&one, &attacks, &history, &rule, 1);
        assert_eq!(r.scorers[0].alerts, 3);
        assert_eq!(r.scorers[0].recall["internal_scan"], 1.0);
        assert_eq!(r.fanout_min_addresses, Some(3));
        assert!(r.scorers[0].scorer.contains("3+ below 1.0000"));
        // The same addresses spread over three objects: none is an alert.
        let spread: Vec<_> = [("o1", "10.2.1.1"), ("o2", "10.2.2.1"), ("o3", "10.2.3.1")]
            .iter()
            .map(|(o, ip)| scan(o, ip))
            .collect();
        let r = evaluate(&spread, &attacks, &history, &rule, 1);
        assert_eq!(r.scorers[0].alerts, 0);
    }
}
