//! The Security Hub finding (ASFF 2018-10-08) of an anomaly, folded into the finding of the same
//! id that Security Hub already holds.

use std::collections::HashMap;

use aws_sdk_securityhub::types::{
    AwsEc2InstanceDetails, AwsSecurityFinding, FindingProviderFields, FindingProviderSeverity,
    Network, NetworkDirection, Partition, Resource, ResourceDetails, Severity, SeverityLabel,
};

use crate::anomaly::{Anomaly, parse_rfc3339, rfc3339};
use crate::{FINDING_TYPE, GENERATOR_ID, product_fields as pf};

/// Where findings are imported: the account calling BatchImportFindings and its product ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The account the function runs in (Security Hub's "default" product takes findings of
    /// the calling account only; the instance's own account is in the resource ARN).
    pub account: String,
    pub region: String,
    pub product_arn: String,
}

impl Target {
    pub fn new(account: &str, region: &str) -> Target {
        Target {
            account: account.to_string(),
            region: region.to_string(),
            product_arn: crate::product_arn(crate::partition_of(region), region, account),
        }
    }
}

/// One anomaly after the anomalies of a batch with the same id were folded together.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The representative (lowest score) anomaly, with the time span of all of them.
    pub anomaly: Anomaly,
    /// `s3://bucket/key` of each object folded in, with its records of the pair.
    pub objects: Vec<(String, u64)>,
}

impl Observed {
    /// Folds anomalies of the same finding id, in order of the input; several objects of one
    /// batch may show the same pair.
    pub fn fold(anomalies: Vec<Anomaly>) -> Vec<(String, Observed)> {
        let mut order: Vec<String> = Vec::new();
        let mut by_id: HashMap<String, Observed> = HashMap::new();
        for a in anomalies {
            let id = a.finding_id();
            let key = format!("s3://{}/{}", a.bucket, a.key);
            match by_id.get_mut(&id) {
                None => {
                    order.push(id.clone());
                    let count = a.count;
                    by_id.insert(
                        id,
                        Observed {
                            anomaly: a,
                            objects: vec![(key, count)],
                        },
                    );
                }
                Some(o) => {
                    if !o.objects.iter().any(|(k, _)| *k == key) {
                        o.objects.push((key, a.count));
                    }
                    let first = min_opt(o.anomaly.first_ms, a.first_ms);
                    let last = o.anomaly.last_ms.max(a.last_ms);
                    if a.score < o.anomaly.score {
                        o.anomaly = a;
                    }
                    o.anomaly.first_ms = first;
                    o.anomaly.last_ms = last;
                }
            }
        }
        order
            .into_iter()
            .filter_map(|id| by_id.remove(&id).map(|o| (id, o)))
            .collect()
    }

    /// Records over the folded objects.
    pub fn records(&self) -> u64 {
        self.objects.iter().map(|(_, n)| n).sum()
    }
}

/// How many recently folded objects a finding remembers, to count a redelivered one once.
pub const RECENT_OBJECTS: usize = 100;

/// A short, stable tag of an object key (FNV-1a, 48 bits): what a finding remembers of it.
pub fn object_tag(key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:012x}", h & 0xFFFF_FFFF_FFFF)
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// What Security Hub already holds of a finding: kept across updates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prior {
    pub created_at: Option<String>,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    pub records: u64,
    pub objects: u64,
    /// Tags ([`object_tag`]) of the objects folded in most recently, oldest first.
    pub recent: Vec<String>,
}

