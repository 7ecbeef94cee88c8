//! Configuration from the environment, checked once at start.

use std::fmt;

use ipinsights::alert::{AlertRule, Fanout};
use seclake::{GroupBy, Pairing};

/// Where scores come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ScorerConfig {
    /// A SageMaker IP Insights endpoint (`ENDPOINT_NAME`).
    Endpoint { name: String },
    /// An embedded model file (`MODEL_URI`: `s3://bucket/key` or a path), loaded once per cold
    /// start, on first use.
    Model { uri: String },
}

/// The function's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub scorer: ScorerConfig,
    /// A pair is anomalous when its dot product is below this (`ANOMALY_THRESHOLD`, default 0).
    pub threshold: f64,
    /// The fan-out rule (`FANOUT_THRESHOLD`, off by default, and `FANOUT_MIN_ADDRESSES`,
    /// default 10): a pair below `FANOUT_THRESHOLD` is anomalous too when its instance reached
    /// that many distinct addresses below it in the object (an internal scan).
    pub fanout: Option<Fanout>,
    /// `PAIRING`: `initiator` (default), `src`, `endpoint` or `peer`.
    pub pairing: Pairing,
    /// `GROUP_BY`: the group an instance is scored as when the model never saw it: `subnet`
    /// (default), `vpc` or `none`.
    pub group_by: GroupBy,
    /// `GROUPS_URI`: an `instance_id,group` CSV (`s3://…` or a path) whose groups replace the
    /// subnet or VPC for the instances it lists.
    pub groups_uri: Option<String>,
    /// `TRAINED_ENTITIES_URI`: with an endpoint, the `entities.txt` that `ipinsights prepare`
    /// wrote, so new instances are scored as their group. An embedded model knows its own.
    pub trained_entities_uri: Option<String>,
    /// Objects over this size are rejected unread (`MAX_OBJECT_BYTES`, default 1 GiB).
    pub max_object_bytes: u64,
    /// Messages processed at once (`MESSAGE_CONCURRENCY`, default 4).
    pub message_concurrency: usize,
    /// CloudWatch namespace of the EMF metrics (`METRICS_NAMESPACE`).
    pub metrics_namespace: String,
    /// InvokeEndpoint requests in flight per object (`ENDPOINT_CONCURRENCY`, default 4).
    pub endpoint_concurrency: usize,
    /// Largest InvokeEndpoint request body (`ENDPOINT_MAX_REQUEST_BYTES`, default 4 MiB; the
    /// limit is 6 MiB for the request and for the response, which is about as long).
    pub endpoint_max_request_bytes: usize,
    /// `SECURITY_HUB`: `true` imports each anomaly as a Security Hub finding (default `false`).
    pub security_hub: bool,
    /// `EVENT_BUS_NAME`: an EventBridge bus that gets one event per anomaly.
    pub event_bus: Option<String>,
    /// `SUPPRESSIONS_URI`: a suppression rules file (`s3://…` or a path), read once per
    /// execution environment.
    pub suppressions_uri: Option<String>,
    /// `MAX_ANOMALIES_PER_OBJECT`: anomalies logged and sent per object, lowest scores first
    /// (default 200); the rest are only counted.
    pub max_anomalies_per_object: usize,
}

/// A setting that is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error(
        "set ENDPOINT_NAME (a SageMaker IP Insights endpoint) or MODEL_URI (an embedded model), not neither"
    )]
    NoScorer,
    #[error("set only one of ENDPOINT_NAME and MODEL_URI")]
    TwoScorers,
    #[error("{name}={value:?} is not valid: {why}")]
    Invalid {
        name: &'static str,
        value: String,
        why: String,
    },
}

impl fmt::Display for ScorerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScorerConfig::Endpoint { name } => write!(f, "endpoint {name}"),
            ScorerConfig::Model { uri } => write!(f, "embedded model {uri}"),
        }
    }
}

