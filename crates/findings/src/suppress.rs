//! Suppression rules: known-benign patterns that analysts silence, each with a reason, an owner
//! and an expiry (so that nothing stays silenced because it was forgotten).
//!
//! The file is YAML (so JSON too):
//!
//! ```yaml
//! suppressions:
//!   - id: nightly-backup
//!     account: "1111*"
//!     entity: "i-0abc*"
//!     cidr: 203.0.113.0/24
//!     port: [443, "8000-8100"]
//!     reason: backup to partner
//!     owner: netops@example.com
//!     expires: 2027-03-01
//! ```
//!
//! Parsing is strict on purpose: an unknown field (a typo such as `entitiy`) would otherwise be
//! ignored and silently widen the rule, so it is an error, as is a rule without any matcher.

use std::fmt;
use std::net::Ipv4Addr;

use serde_yaml::Value;

use crate::Subject;
use crate::labels::{DAY_MS, days_from_civil, parse_date, parse_rfc3339_ms};

/// Why a suppression file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SuppressError {
    /// Not YAML at all.
    #[error("not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// The document's shape is wrong (not a mapping with a `suppressions` list).
    #[error("{0}")]
    File(String),
    /// One field of one rule is wrong.
    #[error("{rule}, field `{field}`: {message}")]
    Rule {
        /// `rule "id" (#n)` or `rule #n`.
        rule: String,
        field: String,
        message: String,
    },
}

