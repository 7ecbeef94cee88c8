//! One module per subcommand.

pub mod bench_model;
pub mod bench_pairs;
pub mod calibrate;
pub mod demo;
pub mod evaluate;
pub mod feedback;
pub mod fit;
pub mod pairs;
pub mod prepare;
pub mod sagemaker;
pub mod score;
pub mod serve;
pub mod simulate;
pub mod suppressions;
pub mod trends;
