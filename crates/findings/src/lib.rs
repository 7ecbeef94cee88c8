//! What an anomaly becomes for the analysts who triage it: a Security Hub finding (ASFF) and an
//! EventBridge event with an id derived from what the anomaly is, so that a message SQS delivers
//! twice updates one finding; suppression rules that silence known-benign patterns; and the
//! analysts' verdicts read back as labels for training and calibration.
//!
//! Data flow: [`anomaly`] (what was found) -> [`suppress`] (is it silenced?) -> [`asff`] and
//! [`event`] (what is sent) -> [`sink`] (sending, batching, retries); [`labels`] and
//! [`verdict`] close the loop.

pub mod labels;
pub mod suppress;
pub mod verdict;

/// `GeneratorId` of every finding this tool imports; `ipinsights feedback` filters on it.
pub const GENERATOR_ID: &str = "seclake-ipinsights/ipcheck";

/// The ASFF `Types` entry of our findings.
pub const FINDING_TYPE: &str = "Unusual Behaviors/Network Flow";

/// `source` of the EventBridge events.
pub const EVENT_SOURCE: &str = "seclake-ipinsights";

/// `detail-type` of the EventBridge events.
pub const EVENT_DETAIL_TYPE: &str = "IP Insights Anomaly";

/// Keys of the `ProductFields` of our findings (ASFF keys may hold `/`; prefixed so they do not
/// mix with Security Hub's own `aws/securityhub/...` keys).
pub mod product_fields {
    pub const ENTITY: &str = "ipinsights/Entity";
    pub const ADDRESS: &str = "ipinsights/Address";
    pub const GROUP: &str = "ipinsights/Group";
    pub const ENTITY_SCOPE: &str = "ipinsights/EntityScope";
    pub const SCORED_AS: &str = "ipinsights/ScoredAs";
    pub const SCORE: &str = "ipinsights/Score";
    pub const THRESHOLD: &str = "ipinsights/Threshold";
    pub const MODEL: &str = "ipinsights/Model";
    pub const PAIRING: &str = "ipinsights/Pairing";
    pub const OBJECT_KEY: &str = "ipinsights/ObjectKey";
    pub const SOURCE: &str = "ipinsights/Source";
}

/// The `ProductArn` of findings imported by the account itself (Security Hub's "default"
/// product for custom integrations).
pub fn product_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default")
}

/// The partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// What a suppression rule is matched against: the facts of one anomaly.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub account: &'a str,
    /// The instance id.
    pub entity: &'a str,
    /// The instance's group (subnet, VPC or mapped name), when known.
    pub group: Option<&'a str>,
    /// The address the instance reached.
    pub ip: std::net::Ipv4Addr,
    /// The responder's port, when the records give one.
    pub port: Option<u16>,
    /// The pairing that produced the pair (`initiator`, `src`, `endpoint`, `peer`).
    pub pairing: &'a str,
}
