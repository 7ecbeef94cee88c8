//! Running one Athena query to the end: start, poll with progress, stop on Ctrl-C, explain
//! failures, then (for a SELECT) page through the result rows.
//!
//! The client lives in `client`, built with the `aws-control-plane` feature (on by default).
//! Without it (the demo's build) `--athena` still prints its SQL with `--print-sql`, and
//! refuses to run it.

use anyhow::Context;

#[cfg(feature = "aws-control-plane")]
mod client;
#[cfg(feature = "aws-control-plane")]
pub use client::Athena;

/// Where and how queries run; shared by `prepare --athena` and `trends --athena`.
#[derive(clap::Args, Clone, Debug)]
pub struct AthenaArgs {
    /// The Glue database of the lake (or a Lake Formation resource link to it), e.g.
    /// amazon_security_lake_glue_db_us_east_1.
    #[arg(long, requires = "athena")]
    pub database: Option<String>,
    /// The Athena workgroup.
    #[arg(long, default_value = "primary", requires = "athena")]
    pub workgroup: String,
    /// The region in the table names (us-east-1 or us_east_1); default: taken from a
    /// Security Lake database name, else the SDK's region.
    #[arg(long, requires = "athena")]
    pub table_region: Option<String>,
    /// Where Athena writes its result and metadata files (s3://…/), unless the workgroup
    /// enforces its own location.
    #[arg(long, requires = "athena")]
    pub athena_results: Option<String>,
    /// How often the query's state is polled, in milliseconds.
    #[arg(long, default_value_t = 2000, requires = "athena")]
    pub athena_poll_ms: u64,
    /// Print the SQL that would run, and stop (no AWS call; review or run it yourself).
    #[arg(long, requires = "athena")]
    pub print_sql: bool,
}

impl AthenaArgs {
    /// The database and its tables: the region in the table names comes from
    /// `--table-region`, else the Security Lake database name, else the SDK's region.
    /// `config` is loaded only when the region must come from it.
    pub async fn tables(
        &self,
        config: Option<&aws_config::SdkConfig>,
    ) -> anyhow::Result<seclake::athena::Tables> {
        let database = self.database.clone().context("--athena needs --database")?;
        let region = match (
            &self.table_region,
            seclake::athena::Tables::region_of_database(&database),
        ) {
            (Some(r), _) => r.clone(),
            (None, Some(r)) => r,
            (None, None) => {
                let loaded;
                let config = match config {
                    Some(c) => c,
                    None => {
                        loaded = aws_config::load_from_env().await;
                        &loaded
                    }
                };
                config.region().map(|r| r.to_string()).context(
                    "no --table-region, and the database name does not carry one: give --table-region us-east-1",
                )?
            }
        };
        Ok(seclake::athena::Tables::new(&database, &region)?)
    }
}

impl AthenaArgs {
    /// The SDK configuration (none with --print-sql, which makes no call) and the tables, with
    /// the ones Glue says the lake lacks marked missing and named in a warning.
    pub async fn resolve(
        &self,
        sources: &[seclake::Source],
        versions: &[seclake::SourceVersion],
    ) -> anyhow::Result<(Option<aws_config::SdkConfig>, seclake::athena::Tables)> {
        if self.print_sql {
            return Ok((None, self.tables(None).await?));
        }
        #[cfg(feature = "aws-control-plane")]
        return client::resolve(self, sources, versions).await;
        #[cfg(not(feature = "aws-control-plane"))]
        {
            let _ = (sources, versions);
            Err(not_built())
        }
    }
}

/// A query that finished.
#[derive(Debug, serde::Serialize)]
pub struct Finished {
    pub query_execution_id: String,
    pub data_scanned_bytes: Option<i64>,
    pub engine_execution_ms: Option<i64>,
    pub seconds: f64,
}

/// Without the Athena SDK there is no client: `resolve` refuses every query first, and
/// `Athena::new` too, so no value of this type exists.
#[cfg(not(feature = "aws-control-plane"))]
pub enum Athena {}

#[cfg(not(feature = "aws-control-plane"))]
impl Athena {
    pub fn new(
        _config: &aws_config::SdkConfig,
        _database: &str,
        _args: &AthenaArgs,
        _default_results: Option<String>,
        _quiet: bool,
    ) -> anyhow::Result<Athena> {
        Err(not_built())
    }

    pub async fn run(&self, _sql: &str, _what: &str) -> anyhow::Result<Finished> {
        match *self {}
    }

    pub async fn rows(
        &self,
        _id: &str,
        _header: &[&str],
    ) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        match *self {}
    }
}

/// The error of a build without Athena and Glue (the demo's).
#[cfg(not(feature = "aws-control-plane"))]
fn not_built() -> anyhow::Error {
    anyhow::anyhow!(
        "this ipinsights was built without Athena and Glue (the demo's build, --no-default-features): `cargo build --release -p ipinsights-cli` builds one that runs --athena queries (--print-sql works in both)"
    )
}
