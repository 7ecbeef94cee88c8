//! What was found: one pair below the threshold, with the facts a finding is made of.

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::Subject;

/// One anomalous pair of one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// The account whose records showed the pair (the object's key names it).
    pub account: String,
    pub region: String,
    /// The instance id.
    pub entity: String,
    /// The address the instance reached.
    pub ip: Ipv4Addr,
    /// The instance's group (subnet, VPC or mapped name), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `instance`, `group` or `unknown`: what the model scored.
    pub entity_scope: String,
    /// The entity the model scored (the instance or its group).
    pub scored_as: String,
    /// The IP Insights dot product.
    pub score: f64,
    pub threshold: f64,
    /// The scorer (endpoint name or model file).
    pub model: String,
    /// The pairing that produced the pair (`initiator`, `src`, `endpoint`, `peer`).
    pub pairing: String,
    /// The Security Lake source (`vpc_flow`, `route53`).
    pub source: String,
    pub bucket: String,
    pub key: String,
    /// Records of the pair in the object.
    pub count: u64,
    /// Earliest and latest record times (ms since the epoch), when the records carry them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ms: Option<i64>,
    /// The instance's own address, the responder's port and the protocol number of the
    /// earliest record (flows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_ip: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u8>,
    /// The object's event day from its key (`YYYY-MM-DD`): the finding's day when the records
    /// carry no time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_day: Option<String>,
    /// Set when the fan-out rule raised it: the distinct addresses below the fan-out threshold
    /// (`threshold` here) that the instance reached in the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout_addresses: Option<u32>,
}

/// A finding's severity: ASFF's label and normalized score (0-100).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Severity {
    pub label: &'static str,
    pub normalized: i32,
}

impl Severity {
    /// From how far the score falls below the threshold: just below is LOW (25), one unit
    /// below MEDIUM (40), three units HIGH (70). Never CRITICAL: a statistical rarity alone is
    /// not proof of compromise.
    pub fn of_margin(margin: f64) -> Severity {
        let margin = if margin.is_finite() {
            margin.max(0.0)
        } else {
            0.0
        };
        let normalized = (25.0 + 15.0 * margin).round().min(89.0) as i32;
        let label = match normalized {
            70.. => "HIGH",
            40.. => "MEDIUM",
            _ => "LOW",
        };
        Severity { label, normalized }
    }
}

impl Anomaly {
    /// The UTC day the anomaly belongs to: of its first record, else of the object's key.
    pub fn day(&self) -> String {
        match (self.first_ms, &self.event_day) {
            (Some(ms), _) => rfc3339(ms)[..10].to_string(),
            (None, Some(day)) => day.clone(),
            (None, None) => "unknown-day".to_string(),
        }
    }

    /// The finding id: what the anomaly is (account, region, pairing, entity, address, UTC
    /// day), never which message or object announced it, so a second delivery, or another
    /// object of the same day, updates the same finding.
    pub fn finding_id(&self) -> String {
        format!(
            "ipinsights/{}/{}/{}/{}/{}/{}",
            self.region,
            self.account,
            self.pairing,
            self.entity,
            self.ip,
            self.day()
        )
    }

    pub fn severity(&self) -> Severity {
        Severity::of_margin(self.threshold - self.score)
    }

    /// The instance's ARN.
    pub fn instance_arn(&self) -> String {
        format!(
            "arn:{}:ec2:{}:{}:instance/{}",
            crate::partition_of(&self.region),
            self.region,
            self.account,
            self.entity
        )
    }

    /// The protocol's name (`TCP`, `UDP`, `ICMP`, or the number).
    pub fn protocol_name(&self) -> Option<String> {
        self.protocol.map(|p| match p {
            1 => "ICMP".to_string(),
            6 => "TCP".to_string(),
            17 => "UDP".to_string(),
            132 => "SCTP".to_string(),
            n => n.to_string(),
        })
    }

    /// Whether the pair comes from DNS answers (Route 53 resolver logs).
    pub fn is_dns(&self) -> bool {
        self.source.eq_ignore_ascii_case("ROUTE53")
    }

    /// Whether the instance is known to have opened the connection (or resolved the name).
    pub fn is_outbound(&self) -> bool {
        self.pairing == "initiator" || self.is_dns()
    }

