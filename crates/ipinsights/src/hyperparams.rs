//! SageMaker IP Insights hyperparameters: the same names, defaults and valid ranges as the
//! SageMaker documentation (`ip-insights-hyperparameters`) and the SageMaker Python SDK.
//!
//! SageMaker passes hyperparameters as a map of strings (`HyperParameters` in
//! `CreateTrainingJob`); [`Hyperparameters::from_map`] takes exactly that and
//! [`Hyperparameters::to_map`] gives it back.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Upper bound of `num_entity_vectors`.
pub const MAX_NUM_ENTITY_VECTORS: u64 = 250_000_000;
/// Upper bound of `random_negative_sampling_rate + shuffled_negative_sampling_rate`.
pub const MAX_NEGATIVE_SAMPLING_RATE_SUM: u32 = 500;

/// The hyperparameters of an IP Insights model, with SageMaker's names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyperparameters {
    /// Number of entity embedding rows entities are hashed into. Required; 1..=250,000,000.
    /// SageMaker recommends twice the number of unique entities.
    pub num_entity_vectors: u64,
    /// Embedding size of entities and addresses. Required; 4..=4096 (128 recommended).
    pub vector_dim: u32,
    /// How often (in batches) training speed is reported. Default 1000; >= 1.
    pub batch_metrics_publish_interval: u64,
    /// Passes over the training data. Default 10; >= 1.
    pub epochs: u32,
    /// Adam learning rate. Default 0.001; 1e-6..=10.0.
    pub learning_rate: f64,
    /// Positive pairs per mini-batch. Default 10,000; 1..=500,000.
    pub mini_batch_size: u32,
    /// Fully connected layers in the IP encoder. Default 1; 0..=100.
    pub num_ip_encoder_layers: u32,
    /// Random-IP negatives per positive pair (R). Default 1; 0..=500.
    pub random_negative_sampling_rate: u32,
    /// Shuffled-pair negatives per positive pair (S). Default 1; 0..=500; 1 <= R + S <= 500.
    pub shuffled_negative_sampling_rate: u32,
    /// L2 regularisation factor, added to gradients as in MXNet's Adam. Default 0.00001;
    /// 0.0..=10.0.
    pub weight_decay: f64,
}

/// The names SageMaker accepts, in the documentation's order.
pub const NAMES: [&str; 10] = [
    "num_entity_vectors",
    "vector_dim",
    "batch_metrics_publish_interval",
    "epochs",
    "learning_rate",
    "mini_batch_size",
    "num_ip_encoder_layers",
    "random_negative_sampling_rate",
    "shuffled_negative_sampling_rate",
    "weight_decay",
];

/// Why a set of hyperparameters was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HyperparameterError {
    /// A required hyperparameter is missing.
    #[error("missing required hyperparameter {0}")]
    Missing(&'static str),
    /// A name SageMaker IP Insights does not know.
    #[error("unknown hyperparameter {0:?} (known: {known})", known = NAMES.join(", "))]
    Unknown(String),
    /// A value that does not parse as the expected type.
    #[error("hyperparameter {name}: {value:?} is not {expected}")]
    Invalid {
        /// Hyperparameter name.
        name: &'static str,
        /// The rejected value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A value outside its valid range.
    #[error("hyperparameter {name} = {value} is outside its valid range {range}")]
    OutOfRange {
        /// Hyperparameter name.
        name: &'static str,
        /// The rejected value, as given.
        value: String,
        /// The valid range.
        range: &'static str,
    },
    /// The negative sampling rates break `1 <= R + S <= 500`.
    #[error(
        "random_negative_sampling_rate + shuffled_negative_sampling_rate = {sum}, \
         but it must be between 1 and 500"
    )]
    NegativeSamplingSum {
        /// R + S.
        sum: u64,
    },
}

impl Hyperparameters {
    /// The two required values plus SageMaker's defaults for everything else.
    pub fn new(num_entity_vectors: u64, vector_dim: u32) -> Self {
        Self {
            num_entity_vectors,
            vector_dim,
            batch_metrics_publish_interval: 1000,
            epochs: 10,
            learning_rate: 0.001,
            mini_batch_size: 10_000,
            num_ip_encoder_layers: 1,
            random_negative_sampling_rate: 1,
            shuffled_negative_sampling_rate: 1,
            weight_decay: 0.00001,
        }
    }

