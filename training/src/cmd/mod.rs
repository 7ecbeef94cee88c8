//! One module per subcommand.

pub mod pairs;
pub mod simulate;