    /// Who opened the connection, in words, as the pairing decided it.
    pub fn initiator_text(&self) -> &'static str {
        match (self.is_dns(), self.pairing.as_str()) {
            (true, _) => "the instance resolved a name to this address",
            (_, "initiator") => "the instance opened the connection",
            (_, "peer") => {
                "the instance and the address exchanged traffic (either side may have opened it)"
            }
            _ => "the address appeared in the instance's records",
        }
    }

    pub fn title(&self) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!(
            "Instance {} reached {}{port}, which it does not usually reach",
            self.entity, self.ip
        )
    }

    pub fn description(&self) -> String {
        let port = match (self.port, self.protocol_name()) {
            (Some(p), Some(proto)) => format!(" on {proto} port {p}"),
            (Some(p), None) => format!(" on port {p}"),
            _ => String::new(),
        };
        let scope = match self.entity_scope.as_str() {
            "group" => format!(
                "the instance is new to the model, so it was scored as its group {}",
                self.scored_as
            ),
            _ => match &self.group {
                Some(g) => format!("neither the instance nor its group {g} usually reaches it"),
                None => "the instance does not usually reach it".to_string(),
            },
        };
        let threshold = match self.fanout_addresses {
            Some(n) => format!(
                "below the fan-out threshold {:.3}, one of {n} addresses below it that the instance reached in one object (a scan looks like this)",
                self.threshold
            ),
            None => format!("below the threshold {:.3}", self.threshold),
        };
        format!(
            "IP Insights scored the pair ({}, {}){port} at {:.3}, {threshold}: {scope}. Who initiated: {}. {} record(s) in s3://{}/{}.",
            self.entity,
            self.ip,
            self.score,
            self.initiator_text(),
            self.count,
            self.bucket,
            self.key
        )
    }

    /// The facts a suppression rule is matched against.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            account: &self.account,
            entity: &self.entity,
            group: self.group.as_deref(),
            ip: self.ip,
            port: self.port,
            pairing: &self.pairing,
        }
    }
}

/// RFC 3339 of a time in ms since the epoch, and back: the labels file's own.
pub use crate::labels::{format_rfc3339_ms as rfc3339, parse_rfc3339_ms as parse_rfc3339};

#[cfg(test)]
pub(crate) fn example() -> Anomaly {
    Anomaly {
        account: "111122223333".into(),
        region: "us-east-1".into(),
        entity: "i-0abc".into(),
        ip: Ipv4Addr::new(198, 51, 100, 7),
        group: Some("subnet-0web".into()),
        entity_scope: "instance".into(),
        scored_as: "i-0abc".into(),
        score: -2.5,
        threshold: -0.5,
        model: "endpoint ipinsights-prod".into(),
        pairing: "initiator".into(),
        source: "VPC_FLOW".into(),
        bucket: "lake".into(),
        key: "ext/VPC_FLOW/1.0/region=us-east-1/accountId=111122223333/eventDay=20261130/x.gz.parquet".into(),
        count: 3,
        first_ms: Some(1_764_547_200_000 + 3_600_000),
        last_ms: Some(1_764_547_200_000 + 7_200_000),
        local_ip: Some(Ipv4Addr::new(10, 0, 1, 5)),
        port: Some(4444),
        protocol: Some(6),
        event_day: Some("2025-12-01".into()),
        fanout_addresses: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_what_the_anomaly_is() {
        let a = example();
        assert_eq!(
            a.finding_id(),
            "ipinsights/us-east-1/111122223333/initiator/i-0abc/198.51.100.7/2025-12-01"
        );
        // Another object, message or score of the same pair that day: the same finding.
        let mut b = a.clone();
        b.key = "other".into();
        b.score = -9.0;
        b.count = 40;
        b.first_ms = a.first_ms.map(|t| t + 3_600_000);
        assert_eq!(a.finding_id(), b.finding_id());
        // The next UTC day, another address or another pairing: another finding.
        let mut c = a.clone();
        c.first_ms = a.first_ms.map(|t| t + 86_400_000);
        assert_ne!(a.finding_id(), c.finding_id());
        let mut d = a.clone();
        d.ip = Ipv4Addr::new(198, 51, 100, 8);
        assert_ne!(a.finding_id(), d.finding_id());
        // Without record times, the key's day.
        let mut e = a.clone();
        e.first_ms = None;
        e.event_day = Some("2025-11-30".into());
        assert!(e.finding_id().ends_with("/2025-11-30"));
    }

    #[test]
    fn severity_grows_with_the_margin() {
        assert_eq!(
            Severity::of_margin(0.0),
            Severity {
                label: "LOW",
                normalized: 25
            }
        );
        assert_eq!(Severity::of_margin(1.0).label, "MEDIUM");
        assert_eq!(
            Severity::of_margin(3.0),
            Severity {
                label: "HIGH",
                normalized: 70
            }
        );
        assert_eq!(Severity::of_margin(100.0).normalized, 89);
        assert_eq!(Severity::of_margin(f64::NAN).label, "LOW");
        assert_eq!(Severity::of_margin(-1.0).normalized, 25);
        assert_eq!(example().severity().label, "MEDIUM");
    }

    #[test]
    fn words_name_the_instance_address_port_and_initiator() {
        let a = example();
        assert_eq!(
            a.title(),
            "Instance i-0abc reached 198.51.100.7:4444, which it does not usually reach"
        );
        let d = a.description();
        for part in [
            "TCP port 4444",
            "-2.500",
            "subnet-0web",
            "opened the connection",
            "3 record(s)",
        ] {
            assert!(d.contains(part), "{part}: {d}");
        }
        assert!(d.contains("below the threshold -0.500"), "{d}");
        let scan = Anomaly {
            fanout_addresses: Some(31),
            ..a.clone()
        };
        let d = scan.description();
        assert!(
            d.contains("below the fan-out threshold -0.500, one of 31 addresses"),
            "{d}"
        );
        assert_eq!(
            a.instance_arn(),
            "arn:aws:ec2:us-east-1:111122223333:instance/i-0abc"
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            parse_rfc3339("2025-12-01T01:00:00Z"),
            Some(1_764_550_800_000)
        );
    }
}
