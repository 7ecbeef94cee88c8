//! The Athena client, and Glue for the tables a lake has.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_athena::types::{
    QueryExecutionContext, QueryExecutionState, ResultConfiguration, ResultReuseConfiguration,
};
use indicatif::{ProgressBar, ProgressStyle};

use super::{AthenaArgs, Finished};

/// `AthenaArgs::resolve` for a run that queries: the SDK configuration, and the tables with
/// the ones Glue says the lake lacks marked missing and named in a warning.
pub(super) async fn resolve(
    args: &AthenaArgs,
    sources: &[seclake::Source],
    versions: &[seclake::SourceVersion],
) -> anyhow::Result<(Option<aws_config::SdkConfig>, seclake::athena::Tables)> {
    let config = aws_config::load_from_env().await;
    let mut tables = args.tables(Some(&config)).await?;
    tables.existing = existing_tables(&config, &tables.database).await;
    for name in tables.missing(sources, versions) {
        eprintln!(
            "warning: {} has no table {name}: skipped (the lake does not collect that source or version)",
            tables.database
        );
    }
    Ok((Some(config), tables))
}

/// The table names in `database`, from Glue; `None` (with a warning) when Glue cannot say, in
/// which case every table asked for is queried.
pub(super) async fn existing_tables(
    config: &aws_config::SdkConfig,
    database: &str,
) -> Option<BTreeSet<String>> {
    let glue = aws_sdk_glue::Client::new(config);
    let mut names = BTreeSet::new();
    let mut pages = glue
        .get_tables()
        .database_name(database)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => names.extend(
                page.table_list
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| t.name),
            ),
            Err(e) => {
                let e = aws_sdk_glue::Error::from(e);
                eprintln!(
                    "warning: cannot list the tables of {database} in Glue ({e}): querying every table of --sources and --versions"
                );
                return None;
            }
        }
    }
    if names.is_empty() {
        // An empty answer more likely means a resource link Glue does not list through, or
        // no permission to see the tables, than a lake without tables: let Athena decide.
        eprintln!(
            "warning: Glue lists no tables in {database}: querying every table of --sources and --versions"
        );
        return None;
    }
    Some(names)
}

/// An Athena client bound to a database and workgroup.
pub struct Athena {
    client: aws_sdk_athena::Client,
    database: String,
    workgroup: String,
    results: Option<String>,
    poll: Duration,
    quiet: bool,
}

impl Athena {
    pub fn new(
        config: &aws_config::SdkConfig,
        database: &str,
        args: &AthenaArgs,
        default_results: Option<String>,
        quiet: bool,
    ) -> anyhow::Result<Athena> {
        Ok(Athena {
            client: aws_sdk_athena::Client::new(config),
            database: database.to_string(),
            workgroup: args.workgroup.clone(),
            results: args.athena_results.clone().or(default_results),
            poll: Duration::from_millis(args.athena_poll_ms.max(10)),
            quiet,
        })
    }

    /// Starts `sql` and waits for it; `what` names it in progress and errors.
    pub async fn run(&self, sql: &str, what: &str) -> anyhow::Result<Finished> {
        let started = Instant::now();
        let mut interrupt = crate::interrupt::Interrupt::new().context("listening for Ctrl-C")?;
        let mut request = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&self.workgroup)
            .query_execution_context(
                QueryExecutionContext::builder()
                    .database(&self.database)
                    .build(),
            )
            // Never hand back another run's results: the lake changes under the same SQL.
            .result_reuse_configuration(ResultReuseConfiguration::builder().build());
        if let Some(location) = &self.results {
            request = request.result_configuration(
                ResultConfiguration::builder()
                    .output_location(location)
                    .build(),
            );
        }
        let id = request
            .send()
            .await
            .map_err(|e| {
                let e = aws_sdk_athena::Error::from(e);
                anyhow::anyhow!(
                    "Athena refused to start the {what} query in workgroup {:?}: {e}{}",
                    self.workgroup,
                    hint(&e.to_string())
                )
            })?
            .query_execution_id
            .context("StartQueryExecution returned no query id")?;
        eprintln!(
            "Athena query {id} ({what}) started in workgroup {}",
            self.workgroup
        );