    /// Checks every documented range and the rule `1 <= R + S <= 500`.
    pub fn validate(&self) -> Result<(), HyperparameterError> {
        fn check<T: PartialOrd + fmt::Display + Copy>(
            name: &'static str,
            value: T,
            ok: bool,
            range: &'static str,
        ) -> Result<(), HyperparameterError> {
            if ok {
                Ok(())
            } else {
                Err(HyperparameterError::OutOfRange {
                    name,
                    value: value.to_string(),
                    range,
                })
            }
        }
        let h = self;
        check(
            "num_entity_vectors",
            h.num_entity_vectors,
            (1..=MAX_NUM_ENTITY_VECTORS).contains(&h.num_entity_vectors),
            "1..=250000000",
        )?;
        check(
            "vector_dim",
            h.vector_dim,
            (4..=4096).contains(&h.vector_dim),
            "4..=4096",
        )?;
        check(
            "batch_metrics_publish_interval",
            h.batch_metrics_publish_interval,
            h.batch_metrics_publish_interval >= 1,
            ">= 1",
        )?;
        check("epochs", h.epochs, h.epochs >= 1, ">= 1")?;
        // `contains` is false for NaN, which is what we want.
        check(
            "learning_rate",
            h.learning_rate,
            (1e-6..=10.0).contains(&h.learning_rate),
            "1e-6..=10.0",
        )?;
        check(
            "mini_batch_size",
            h.mini_batch_size,
            (1..=500_000).contains(&h.mini_batch_size),
            "1..=500000",
        )?;
        check(
            "num_ip_encoder_layers",
            h.num_ip_encoder_layers,
            h.num_ip_encoder_layers <= 100,
            "0..=100",
        )?;
        check(
            "random_negative_sampling_rate",
            h.random_negative_sampling_rate,
            h.random_negative_sampling_rate <= 500,
            "0..=500",
        )?;
        check(
            "shuffled_negative_sampling_rate",
            h.shuffled_negative_sampling_rate,
            h.shuffled_negative_sampling_rate <= 500,
            "0..=500",
        )?;
        check(
            "weight_decay",
            h.weight_decay,
            (0.0..=10.0).contains(&h.weight_decay),
            "0.0..=10.0",
        )?;
        let sum = u64::from(h.random_negative_sampling_rate)
            + u64::from(h.shuffled_negative_sampling_rate);
        if !(1..=u64::from(MAX_NEGATIVE_SAMPLING_RATE_SUM)).contains(&sum) {
            return Err(HyperparameterError::NegativeSamplingSum { sum });
        }
        Ok(())
    }

