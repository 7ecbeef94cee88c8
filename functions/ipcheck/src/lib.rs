//! The ipcheck Lambda: scores the objects Security Lake announces on its subscriber queue.
//!
//! Modules follow the data flow: [`config`] (read once at start), [`handler`] (a batch of
//! messages), [`scoring`] (endpoint or embedded model), [`records`] (what is logged).

pub mod config;
pub mod handler;
pub mod logging;
pub mod records;
pub mod scoring;

pub use config::{Config, ConfigError, ScorerConfig};
pub use handler::{Deps, Sinks, handle, handle_batch};
pub use records::Metrics;
pub use scoring::{Backoff, EmbeddedScorer, EndpointScorer, Scorer};