        let bar = if !self.quiet && std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template(
                "{spinner} athena {msg} ({elapsed})",
            )?);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        let mut last_state = None;
        let outcome = loop {
            let polled = self
                .client
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .map_err(aws_sdk_athena::Error::from);
            let execution = match polled {
                Ok(out) => out
                    .query_execution
                    .context("GetQueryExecution returned no execution")?,
                Err(e) => {
                    // Do not leave a query scanning (and billing) that nobody follows.
                    bar.finish_and_clear();
                    let stopped = self
                        .client
                        .stop_query_execution()
                        .query_execution_id(&id)
                        .send()
                        .await
                        .is_ok();
                    bail!(
                        "polling Athena query {id} failed: {e}; {}",
                        if stopped {
                            "the query was stopped"
                        } else {
                            "the query may still be running: stop it in the Athena console"
                        }
                    );
                }
            };
            let status = execution.status.as_ref();
            let state = status.and_then(|s| s.state.clone());
            let scanned = execution
                .statistics
                .as_ref()
                .and_then(|s| s.data_scanned_in_bytes);
            bar.set_message(format!(
                "{what}: {} {}",
                state.as_ref().map_or("UNKNOWN", |s| s.as_str()),
                scanned.map(human_bytes).unwrap_or_default()
            ));
            if state != last_state {
                if bar.is_hidden() && !self.quiet {
                    eprintln!(
                        "  {} after {:.1} s",
                        state.as_ref().map_or("UNKNOWN", |s| s.as_str()),
                        started.elapsed().as_secs_f64()
                    );
                }
                last_state = state.clone();
            }
            match state {
                Some(QueryExecutionState::Succeeded) => {
                    break Ok(Finished {
                        query_execution_id: id.clone(),
                        data_scanned_bytes: scanned,
                        engine_execution_ms: execution
                            .statistics
                            .as_ref()
                            .and_then(|s| s.engine_execution_time_in_millis),
                        seconds: started.elapsed().as_secs_f64(),
                    });
                }
                Some(QueryExecutionState::Failed) | Some(QueryExecutionState::Cancelled) => {
                    let reason = status
                        .and_then(|s| {
                            s.athena_error
                                .as_ref()
                                .and_then(|e| e.error_message.clone())
                                .or_else(|| s.state_change_reason.clone())
                        })
                        .unwrap_or_else(|| "no reason given".into());
                    break Err(anyhow::anyhow!(
                        "Athena query {id} ({what}) {}: {reason}{}",
                        state.as_ref().map_or("", |s| s.as_str()),
                        hint(&reason)
                    ));
                }
                _ => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = interrupt.recv() => {
                    bar.finish_and_clear();
                    eprintln!("stopping Athena query {id}");
                    self.client
                        .stop_query_execution()
                        .query_execution_id(&id)
                        .send()
                        .await
                        .map_err(aws_sdk_athena::Error::from)
                        .with_context(|| format!("stopping Athena query {id}"))?;
                    bail!("interrupted: Athena query {id} stopped");
                }
            }
        };
        bar.finish_and_clear();
        // tokio keeps SIGINT from now on, even with the listener gone: make a Ctrl-C during
        // the rest of the command end it, as the user expects.
        interrupt.exit_on_next();
        let finished = outcome?;
        eprintln!(
            "Athena query {id} succeeded in {:.1} s{}",
            finished.seconds,
            finished
                .data_scanned_bytes
                .map(|b| format!(", {} scanned", human_bytes(b)))
                .unwrap_or_default()
        );
        Ok(finished)
    }

    /// The rows of a finished SELECT, without its header row (`header` names the columns and
    /// is checked, so a changed query cannot be misread).
    pub async fn rows(
        &self,
        id: &str,
        header: &[&str],
    ) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        let mut rows = Vec::new();
        let mut pages = self
            .client
            .get_query_results()
            .query_execution_id(id)
            .into_paginator()
            .send();
        let mut first = true;
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(aws_sdk_athena::Error::from)
                .with_context(|| format!("reading the results of Athena query {id}"))?;
            for row in page.result_set.and_then(|r| r.rows).unwrap_or_default() {
                let values: Vec<Option<String>> = row
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| d.var_char_value)
                    .collect();
                if std::mem::take(&mut first) {
                    let names: Vec<&str> =
                        values.iter().map(|v| v.as_deref().unwrap_or("")).collect();
                    if names != header {
                        bail!("Athena query {id} returned columns {names:?}, expected {header:?}");
                    }
                    continue;
                }
                if values.len() != header.len() {
                    bail!(
                        "Athena query {id} returned a row of {} values, expected {}",
                        values.len(),
                        header.len()
                    );
                }
                rows.push(values);
            }
        }
        Ok(rows)
    }
}