impl Prior {
    /// Reads our counters back from a finding of ours.
    pub fn of(f: &AwsSecurityFinding) -> Prior {
        let field = |k: &str| f.product_fields().and_then(|m| m.get(k)).cloned();
        let number = |k: &str| field(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Prior {
            created_at: f.created_at().map(str::to_string),
            first_ms: f.first_observed_at().and_then(parse_rfc3339),
            last_ms: f.last_observed_at().and_then(parse_rfc3339),
            records: number(pf::RECORDS),
            objects: number(pf::OBJECTS),
            recent: field(pf::RECENT_OBJECTS)
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
        }
    }
}

/// The longest Title and Description ASFF takes.
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 1024;

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max.saturating_sub(3);
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// The finding of `observed`, folded into `prior` (the finding of the same id, when Security
/// Hub has it). An object the finding already counted (one of its last [`RECENT_OBJECTS`]) is
/// not counted again: a redelivery updates the finding without inflating it.
pub fn finding(
    id: &str,
    observed: &Observed,
    prior: Option<&Prior>,
    target: &Target,
    now_ms: i64,
) -> AwsSecurityFinding {
    let a = &observed.anomaly;
    let object = format!("s3://{}/{}", a.bucket, a.key);
    let (mut records, mut objects, mut recent) = match prior {
        Some(p) => (p.records, p.objects, p.recent.clone()),
        None => (0, 0, Vec::new()),
    };
    for (key, n) in &observed.objects {
        let tag = object_tag(key);
        if !recent.contains(&tag) {
            records += n;
            objects += 1;
            recent.push(tag);
        }
    }
    let drop = recent.len().saturating_sub(RECENT_OBJECTS);
    recent.drain(..drop);
    let first = min_opt(prior.and_then(|p| p.first_ms), a.first_ms).unwrap_or(now_ms);
    let last = prior
        .and_then(|p| p.last_ms)
        .max(a.last_ms.or(a.first_ms))
        .unwrap_or(now_ms);
    let now = rfc3339(now_ms);
    let created = prior
        .and_then(|p| p.created_at.clone())
        .unwrap_or_else(|| now.clone());
    let severity = a.severity();
    let label = SeverityLabel::from(severity.label);
    let margin = a.threshold - a.score;

    let mut fields: HashMap<String, String> = HashMap::new();
    let mut put = |k: &str, v: String| {
        fields.insert(k.to_string(), v);
    };
    put(pf::ENTITY, a.entity.clone());
    put(pf::ADDRESS, a.ip.to_string());
    if let Some(g) = &a.group {
        put(pf::GROUP, g.clone());
    }
    put(pf::ENTITY_SCOPE, a.entity_scope.clone());
    put(pf::SCORED_AS, a.scored_as.clone());
    put(pf::SCORE, format!("{:.6}", a.score));
    put(pf::THRESHOLD, format!("{:.6}", a.threshold));
    put(pf::SEVERITY_MARGIN, format!("{margin:.6}"));
    put(pf::MODEL, a.model.clone());
    put(pf::PAIRING, a.pairing.clone());
    put(pf::SOURCE, a.source.clone());
    put(pf::OBJECT_KEY, object);
    put(pf::RECORDS, records.to_string());
    put(pf::OBJECTS, objects.to_string());
    put(pf::RECENT_OBJECTS, recent.join(" "));
    put(pf::INSTANCE_ACCOUNT, a.account.clone());

    let mut instance = AwsEc2InstanceDetails::builder();
    if let Some(local) = a.local_ip {
        instance = instance.ipv4_addresses(local.to_string());
    }
    match a.group.as_deref() {
        Some(g) if g.starts_with("subnet-") => instance = instance.subnet_id(g),
        Some(g) if g.starts_with("vpc-") => instance = instance.vpc_id(g),
        _ => {}
    }
    let partition = match crate::partition_of(&target.region) {
        "aws-cn" => Partition::AwsCn,
        "aws-us-gov" => Partition::AwsUsGov,
        _ => Partition::Aws,
    };
    let resource = Resource::builder()
        .r#type("AwsEc2Instance")
        .id(a.instance_arn())
        .partition(partition)
        .region(&a.region)
        .details(
            ResourceDetails::builder()
                .aws_ec2_instance(instance.build())
                .build(),
        )
        .build();

    let mut network = Network::builder().destination_ipv4(a.ip.to_string());
    if a.is_outbound() {
        network = network.direction(NetworkDirection::Out);
    }
    if let Some(p) = a.protocol_name() {
        network = network.protocol(p);
    }
    if let Some(local) = a.local_ip {
        network = network.source_ipv4(local.to_string());
    }
    if let Some(port) = a.port {
        network = network.destination_port(i32::from(port));
    }

    AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(id)
        .product_arn(&target.product_arn)
        .product_name("IP Insights")
        .company_name("seclake-ipinsights")
        .generator_id(GENERATOR_ID)
        .aws_account_id(&target.account)
        .types(FINDING_TYPE)
        .created_at(created)
        .updated_at(now)
        .first_observed_at(rfc3339(first))
        .last_observed_at(rfc3339(last))
        .severity(
            Severity::builder()
                .label(label.clone())
                .normalized(severity.normalized)
                .original(format!("{:.3}", a.score))
                .build(),
        )
        .finding_provider_fields(
            FindingProviderFields::builder()
                .severity(
                    FindingProviderSeverity::builder()
                        .label(label)
                        .original(format!("{:.3}", a.score))
                        .build(),
                )
                .types(FINDING_TYPE)
                .build(),
        )
        .title(truncate(a.title(), TITLE_MAX))
        .description(truncate(a.description(), DESCRIPTION_MAX))
        .resources(resource)
        .network(network.build())
        .set_product_fields(Some(fields))
        .build()
}

/// A generous upper bound of a finding's size on the wire, for the 6 MB request limit.
pub fn estimated_bytes(f: &AwsSecurityFinding) -> usize {
    let strings: usize = [
        f.id(),
        f.title(),
        f.description(),
        f.product_arn(),
        f.generator_id(),
    ]
    .iter()
    .map(|s| s.map_or(0, str::len))
    .sum();
    let fields: usize = f
        .product_fields()
        .map(|m| m.iter().map(|(k, v)| k.len() + v.len() + 8).sum())
        .unwrap_or(0);
    // Fixed fields, resource and network: well under 2 KB; JSON escaping at most doubles text.
    2048 + 2 * (strings + fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::example;

    fn target() -> Target {
        Target::new("999988887777", "us-east-1")
    }

    #[test]
    fn a_new_finding_field_by_field() {
        let a = example();
        let id = a.finding_id();
        let obs = Observed::fold(vec![a.clone()]);
        let f = finding(&id, &obs[0].1, None, &target(), 1_764_600_000_000);
        assert_eq!(f.schema_version(), Some("2018-10-08"));
        assert_eq!(f.id(), Some(id.as_str()));
        assert_eq!(
            f.product_arn(),
            Some("arn:aws:securityhub:us-east-1:999988887777:product/999988887777/default")
        );
        assert_eq!(f.generator_id(), Some(GENERATOR_ID));
        assert_eq!(f.aws_account_id(), Some("999988887777"));
        assert_eq!(f.types(), [FINDING_TYPE]);
        let sev = f.severity().unwrap();
        assert_eq!(sev.label(), Some(&SeverityLabel::Medium));
        assert_eq!(sev.normalized(), Some(55));
        let fpf = f.finding_provider_fields().unwrap();
        assert_eq!(
            fpf.severity().unwrap().label(),
            Some(&SeverityLabel::Medium)
        );
        assert_eq!(fpf.types(), [FINDING_TYPE]);
        assert_eq!(f.first_observed_at(), Some("2025-12-01T01:00:00Z"));
        assert_eq!(f.last_observed_at(), Some("2025-12-01T02:00:00Z"));
        assert_eq!(f.created_at(), f.updated_at());
        let r = &f.resources()[0];
        assert_eq!(r.r#type(), Some("AwsEc2Instance"));
        assert_eq!(
            r.id(),
            Some("arn:aws:ec2:us-east-1:111122223333:instance/i-0abc")
        );
        let ec2 = r.details().unwrap().aws_ec2_instance().unwrap();
        assert_eq!(ec2.subnet_id(), Some("subnet-0web"));
        assert_eq!(ec2.ipv4_addresses(), ["10.0.1.5"]);
        let n = f.network().unwrap();
        assert_eq!(n.direction(), Some(&NetworkDirection::Out));
        assert_eq!(n.protocol(), Some("TCP"));
        assert_eq!(n.source_ipv4(), Some("10.0.1.5"));
        assert_eq!(n.destination_ipv4(), Some("198.51.100.7"));
        assert_eq!(n.destination_port(), Some(4444));
        let pf = f.product_fields().unwrap();
        assert_eq!(pf[pf::SCORE], "-2.500000");
        assert_eq!(pf[pf::THRESHOLD], "-0.500000");
        assert_eq!(pf[pf::ENTITY_SCOPE], "instance");
        assert_eq!(pf[pf::MODEL], "endpoint ipinsights-prod");
        assert_eq!(pf[pf::RECORDS], "3");
        assert_eq!(pf[pf::OBJECTS], "1");
        assert!(pf[pf::OBJECT_KEY].starts_with("s3://lake/ext/VPC_FLOW/"));
        assert!(f.title().unwrap().contains("198.51.100.7:4444"));
        assert!(f.description().unwrap().len() <= DESCRIPTION_MAX);
        assert!(estimated_bytes(&f) > 2048);
    }

    #[test]
    fn updates_keep_creation_and_fold_counts_once_per_object() {
        let a = example();
        let id = a.finding_id();
        let obs = &Observed::fold(vec![a.clone()])[0].1;
        let first = finding(&id, obs, None, &target(), 1_000);
        let prior = Prior::of(&first);
        assert_eq!((prior.records, prior.objects), (3, 1));

        // The same object delivered again: updated, not counted twice.
        let again = finding(&id, obs, Some(&prior), &target(), 2_000);
        assert_eq!(again.created_at(), first.created_at());
        assert!(again.updated_at() > first.updated_at());
        let pf = again.product_fields().unwrap();
        assert_eq!(
            (pf[pf::RECORDS].as_str(), pf[pf::OBJECTS].as_str()),
            ("3", "1")
        );

        // Another object later that day: counts and LastObservedAt move on.
        let mut b = a.clone();
        b.key = "later.parquet".into();
        b.count = 2;
        b.first_ms = a.first_ms.map(|t| t + 3_600_000);
        b.last_ms = a.last_ms.map(|t| t + 3_600_000);
        let obs_b = &Observed::fold(vec![b])[0].1;
        let next = finding(&id, obs_b, Some(&Prior::of(&again)), &target(), 3_000);
        let pf = next.product_fields().unwrap();
        assert_eq!(
            (pf[pf::RECORDS].as_str(), pf[pf::OBJECTS].as_str()),
            ("5", "2")
        );
        assert_eq!(next.first_observed_at(), first.first_observed_at());
        assert_eq!(next.last_observed_at(), Some("2025-12-01T03:00:00Z"));

        // Both objects again in one batch (a redelivered batch): nothing counted twice.
        let mut b2 = a.clone();
        b2.key = "later.parquet".into();
        b2.count = 2;
        let both = &Observed::fold(vec![a.clone(), b2])[0].1;
        let again = finding(&id, both, Some(&Prior::of(&next)), &target(), 4_000);
        let pf = again.product_fields().unwrap();
        assert_eq!(
            (pf[pf::RECORDS].as_str(), pf[pf::OBJECTS].as_str()),
            ("5", "2")
        );
        assert_eq!(pf[pf::RECENT_OBJECTS].split(' ').count(), 2);
    }

    #[test]
    fn a_batch_folds_the_same_anomaly_of_several_objects() {
        let a = example();
        let mut b = a.clone();
        b.key = "b.parquet".into();
        b.score = -4.0;
        b.first_ms = a.first_ms.map(|t| t - 1000);
        let mut other = a.clone();
        other.ip = std::net::Ipv4Addr::new(203, 0, 113, 1);
        let folded = Observed::fold(vec![a.clone(), b, a.clone(), other]);
        assert_eq!(folded.len(), 2);
        let o = &folded[0].1;
        assert_eq!((o.records(), o.objects.len()), (6, 2));
        assert_eq!(o.anomaly.score, -4.0);
        assert_eq!(o.anomaly.first_ms, a.first_ms.map(|t| t - 1000));
        assert_eq!(o.anomaly.last_ms, a.last_ms);
    }
}
