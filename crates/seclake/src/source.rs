//! Security Lake log sources and their source versions.

use std::fmt;
use std::str::FromStr;

/// A Security Lake log source, as it appears in object keys (`aws/<SOURCE>/…`) and in the
/// Security Lake API (`AwsLogSourceResource.sourceName`). Custom sources (`ext/<name>/…`)
/// keep their own name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    VpcFlow,
    Route53,
    ShFindings,
    CloudTrailMgmt,
    LambdaExecution,
    S3Data,
    EksAudit,
    Waf,
    /// A native source this crate does not know by name (AWS adds them over time).
    OtherNative(String),
    /// A custom source under `ext/<name>/`.
    Custom(String),
}

impl Source {
    /// The name used in object keys and the API.
    pub fn as_str(&self) -> &str {
        match self {
            Source::VpcFlow => "VPC_FLOW",
            Source::Route53 => "ROUTE53",
            Source::ShFindings => "SH_FINDINGS",
            Source::CloudTrailMgmt => "CLOUD_TRAIL_MGMT",
            Source::LambdaExecution => "LAMBDA_EXECUTION",
            Source::S3Data => "S3_DATA",
            Source::EksAudit => "EKS_AUDIT",
            Source::Waf => "WAF",
            Source::OtherNative(s) | Source::Custom(s) => s,
        }
    }

    /// Whether pairs can be extracted from this source for IP Insights.
    pub fn is_scorable(&self) -> bool {
        matches!(self, Source::VpcFlow | Source::Route53)
    }

    /// Parses a native source name (`VPC_FLOW`, …); unknown names become [`Source::OtherNative`].
    pub fn native(name: &str) -> Source {
        match name.to_ascii_uppercase().as_str() {
            "VPC_FLOW" => Source::VpcFlow,
            "ROUTE53" => Source::Route53,
            "SH_FINDINGS" => Source::ShFindings,
            "CLOUD_TRAIL_MGMT" => Source::CloudTrailMgmt,
            "LAMBDA_EXECUTION" => Source::LambdaExecution,
            "S3_DATA" => Source::S3Data,
            "EKS_AUDIT" => Source::EksAudit,
            "WAF" => Source::Waf,
            _ => Source::OtherNative(name.to_string()),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Source {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Source::native(s))
    }
}

/// The Security Lake source version: `1.0` stores OCSF 1.0.0-rc.2, `2.0` stores OCSF 1.1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceVersion {
    V1,
    V2,
}

impl SourceVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceVersion::V1 => "1.0",
            SourceVersion::V2 => "2.0",
        }
    }

    /// The OCSF version Security Lake writes for this source version.
    pub fn ocsf_version(self) -> &'static str {
        match self {
            SourceVersion::V1 => "1.0.0-rc.2",
            SourceVersion::V2 => "1.1.0",
        }
    }

    pub fn parse(s: &str) -> Option<SourceVersion> {
        match s {
            "1.0" | "1" => Some(SourceVersion::V1),
            "2.0" | "2" => Some(SourceVersion::V2),
            _ => None,
        }
    }
}

impl fmt::Display for SourceVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serializes as the name used in keys (`"VPC_FLOW"`, or a custom source's own name).
impl serde::Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Serializes as `"1.0"` / `"2.0"`.
impl serde::Serialize for SourceVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_names_round_trip() {
        for name in [
            "VPC_FLOW",
            "ROUTE53",
            "SH_FINDINGS",
            "EKS_AUDIT",
            "WAF",
            "S3_DATA",
        ] {
            assert_eq!(Source::native(name).as_str(), name);
        }
        assert_eq!(Source::native("vpc_flow"), Source::VpcFlow);
        assert_eq!(
            Source::native("NEW_THING"),
            Source::OtherNative("NEW_THING".into())
        );
        assert!(Source::VpcFlow.is_scorable() && !Source::ShFindings.is_scorable());
    }

    #[test]
    fn versions() {
        assert_eq!(SourceVersion::parse("2.0"), Some(SourceVersion::V2));
        assert_eq!(SourceVersion::V1.ocsf_version(), "1.0.0-rc.2");
        assert_eq!(SourceVersion::parse("3.0"), None);
    }
}