impl Config {
    /// The thresholds an anomaly is judged by.
    pub fn alert_rule(&self) -> AlertRule {
        AlertRule {
            threshold: self.threshold,
            fanout: self.fanout,
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let scorer = match (get("ENDPOINT_NAME"), get("MODEL_URI")) {
            (Some(name), None) => ScorerConfig::Endpoint { name },
            (None, Some(uri)) => ScorerConfig::Model { uri },
            (None, None) => return Err(ConfigError::NoScorer),
            (Some(_), Some(_)) => return Err(ConfigError::TwoScorers),
        };
        fn parse<T: std::str::FromStr>(
            name: &'static str,
            value: Option<String>,
            default: T,
            check: impl Fn(&T) -> Result<(), String>,
        ) -> Result<T, ConfigError>
        where
            T::Err: fmt::Display,
        {
            let Some(text) = value else {
                return Ok(default);
            };
            let v = text.parse::<T>().map_err(|e| ConfigError::Invalid {
                name,
                value: text.clone(),
                why: e.to_string(),
            })?;
            check(&v).map_err(|why| ConfigError::Invalid {
                name,
                value: text,
                why,
            })?;
            Ok(v)
        }
        let positive = |v: &usize| {
            if *v > 0 {
                Ok(())
            } else {
                Err("must be at least 1".to_string())
            }
        };
        let security_hub = match get("SECURITY_HUB").map(|v| v.to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "true" || v == "1" || v == "yes" => true,
            Some(v) if v == "false" || v == "0" || v == "no" => false,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "SECURITY_HUB",
                    value: v,
                    why: "must be true or false".into(),
                });
            }
        };
        let event_bus = get("EVENT_BUS_NAME");
        if let Some(bus) = &event_bus {
            let ok = bus.len() <= 1600
                && bus
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-:".contains(c));
            if !ok {
                return Err(ConfigError::Invalid {
                    name: "EVENT_BUS_NAME",
                    value: bus.clone(),
                    why: "must be a bus name or ARN (letters, digits, / . _ - :)".into(),
                });
            }
        }
        let threshold = parse(
            "ANOMALY_THRESHOLD",
            get("ANOMALY_THRESHOLD"),
            0.0,
            |v: &f64| {
                if v.is_finite() {
                    Ok(())
                } else {
                    Err("must be a finite number".into())
                }
            },
        )?;
        Ok(Config {
            scorer,
            security_hub,
            event_bus,
            suppressions_uri: get("SUPPRESSIONS_URI"),
            max_anomalies_per_object: parse(
                "MAX_ANOMALIES_PER_OBJECT",
                get("MAX_ANOMALIES_PER_OBJECT"),
                200,
                positive,
            )?,
            fanout: match get("FANOUT_THRESHOLD") {
                None => None,
                Some(text) => Some(Fanout {
                    threshold: parse("FANOUT_THRESHOLD", Some(text), 0.0, |v: &f64| {
                        if !v.is_finite() {
                            Err("must be a finite number".into())
                        } else if *v <= threshold {
                            Err(format!(
                                "must be above ANOMALY_THRESHOLD ({threshold}): it catches what that one misses"
                            ))
                        } else {
                            Ok(())
                        }
                    })?,
                    min_addresses: parse(
                        "FANOUT_MIN_ADDRESSES",
                        get("FANOUT_MIN_ADDRESSES"),
                        10,
                        |v: &usize| {
                            if *v >= 2 {
                                Ok(())
                            } else {
                                Err("must be at least 2 (1 would make it the threshold)".into())
                            }
                        },
                    )?,
                }),
            },
            threshold,
            pairing: parse("PAIRING", get("PAIRING"), Pairing::Initiator, |_| Ok(()))?,
            group_by: parse("GROUP_BY", get("GROUP_BY"), GroupBy::Subnet, |_| Ok(()))?,
            groups_uri: get("GROUPS_URI"),
            trained_entities_uri: get("TRAINED_ENTITIES_URI"),
            max_object_bytes: parse(
                "MAX_OBJECT_BYTES",
                get("MAX_OBJECT_BYTES"),
                1 << 30,
                |v: &u64| {
                    if *v > 0 {
                        Ok(())
                    } else {
                        Err("must be at least 1".into())
                    }
                },
            )?,
            message_concurrency: parse(
                "MESSAGE_CONCURRENCY",
                get("MESSAGE_CONCURRENCY"),
                4,
                positive,
            )?,
            metrics_namespace: get("METRICS_NAMESPACE")
                .unwrap_or_else(|| "SecurityLakeIpInsights".into()),
            endpoint_concurrency: parse(
                "ENDPOINT_CONCURRENCY",
                get("ENDPOINT_CONCURRENCY"),
                4,
                positive,
            )?,
            endpoint_max_request_bytes: parse(
                "ENDPOINT_MAX_REQUEST_BYTES",
                get("ENDPOINT_MAX_REQUEST_BYTES"),
                4 << 20,
                |v: &usize| {
                    if (64..=6 << 20).contains(v) {
                        Ok(())
                    } else {
                        Err("must be between 64 and 6291456 (InvokeEndpoint's limit)".into())
                    }
                },
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[("ENDPOINT_NAME", "ipinsights-prod")]).unwrap();
        assert_eq!(
            c.scorer,
            ScorerConfig::Endpoint {
                name: "ipinsights-prod".into()
            }
        );
        assert_eq!(c.threshold, 0.0);
        assert_eq!(c.pairing, Pairing::Initiator);
        assert_eq!(c.group_by, GroupBy::Subnet);
        assert_eq!(c.groups_uri, None);
        assert_eq!(c.trained_entities_uri, None);
        assert_eq!(c.max_object_bytes, 1 << 30);
        assert_eq!(c.endpoint_max_request_bytes, 4 << 20);
        assert!(!c.security_hub);
        assert_eq!(c.event_bus, None);
        assert_eq!(c.suppressions_uri, None);
        assert_eq!(c.max_anomalies_per_object, 200);
        assert_eq!(c.fanout, None);
    }

    #[test]
    fn every_setting() {
        let c = config(&[
            ("MODEL_URI", "s3://models/m.safetensors"),
            ("ANOMALY_THRESHOLD", "-2.5"),
            ("PAIRING", "peer"),
            ("GROUP_BY", "vpc"),
            ("GROUPS_URI", "s3://cfg/groups.csv"),
            ("TRAINED_ENTITIES_URI", "s3://data/entities.txt"),
            ("MAX_OBJECT_BYTES", "1000"),
            ("MESSAGE_CONCURRENCY", "2"),
            ("METRICS_NAMESPACE", "X"),
            ("SECURITY_HUB", "true"),
            ("EVENT_BUS_NAME", "security-findings"),
            ("SUPPRESSIONS_URI", "s3://cfg/suppressions.yaml"),
            ("MAX_ANOMALIES_PER_OBJECT", "50"),
            ("FANOUT_THRESHOLD", "0.5"),
            ("FANOUT_MIN_ADDRESSES", "12"),
        ])
        .unwrap();
        assert_eq!(
            c.fanout,
            Some(Fanout {
                threshold: 0.5,
                min_addresses: 12
            })
        );
        assert_eq!(c.alert_rule().threshold, -2.5);
        assert!(c.security_hub);
        assert_eq!(c.event_bus.as_deref(), Some("security-findings"));
        assert_eq!(
            c.suppressions_uri.as_deref(),
            Some("s3://cfg/suppressions.yaml")
        );
        assert_eq!(c.max_anomalies_per_object, 50);
        assert_eq!(
            c.scorer,
            ScorerConfig::Model {
                uri: "s3://models/m.safetensors".into()
            }
        );
        assert_eq!(
            (c.threshold, c.pairing, c.max_object_bytes),
            (-2.5, Pairing::Peer, 1000)
        );
        assert_eq!(
            (c.message_concurrency, c.metrics_namespace.as_str()),
            (2, "X")
        );
        assert_eq!(c.group_by, GroupBy::Vpc);
        assert_eq!(c.groups_uri.as_deref(), Some("s3://cfg/groups.csv"));
        assert_eq!(
            c.trained_entities_uri.as_deref(),
            Some("s3://data/entities.txt")
        );
    }

    #[test]
    fn errors_name_the_setting() {
        assert_eq!(config(&[]).unwrap_err(), ConfigError::NoScorer);
        assert_eq!(
            config(&[("ENDPOINT_NAME", "a"), ("MODEL_URI", "b")]).unwrap_err(),
            ConfigError::TwoScorers
        );
        for (name, value) in [
            ("ANOMALY_THRESHOLD", "low"),
            ("ANOMALY_THRESHOLD", "NaN"),
            ("PAIRING", "both"),
            ("GROUP_BY", "asg"),
            ("MAX_OBJECT_BYTES", "-1"),
            ("MESSAGE_CONCURRENCY", "0"),
            ("ENDPOINT_MAX_REQUEST_BYTES", "99999999"),
            ("SECURITY_HUB", "maybe"),
            ("EVENT_BUS_NAME", "bus name with spaces"),
            ("MAX_ANOMALIES_PER_OBJECT", "0"),
            ("FANOUT_THRESHOLD", "inf"),
            // Not above ANOMALY_THRESHOLD (0 by default).
            ("FANOUT_THRESHOLD", "-1"),
        ] {
            let err = config(&[("ENDPOINT_NAME", "e"), (name, value)]).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
        let err = config(&[
            ("ENDPOINT_NAME", "e"),
            ("FANOUT_THRESHOLD", "1"),
            ("FANOUT_MIN_ADDRESSES", "1"),
        ])
        .unwrap_err();
        assert!(err.to_string().starts_with("FANOUT_MIN_ADDRESSES"), "{err}");
    }
}