/// What to do about the usual failures.
fn hint(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("workgroup") {
        "\n  hint: check --workgroup (it must exist in this account and region, and be enabled)"
    } else if m.contains("$path") {
        "\n  hint: column-restricted Lake Formation grants hide \"$path\" (one row per pair and object); give --athena-dedup day for one row per pair and day instead"
    } else if m.contains("column_not_found") || m.contains("cannot be resolved") {
        "\n  hint: a column is missing from a table: check --versions (1.0 and 2.0 tables differ, e.g. cloud.account_uid against cloud.account.uid)"
    } else if m.contains("lake formation") {
        "\n  hint: the caller needs Lake Formation SELECT and DESCRIBE on the Security Lake tables (a Security Lake query-access subscriber, or a grant by the data lake administrator)"
    } else if m.contains("table_not_found")
        || m.contains("does not exist")
        || m.contains("not found")
    {
        "\n  hint: check --database and --table-region (tables are amazon_security_lake_table_<region>_<source>_<1_0|2_0>; the lake may not collect that source or version: narrow --sources/--versions)"
    } else if m.contains("access denied")
        || m.contains("accessdenied")
        || m.contains("not authorized")
    {
        "\n  hint: the caller needs athena:StartQueryExecution/GetQueryExecution/GetQueryResults, glue:GetTable/GetDatabase, lakeformation:GetDataAccess, and s3:PutObject/GetObject/ListBucket on the output and results locations"
    } else if m.contains("path_already_exists") || m.contains("already exists") {
        "\n  hint: UNLOAD needs an empty location; choose another --out"
    } else if m.contains("output location") || m.contains("outputlocation") {
        "\n  hint: give --athena-results s3://…/ or set a query result location on the workgroup"
    } else {
        ""
    }
}

pub fn human_bytes(b: i64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
    use aws_sdk_athena::operation::start_query_execution::StartQueryExecutionOutput;
    use aws_sdk_athena::types::{AthenaError, QueryExecution, QueryExecutionStatus};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn athena(client: aws_sdk_athena::Client) -> Athena {
        Athena {
            client,
            database: "db".into(),
            workgroup: "primary".into(),
            results: None,
            poll: Duration::from_millis(1),
            quiet: true,
        }
    }

    fn execution(state: QueryExecutionState, reason: Option<&str>) -> GetQueryExecutionOutput {
        let mut status = QueryExecutionStatus::builder().state(state);
        if let Some(r) = reason {
            status = status.athena_error(AthenaError::builder().error_message(r).build());
        }
        GetQueryExecutionOutput::builder()
            .query_execution(
                QueryExecution::builder()
                    .query_execution_id("q-1")
                    .status(status.build())
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn a_failed_query_says_why_and_what_to_do() {
        let start = mock!(aws_sdk_athena::Client::start_query_execution).then_output(|| {
            StartQueryExecutionOutput::builder()
                .query_execution_id("q-1")
                .build()
        });
        let running = mock!(aws_sdk_athena::Client::get_query_execution)
            .then_output(|| execution(QueryExecutionState::Running, None));
        let failed = mock!(aws_sdk_athena::Client::get_query_execution).then_output(|| {
            execution(
                QueryExecutionState::Failed,
                Some("Insufficient Lake Formation permission(s) on amazon_security_lake_table_us_east_1_vpc_flow_2_0"),
            )
        });
        let client = mock_client!(
            aws_sdk_athena,
            RuleMode::Sequential,
            [&start, &running, &failed]
        );
        let err = athena(client).run("SELECT 1", "pairs").await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("q-1 (pairs) FAILED: Insufficient Lake Formation"),
            "{msg}"
        );
        assert!(
            msg.contains("hint: the caller needs Lake Formation SELECT"),
            "{msg}"
        );
        assert_eq!(running.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_refused_start_names_the_workgroup() {
        let start = mock!(aws_sdk_athena::Client::start_query_execution).then_error(|| {
            aws_sdk_athena::operation::start_query_execution::StartQueryExecutionError::InvalidRequestException(
                aws_sdk_athena::types::error::InvalidRequestException::builder()
                    .message("WorkGroup primary2 is not found.")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_athena, [&start]);
        let err = athena(client).run("SELECT 1", "pairs").await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("refused to start the pairs query in workgroup \"primary\""),
            "{msg}"
        );
        assert!(msg.contains("WorkGroup primary2 is not found"), "{msg}");
    }

    #[test]
    fn hints() {
        assert!(
            hint("HIVE_PATH_ALREADY_EXISTS: Target directory for table").contains("empty location")
        );
        assert!(
            hint("TABLE_NOT_FOUND: line 3:8: Table 'x' does not exist").contains("--table-region")
        );
        assert_eq!(hint("SYNTAX_ERROR"), "");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }
}