    /// Parses a SageMaker-style string map (e.g. the `HyperParameters` of a training job, or
    /// `hyperparameters.json`), fills defaults and validates. Unknown names are rejected, as
    /// SageMaker's built-in algorithms do.
    pub fn from_map<I, K, V>(map: I) -> Result<Self, HyperparameterError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut given: BTreeMap<&'static str, String> = BTreeMap::new();
        for (k, v) in map {
            let k = k.as_ref().trim();
            let name = NAMES
                .iter()
                .copied()
                .find(|n| *n == k)
                .ok_or_else(|| HyperparameterError::Unknown(k.to_string()))?;
            given.insert(name, v.as_ref().trim().to_string());
        }
        let nev = match given.get("num_entity_vectors") {
            Some(v) => parse_int("num_entity_vectors", v)?,
            None => return Err(HyperparameterError::Missing("num_entity_vectors")),
        };
        let vd = match given.get("vector_dim") {
            Some(v) => parse_int("vector_dim", v)?,
            None => return Err(HyperparameterError::Missing("vector_dim")),
        };
        let mut h = Self::new(nev, to_u32("vector_dim", vd)?);
        for (&name, v) in &given {
            match name {
                "batch_metrics_publish_interval" => {
                    h.batch_metrics_publish_interval = parse_int(name, v)?
                }
                "epochs" => h.epochs = to_u32(name, parse_int(name, v)?)?,
                "learning_rate" => h.learning_rate = parse_float(name, v)?,
                "mini_batch_size" => h.mini_batch_size = to_u32(name, parse_int(name, v)?)?,
                "num_ip_encoder_layers" => {
                    h.num_ip_encoder_layers = to_u32(name, parse_int(name, v)?)?
                }
                "random_negative_sampling_rate" => {
                    h.random_negative_sampling_rate = to_u32(name, parse_int(name, v)?)?
                }
                "shuffled_negative_sampling_rate" => {
                    h.shuffled_negative_sampling_rate = to_u32(name, parse_int(name, v)?)?
                }
                "weight_decay" => h.weight_decay = parse_float(name, v)?,
                _ => {}
            }
        }
        h.validate()?;
        Ok(h)
    }

    /// The string map SageMaker would be given for these values (every name present).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let h = self;
        [
            ("num_entity_vectors", h.num_entity_vectors.to_string()),
            ("vector_dim", h.vector_dim.to_string()),
            (
                "batch_metrics_publish_interval",
                h.batch_metrics_publish_interval.to_string(),
            ),
            ("epochs", h.epochs.to_string()),
            ("learning_rate", h.learning_rate.to_string()),
            ("mini_batch_size", h.mini_batch_size.to_string()),
            ("num_ip_encoder_layers", h.num_ip_encoder_layers.to_string()),
            (
                "random_negative_sampling_rate",
                h.random_negative_sampling_rate.to_string(),
            ),
            (
                "shuffled_negative_sampling_rate",
                h.shuffled_negative_sampling_rate.to_string(),
            ),
            ("weight_decay", h.weight_decay.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

fn parse_int(name: &'static str, v: &str) -> Result<u64, HyperparameterError> {
    // SageMaker's SDK sends integers as `str(int)`; negative values parse as i64 so that
    // they are reported as out of range rather than as garbage.
    if let Ok(x) = v.parse::<u64>() {
        return Ok(x);
    }
    match v.parse::<i64>() {
        Ok(_) => Err(HyperparameterError::OutOfRange {
            name,
            value: v.to_string(),
            range: range_of(name),
        }),
        Err(_) => Err(HyperparameterError::Invalid {
            name,
            value: v.to_string(),
            expected: "an integer",
        }),
    }
}

fn to_u32(name: &'static str, x: u64) -> Result<u32, HyperparameterError> {
    u32::try_from(x).map_err(|_| HyperparameterError::OutOfRange {
        name,
        value: x.to_string(),
        range: range_of(name),
    })
}

fn parse_float(name: &'static str, v: &str) -> Result<f64, HyperparameterError> {
    v.parse::<f64>().map_err(|_| HyperparameterError::Invalid {
        name,
        value: v.to_string(),
        expected: "a number",
    })
}

fn range_of(name: &str) -> &'static str {
    match name {
        "num_entity_vectors" => "1..=250000000",
        "vector_dim" => "4..=4096",
        "batch_metrics_publish_interval" | "epochs" => ">= 1",
        "learning_rate" => "1e-6..=10.0",
        "mini_batch_size" => "1..=500000",
        "num_ip_encoder_layers" => "0..=100",
        "random_negative_sampling_rate" | "shuffled_negative_sampling_rate" => "0..=500",
        "weight_decay" => "0.0..=10.0",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(extra: &[(&str, &str)]) -> Result<Hyperparameters, HyperparameterError> {
        let mut m = vec![("num_entity_vectors", "20000"), ("vector_dim", "128")];
        m.extend_from_slice(extra);
        Hyperparameters::from_map(m)
    }

    #[test]
    fn defaults_are_sagemakers() {
        let h = with(&[]).unwrap();
        assert_eq!(h, Hyperparameters::new(20000, 128));
        assert_eq!(h.epochs, 10);
        assert_eq!(h.learning_rate, 0.001);
        assert_eq!(h.mini_batch_size, 10_000);
        assert_eq!(h.num_ip_encoder_layers, 1);
        assert_eq!(h.random_negative_sampling_rate, 1);
        assert_eq!(h.shuffled_negative_sampling_rate, 1);
        assert_eq!(h.weight_decay, 0.00001);
        assert_eq!(h.batch_metrics_publish_interval, 1000);
    }

    #[test]
    fn tutorial_values_parse_and_round_trip() {
        let h = with(&[
            ("random_negative_sampling_rate", "5"),
            ("mini_batch_size", "1000"),
            ("epochs", "5"),
            ("learning_rate", "0.01"),
        ])
        .unwrap();
        assert_eq!(h.random_negative_sampling_rate, 5);
        assert_eq!(Hyperparameters::from_map(h.to_map()).unwrap(), h);
    }

    #[test]
    fn required_and_unknown_names() {
        assert_eq!(
            Hyperparameters::from_map([("vector_dim", "128")]),
            Err(HyperparameterError::Missing("num_entity_vectors"))
        );
        assert_eq!(
            Hyperparameters::from_map([("num_entity_vectors", "10")]),
            Err(HyperparameterError::Missing("vector_dim"))
        );
        assert!(matches!(
            with(&[("num_epochs", "3")]),
            Err(HyperparameterError::Unknown(n)) if n == "num_epochs"
        ));
        assert!(matches!(
            with(&[("epochs", "three")]),
            Err(HyperparameterError::Invalid { name: "epochs", .. })
        ));
        assert!(matches!(
            with(&[("learning_rate", "fast")]),
            Err(HyperparameterError::Invalid {
                name: "learning_rate",
                ..
            })
        ));
    }

    #[test]
    fn every_range_is_enforced_at_both_ends() {
        let cases: &[(&str, &str, &str)] = &[
            // (name, lowest valid or highest valid, first invalid)
            ("num_entity_vectors", "1", "0"),
            ("num_entity_vectors", "250000000", "250000001"),
            ("vector_dim", "4", "3"),
            ("vector_dim", "4096", "4097"),
            ("batch_metrics_publish_interval", "1", "0"),
            ("epochs", "1", "0"),
            ("epochs", "1", "-1"),
            ("learning_rate", "0.000001", "0.0000009"),
            ("learning_rate", "10.0", "10.01"),
            ("learning_rate", "10.0", "NaN"),
            ("mini_batch_size", "1", "0"),
            ("mini_batch_size", "500000", "500001"),
            ("num_ip_encoder_layers", "0", "-1"),
            ("num_ip_encoder_layers", "100", "101"),
            ("random_negative_sampling_rate", "500", "501"),
            ("shuffled_negative_sampling_rate", "500", "501"),
            ("weight_decay", "0.0", "-0.1"),
            ("weight_decay", "10.0", "10.5"),
        ];
        for &(name, ok, bad) in cases {
            // Keep R + S legal while probing one rate at its maximum.
            let other = match name {
                "random_negative_sampling_rate" => vec![("shuffled_negative_sampling_rate", "0")],
                "shuffled_negative_sampling_rate" => vec![("random_negative_sampling_rate", "0")],
                _ => vec![],
            };
            let mut good = other.clone();
            good.push((name, ok));
            assert!(with(&good).is_ok(), "{name}={ok} should be valid");
            let mut wrong = other;
            wrong.push((name, bad));
            match with(&wrong) {
                Err(HyperparameterError::OutOfRange { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{name}={bad}: expected OutOfRange, got {other:?}"),
            }
        }
    }

    #[test]
    fn negative_sampling_rates_must_sum_to_1_through_500() {
        let r = "random_negative_sampling_rate";
        let s = "shuffled_negative_sampling_rate";
        assert_eq!(
            with(&[(r, "0"), (s, "0")]),
            Err(HyperparameterError::NegativeSamplingSum { sum: 0 })
        );
        assert!(with(&[(r, "1"), (s, "0")]).is_ok());
        assert!(with(&[(r, "0"), (s, "1")]).is_ok());
        assert!(with(&[(r, "250"), (s, "250")]).is_ok());
        assert_eq!(
            with(&[(r, "250"), (s, "251")]),
            Err(HyperparameterError::NegativeSamplingSum { sum: 501 })
        );
        assert_eq!(
            with(&[(r, "400"), (s, "400")]),
            Err(HyperparameterError::NegativeSamplingSum { sum: 800 })
        );
    }
}
