//! An IP Insights-compatible model that trains on CPU and scores in process, plus the
//! SageMaker IP Insights wire format.
//!
//! The modules follow the data flow:
//!
//! - [`hyperparams`]: SageMaker's hyperparameter names, defaults and valid ranges.
//! - [`ip`]: IPv4 parsing and the prefix-structure encoding of addresses.
//! - [`data`]: `entity,ip` CSV training data and the interned [`data::Dataset`].
//! - [`train`]: the trainer (Adam, random and shuffled negatives, progress per epoch).
//! - [`model`]: the trained model; [`Model::score_pairs`] is what the Lambda calls.
//! - [`format`]: the versioned model file (safetensors + JSON metadata).
//! - [`wire`]: SageMaker IP Insights request parsing and response writing, and
//!   [`wire::parse_predictions`] for endpoint responses.
//! - [`alert`]: which scored pairs are alerts (the threshold, and the fan-out rule).
//! - [`auc`], [`eval`]: ROC AUC, attack generation, SageMaker's discriminator AUC.
//! - [`login_data`]: a generator in the style of the `ipinsights_login` example.
//! - `server` (feature `server`): a local HTTP server with SageMaker's contracts.
//!
//! See `crates/ipinsights/README.md` for the model, the file format and measured numbers.

pub mod alert;
pub mod auc;
pub mod data;
pub mod eval;
pub mod format;
pub mod hash;
pub mod hyperparams;
pub mod image;
pub mod ip;
pub mod known;
mod linalg;
pub mod login_data;
pub mod model;
mod rng;
#[cfg(feature = "server")]
pub mod server;
pub mod train;
pub mod wire;

pub use data::Dataset;
pub use format::FormatError;
pub use hyperparams::{HyperparameterError, Hyperparameters};
pub use model::{Model, Score};
pub use train::{TrainError, TrainOptions};