/// A glob over a whole string: `*` is any run of characters, `?` one character; case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    /// A glob from its pattern (any string is a valid pattern).
    pub fn new(pattern: impl Into<String>) -> Glob {
        Glob(pattern.into())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let p: Vec<char> = self.0.chars().collect();
        let t: Vec<char> = text.chars().collect();
        // Greedy with one backtrack point (the last `*`): linear in practice, never exponential.
        let (mut pi, mut ti) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                // The `*` takes one more character and the rest is tried again.
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|c| *c == '*')
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IPv4 network: an address and a prefix length (0 to 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    fn mask(prefix: u8) -> u32 {
        // A shift by 32 would overflow: /0 is the empty mask.
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        }
    }

    /// Parses `a.b.c.d/n` or a bare address (`/32`). Host bits must be zero: `10.0.0.5/8` is
    /// more likely a mistake than a way of writing `10.0.0.0/8`.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => {
                let prefix: u8 = p
                    .parse()
                    .ok()
                    .filter(|p| *p <= 32)
                    .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to 32"))?;
                (a, prefix)
            }
            None => (text, 32),
        };
        let network: Ipv4Addr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an IPv4 address or CIDR"))?;
        let mask = Cidr::mask(prefix);
        if u32::from(network) & !mask != 0 {
            return Err(format!(
                "{text:?} has host bits set: write {}/{prefix}",
                Ipv4Addr::from(u32::from(network) & mask)
            ));
        }
        Ok(Cidr { network, prefix })
    }

    /// Whether `ip` is in the network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = Cidr::mask(self.prefix);
        u32::from(ip) & mask == u32::from(self.network)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A port range, both ends included (one port is `n-n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    /// Whether `port` is in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// The pairings a rule may name (as in `Subject::pairing`).
pub const PAIRINGS: [&str; 4] = ["initiator", "src", "endpoint", "peer"];

/// One suppression rule. Every matcher given must match; a matcher not given matches anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The rule's `id`, or `rule-<n>` (its 1-based position) when the file gives none.
    pub id: String,
    pub account: Option<Glob>,
    pub entity: Option<Glob>,
    /// A subject without a group never matches a rule with one.
    pub group: Option<Glob>,
    /// Any of these networks (empty: any address).
    pub cidrs: Vec<Cidr>,
    /// Any of these ranges (empty: any port); a subject without a port never matches a rule
    /// with ports.
    pub ports: Vec<PortRange>,
    pub pairing: Option<String>,
    pub reason: String,
    pub owner: String,
    /// The first millisecond (Unix epoch) at which the rule no longer applies.
    pub expires_ms: i64,
}

impl Rule {
    /// Whether the rule matches `subject`, expiry aside.
    pub fn matches(&self, subject: &Subject<'_>) -> bool {
        self.account
            .as_ref()
            .is_none_or(|g| g.matches(subject.account))
            && self
                .entity
                .as_ref()
                .is_none_or(|g| g.matches(subject.entity))
            && self
                .group
                .as_ref()
                .is_none_or(|g| subject.group.is_some_and(|s| g.matches(s)))
            && (self.cidrs.is_empty() || self.cidrs.iter().any(|c| c.contains(subject.ip)))
            && (self.ports.is_empty()
                || subject
                    .port
                    .is_some_and(|p| self.ports.iter().any(|r| r.contains(p))))
            && self.pairing.as_deref().is_none_or(|p| p == subject.pairing)
    }

    /// Whether the rule has expired at `now_ms`.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        now_ms >= self.expires_ms
    }

    /// The matchers as `name=value` words (for listings and logs), e.g.
    /// `entity=i-0abc* cidr=203.0.113.0/24 port=443,8000-8100`.
    pub fn matchers(&self) -> String {
        let mut words = Vec::new();
        let join = |items: Vec<String>| items.join(",");
        if let Some(g) = &self.account {
            words.push(format!("account={g}"));
        }
        if let Some(g) = &self.entity {
            words.push(format!("entity={g}"));
        }
        if let Some(g) = &self.group {
            words.push(format!("group={g}"));
        }
        if !self.cidrs.is_empty() {
            words.push(format!(
                "cidr={}",
                join(self.cidrs.iter().map(|c| c.to_string()).collect())
            ));
        }
        if !self.ports.is_empty() {
            words.push(format!(
                "port={}",
                join(self.ports.iter().map(|p| p.to_string()).collect())
            ));
        }
        if let Some(p) = &self.pairing {
            words.push(format!("pairing={p}"));
        }
        words.join(" ")
    }
}

/// A parsed suppression file, rules in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SuppressionSet {
    rules: Vec<Rule>,
}

const FIELDS: [&str; 10] = [
    "id", "account", "entity", "group", "cidr", "port", "pairing", "reason", "owner", "expires",
];

impl SuppressionSet {
    /// Parses a suppression file (YAML or JSON). An empty `suppressions` list is valid.
    pub fn parse(text: &str) -> Result<SuppressionSet, SuppressError> {
        let doc: Value = serde_yaml::from_str(text)?;
        let Value::Mapping(top) = doc else {
            return Err(SuppressError::File(
                "the file must be a mapping with a `suppressions` list".into(),
            ));
        };
        for key in top.keys() {
            if key.as_str() != Some("suppressions") {
                return Err(SuppressError::File(format!(
                    "unknown top-level field {}: the file holds only `suppressions`",
                    show(key)
                )));
            }
        }
        let list = match top.get("suppressions") {
            Some(Value::Sequence(list)) => list,
            Some(Value::Null) => return Ok(SuppressionSet::default()),
            Some(_) => {
                return Err(SuppressError::File(
                    "`suppressions` must be a list of rules".into(),
                ));
            }
            None => {
                return Err(SuppressError::File(
                    "no `suppressions` list in the file".into(),
                ));
            }
        };
        let mut rules: Vec<Rule> = Vec::with_capacity(list.len());
        for (i, value) in list.iter().enumerate() {
            let rule = parse_rule(i + 1, value)?;
            if rules.iter().any(|r| r.id == rule.id) {
                return Err(SuppressError::Rule {
                    rule: format!("rule {:?} (#{})", rule.id, i + 1),
                    field: "id".into(),
                    message: "another rule has the same id".into(),
                });
            }
            rules.push(rule);
        }
        Ok(SuppressionSet { rules })
    }

    /// All rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule that matches `subject` and has not expired at `now_ms`.
    pub fn matching(&self, subject: &Subject<'_>, now_ms: i64) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| !r.is_expired(now_ms) && r.matches(subject))
    }

    /// The rules expired at `now_ms` (they match nothing any more: a loader logs them).
    pub fn expired(&self, now_ms: i64) -> Vec<&Rule> {
        self.rules.iter().filter(|r| r.is_expired(now_ms)).collect()
    }

    /// The rules still in force at `now_ms` that expire within `window_ms`.
    pub fn expiring_within(&self, now_ms: i64, window_ms: i64) -> Vec<&Rule> {
        self.rules
            .iter()
            .filter(|r| !r.is_expired(now_ms) && r.expires_ms <= now_ms.saturating_add(window_ms))
            .collect()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into()),
    }
}

fn parse_rule(position: usize, value: &Value) -> Result<Rule, SuppressError> {
    let Value::Mapping(map) = value else {
        return Err(SuppressError::Rule {
            rule: format!("rule #{position}"),
            field: "-".into(),
            message: "a rule must be a mapping of fields".into(),
        });
    };
    // The id first, so that every later error can name the rule.
    let id = match map.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            return Err(SuppressError::Rule {
                rule: format!("rule #{position}"),
                field: "id".into(),
                message: "must be a non-empty string".into(),
            });
        }
    };
    let name = match &id {
        Some(id) => format!("rule {id:?} (#{position})"),
        None => format!("rule #{position}"),
    };
    let err = |field: &str, message: String| SuppressError::Rule {
        rule: name.clone(),
        field: field.into(),
        message,
    };
    for key in map.keys() {
        match key.as_str() {
            Some(k) if FIELDS.contains(&k) => {}
            _ => {
                return Err(err(
                    show(key).trim_matches('"'),
                    format!("unknown field (known: {})", FIELDS.join(", ")),
                ));
            }
        }
    }
    let text = |field: &str| -> Result<Option<String>, SuppressError> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(err(field, "must not be empty".into()))
            }
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(Value::Number(n)) if field == "account" => {
                // YAML reads an unquoted 12-digit id as a number; leading zeros would be lost.
                let digits = n.to_string();
                if digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(Some(digits))
                } else {
                    Err(err(
                        field,
                        format!(
                            "{digits} is not a 12-digit account id: quote it, e.g. \"012345678901\""
                        ),
                    ))
                }
            }
            Some(other) => Err(err(field, format!("must be a string, not {}", show(other)))),
        }
    };
    let account = text("account")?.map(Glob::new);
    let entity = text("entity")?.map(Glob::new);
    let group = text("group")?.map(Glob::new);
    let pairing = text("pairing")?;
    if let Some(p) = &pairing
        && !PAIRINGS.contains(&p.as_str())
    {
        return Err(err(
            "pairing",
            format!("{p:?} is not one of {}", PAIRINGS.join(", ")),
        ));
    }
    let cidrs = match map.get("cidr") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => {
            let items = one_or_many(v);
            if items.is_empty() {
                return Err(err("cidr", "an empty list matches nothing".into()));
            }
            items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Cidr::parse(s.trim()).map_err(|m| err("cidr", m)),
                    other => Err(err("cidr", format!("{} is not a CIDR string", show(other)))),
                })
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    let ports = match map.get("port") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => {
            let items = one_or_many(v);
            if items.is_empty() {
                return Err(err("port", "an empty list matches nothing".into()));
            }
            items
                .into_iter()
                .map(|v| parse_ports(v).map_err(|m| err("port", m)))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    let reason = text("reason")?.ok_or_else(|| err("reason", "is required".into()))?;
    let owner = text("owner")?.ok_or_else(|| err("owner", "is required".into()))?;
    let expires = text("expires")?.ok_or_else(|| {
        err(
            "expires",
            "is required (a date such as 2027-03-01, or an RFC 3339 time)".into(),
        )
    })?;
    let expires_ms = parse_expiry(&expires).ok_or_else(|| {
        err(
            "expires",
            format!("{expires:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 time"),
        )
    })?;
    let rule = Rule {
        id: id.unwrap_or_else(|| format!("rule-{position}")),
        account,
        entity,
        group,
        cidrs,
        ports,
        pairing,
        reason,
        owner,
        expires_ms,
    };
    if rule.matchers().is_empty() {
        return Err(err(
            "-",
            "has no matcher (account, entity, group, cidr, port or pairing): it would silence every anomaly".into(),
        ));
    }
    Ok(rule)
}

fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn parse_ports(v: &Value) -> Result<PortRange, String> {
    let port = |s: &str| -> Result<u16, String> {
        s.trim()
            .parse::<u16>()
            .map_err(|_| format!("{s:?} is not a port (0 to 65535)"))
    };
    match v {
        Value::Number(n) => {
            let p = n
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("{n} is not a port (0 to 65535)"))?;
            Ok(PortRange { first: p, last: p })
        }
        Value::String(s) => {
            let (first, last) = match s.split_once('-') {
                Some((a, b)) => (port(a)?, port(b)?),
                None => {
                    let p = port(s)?;
                    (p, p)
                }
            };
            if first > last {
                return Err(format!("{s:?}: the range ends before it starts"));
            }
            Ok(PortRange { first, last })
        }
        other => Err(format!(
            "{} is not a port or a range such as \"8000-8100\"",
            show(other)
        )),
    }
}

/// A date means the end of that UTC day (the rule applies all of it); a time is exact.
fn parse_expiry(text: &str) -> Option<i64> {
    if let Some((y, m, d)) = parse_date(text) {
        return Some((days_from_civil(y, m, d) + 1) * DAY_MS);
    }
    parse_rfc3339_ms(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-06-01T00:00:00Z.
    const NOW: i64 = 1_780_272_000_000;

    fn subject<'a>(ip: &str, port: Option<u16>) -> Subject<'a> {
        Subject {
            account: "111122223333",
            entity: "i-0abc123",
            group: Some("subnet-0db1"),
            ip: ip.parse().unwrap(),
            port,
            pairing: "initiator",
        }
    }

    fn one(rule: &str) -> SuppressionSet {
        SuppressionSet::parse(&format!(
            "suppressions:\n  - reason: r\n    owner: o\n    expires: 2027-01-01\n{rule}"
        ))
        .unwrap()
    }

    fn parse_err(text: &str) -> String {
        SuppressionSet::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn the_documented_example_matches_and_misses() {
        let set = SuppressionSet::parse(
            r#"
suppressions:
  - id: nightly-backup          # a comment
    account: "1111*"
    entity: "i-0abc*"
    group: "subnet-0db*"
    cidr: 203.0.113.0/24
    port: 443
    pairing: initiator
    reason: "backup to partner"
    owner: "netops@example.com"
    expires: 2027-03-01
"#,
        )
        .unwrap();
        let rule = &set.rules()[0];
        assert_eq!(rule.id, "nightly-backup");
        assert_eq!(rule.reason, "backup to partner");
        assert_eq!(rule.owner, "netops@example.com");
        // The end of 2027-03-01 UTC.
        assert_eq!(rule.expires_ms, 1_803_945_600_000);
        assert_eq!(
            rule.matchers(),
            "account=1111* entity=i-0abc* group=subnet-0db* cidr=203.0.113.0/24 port=443 pairing=initiator"
        );
        let hit = subject("203.0.113.9", Some(443));
        assert_eq!(
            set.matching(&hit, NOW).map(|r| r.id.as_str()),
            Some("nightly-backup")
        );
        // Each matcher alone can refuse.
        let mut s = hit;
        s.account = "999922223333";
        assert!(set.matching(&s, NOW).is_none());
        let mut s = hit;
        s.entity = "i-0def";
        assert!(set.matching(&s, NOW).is_none());
        let mut s = hit;
        s.group = Some("subnet-0aa");
        assert!(set.matching(&s, NOW).is_none());
        let mut s = hit;
        s.group = None;
        assert!(
            set.matching(&s, NOW).is_none(),
            "no group: a group rule does not match"
        );
        assert!(
            set.matching(&subject("203.0.114.9", Some(443)), NOW)
                .is_none()
        );
        assert!(
            set.matching(&subject("203.0.113.9", Some(444)), NOW)
                .is_none()
        );
        assert!(set.matching(&subject("203.0.113.9", None), NOW).is_none());
        let mut s = hit;
        s.pairing = "peer";
        assert!(set.matching(&s, NOW).is_none());
    }

    #[test]
    fn json_is_accepted_too() {
        let set = SuppressionSet::parse(
            r#"{"suppressions": [{"entity": "i-0abc*", "reason": "r", "owner": "o", "expires": "2027-01-01T12:00:00Z"}]}"#,
        )
        .unwrap();
        assert_eq!(set.rules()[0].id, "rule-1");
        assert_eq!(set.rules()[0].expires_ms, 1_798_804_800_000);
        assert!(set.matching(&subject("1.2.3.4", None), NOW).is_some());
    }

    #[test]
    fn globs() {
        let g = |p: &str, t: &str| Glob::new(p).matches(t);
        assert!(g("i-0abc*", "i-0abc"));
        assert!(g("i-0abc*", "i-0abcdef"));
        assert!(!g("i-0abc*", "i-0ab"));
        assert!(g("*", ""));
        assert!(g("i-?bc", "i-abc"));
        assert!(!g("i-?bc", "i-bc"));
        assert!(g("*-*-*", "a-b-c"));
        assert!(!g("*-*-*", "a-b"));
        assert!(g("a*b*c", "aXXbYYbc"));
        assert!(!g("a*b*c", "aXXbYYbd"));
        assert!(g("1111*", "111122223333"));
        // Whole-string, case-sensitive.
        assert!(!g("abc", "abcd"));
        assert!(!g("I-0ABC*", "i-0abc1"));
        assert!(g("", ""));
        assert!(!g("", "x"));
    }

    #[test]
    fn cidr_edges() {
        let all = one("    cidr: 0.0.0.0/0\n");
        assert!(all.matching(&subject("0.0.0.0", None), NOW).is_some());
        assert!(
            all.matching(&subject("255.255.255.255", None), NOW)
                .is_some()
        );
        let host = one("    cidr: 198.51.100.7/32\n");
        assert!(host.matching(&subject("198.51.100.7", None), NOW).is_some());
        assert!(host.matching(&subject("198.51.100.6", None), NOW).is_none());
        assert!(host.matching(&subject("198.51.100.8", None), NOW).is_none());
        let bare = one("    cidr: 198.51.100.7\n");
        assert_eq!(bare.rules()[0].cidrs, host.rules()[0].cidrs);
        let list = one("    cidr: [10.0.0.0/8, 192.168.0.0/16]\n");
        assert!(list.matching(&subject("10.255.0.1", None), NOW).is_some());
        assert!(list.matching(&subject("192.168.3.4", None), NOW).is_some());
        assert!(list.matching(&subject("11.0.0.0", None), NOW).is_none());
        assert!(
            list.matching(&subject("9.255.255.255", None), NOW)
                .is_none()
        );
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.0.0.0".parse().unwrap()));
        assert!(c.contains("10.255.255.255".parse().unwrap()));
        assert!(
            Cidr::parse("10.0.0.5/8")
                .unwrap_err()
                .contains("10.0.0.0/8")
        );
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0/8").is_err());
    }

    #[test]
    fn ports_one_list_and_ranges() {
        let range = one("    port: \"8000-8100\"\n");
        for (p, hit) in [
            (7999, false),
            (8000, true),
            (8050, true),
            (8100, true),
            (8101, false),
        ] {
            assert_eq!(
                range.matching(&subject("1.2.3.4", Some(p)), NOW).is_some(),
                hit,
                "{p}"
            );
        }
        let list = one("    port: [22, \"8000-8001\", 443]\n");
        assert_eq!(list.rules()[0].matchers(), "port=22,8000-8001,443");
        for (p, hit) in [
            (22, true),
            (23, false),
            (8001, true),
            (443, true),
            (8002, false),
        ] {
            assert_eq!(
                list.matching(&subject("1.2.3.4", Some(p)), NOW).is_some(),
                hit,
                "{p}"
            );
        }
        let full = one("    port: 0-65535\n");
        assert!(
            full.matching(&subject("1.2.3.4", Some(65535)), NOW)
                .is_some()
        );
    }

    #[test]
    fn expired_rules_are_ignored_and_listed() {
        let set = SuppressionSet::parse(
            r#"
suppressions:
  - id: old
    entity: "i-*"
    reason: r
    owner: o
    expires: 2026-05-31
  - id: soon
    entity: "i-0abc*"
    reason: r
    owner: o
    expires: 2026-06-05T00:00:00Z
  - id: later
    entity: "i-*"
    reason: r
    owner: o
    expires: 2027-06-01
"#,
        )
        .unwrap();
        // "old" matches but ended with 2026-05-31: the next one applies.
        assert_eq!(
            set.matching(&subject("1.2.3.4", None), NOW)
                .map(|r| r.id.as_str()),
            Some("soon")
        );
        // The last millisecond of the expiry day still applies.
        assert_eq!(
            set.matching(&subject("1.2.3.4", None), NOW - 1)
                .map(|r| r.id.as_str()),
            Some("old")
        );
        let ids = |rules: Vec<&Rule>| rules.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(set.expired(NOW)), ["old"]);
        assert_eq!(ids(set.expiring_within(NOW, 14 * DAY_MS)), ["soon"]);
        assert_eq!(
            ids(set.expiring_within(NOW, 3 * DAY_MS)),
            Vec::<String>::new()
        );
        assert_eq!(
            ids(set.expired(NOW + 1000 * DAY_MS)),
            ["old", "soon", "later"]
        );
        assert!(
            set.matching(&subject("1.2.3.4", None), NOW + 1000 * DAY_MS)
                .is_none()
        );
    }

    #[test]
    fn parse_errors_name_the_rule_and_the_field() {
        let base = "reason: r\n    owner: o\n    expires: 2027-01-01";
        let e = parse_err(&format!(
            "suppressions:\n  - id: x\n    entitiy: i-1\n    {base}"
        ));
        assert!(
            e.contains("rule \"x\" (#1)") && e.contains("`entitiy`") && e.contains("unknown"),
            "{e}"
        );
        let e = parse_err(&format!(
            "suppressions:\n  - entity: i-1\n    {base}\n  - {base}"
        ));
        assert!(e.contains("rule #2") && e.contains("no matcher"), "{e}");
        let e = parse_err("suppressions:\n  - entity: i-1\n    owner: o\n    expires: 2027-01-01");
        assert!(
            e.contains("rule #1") && e.contains("`reason`") && e.contains("required"),
            "{e}"
        );
        let e = parse_err(
            "suppressions:\n  - entity: i-1\n    reason: ''\n    owner: o\n    expires: 2027-01-01",
        );
        assert!(e.contains("`reason`") && e.contains("empty"), "{e}");
        let e = parse_err("suppressions:\n  - entity: i-1\n    reason: r\n    expires: 2027-01-01");
        assert!(e.contains("`owner`"), "{e}");
        let e = parse_err("suppressions:\n  - entity: i-1\n    reason: r\n    owner: o");
        assert!(e.contains("`expires`") && e.contains("required"), "{e}");
        let e = parse_err(
            "suppressions:\n  - id: d\n    entity: i-1\n    reason: r\n    owner: o\n    expires: 2027-02-30",
        );
        assert!(e.contains("rule \"d\"") && e.contains("`expires`"), "{e}");
        let e = parse_err(&format!("suppressions:\n  - cidr: 10.0.0.0/40\n    {base}"));
        assert!(e.contains("`cidr`") && e.contains("0 to 32"), "{e}");
        let e = parse_err(&format!("suppressions:\n  - port: 70000\n    {base}"));
        assert!(e.contains("`port`"), "{e}");
        let e = parse_err(&format!("suppressions:\n  - port: \"9-1\"\n    {base}"));
        assert!(e.contains("`port`") && e.contains("ends before"), "{e}");
        let e = parse_err(&format!("suppressions:\n  - port: []\n    {base}"));
        assert!(e.contains("`port`"), "{e}");
        let e = parse_err(&format!("suppressions:\n  - pairing: dst\n    {base}"));
        assert!(e.contains("`pairing`") && e.contains("initiator"), "{e}");
        let e = parse_err(&format!("suppressions:\n  - account: 1111\n    {base}"));
        assert!(e.contains("`account`") && e.contains("quote"), "{e}");
        let e = parse_err(&format!(
            "suppressions:\n  - id: a\n    entity: i-1\n    {base}\n  - id: a\n    entity: i-2\n    {base}"
        ));
        assert!(e.contains("#2") && e.contains("same id"), "{e}");
        assert!(parse_err("rules: []").contains("unknown top-level field"));
        assert!(parse_err("suppressions: 3").contains("list"));
        assert!(parse_err("- a").contains("mapping"));
        assert!(parse_err("suppressions: [").contains("YAML"));
        // An unquoted 12-digit account is accepted as written.
        let set = one("    account: 111122223333\n");
        assert_eq!(set.rules()[0].account, Some(Glob::new("111122223333")));
        assert!(
            SuppressionSet::parse("suppressions: []")
                .unwrap()
                .is_empty()
        );
    }
}
