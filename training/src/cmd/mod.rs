//! One module per subcommand.

pub mod bench_pairs;
pub mod pairs;
pub mod simulate;
