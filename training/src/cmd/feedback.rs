//! `ipinsights feedback`: the analysts' verdicts on our Security Hub findings, as a labels file.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use aws_sdk_securityhub::types::{
    AwsSecurityFindingFilters, DateFilter, StringFilter, StringFilterComparison,
};
use findings::labels::{self, DAY_MS, Label, Verdict};
use findings::verdict::{is_ours, label_of, verdict_of};

#[derive(clap::Args)]
#[command(
    after_help = "Reads the findings the ipcheck Lambda imported into Security Hub (GetFindings on the
account's ProductArn and our GeneratorId, 100 a page) and writes what the analysts decided as a
labels CSV (entity,address,group,verdict,when,who,finding_id,note):

  verdict user-defined field false_positive|benign|fp      -> false_positive
  verdict user-defined field true_positive|malicious|tp|confirmed -> true_positive
  workflow SUPPRESSED                                      -> false_positive
  workflow RESOLVED, note says false positive/benign/expected -> false_positive
  workflow RESOLVED otherwise                              -> true_positive
  workflow NEW or NOTIFIED                                 -> no verdict yet (left out)

Then: ipinsights prepare ... --labels labels.csv (false positives become training rows) and
ipinsights calibrate ... --labels labels.csv (they count as normal traffic, the confirmed ones
as attacks).

Examples:
  ipinsights feedback --out labels.csv
  ipinsights feedback --out labels.csv --since 2026-01-01 --account 111122223333"
)]
pub struct Args {
    /// Where to write the labels CSV.
    #[arg(long)]
    out: PathBuf,
    /// Only findings updated at or after this time: RFC 3339 or a date (its start, UTC).
    #[arg(long, value_parser = parse_since)]
    since: Option<i64>,
    /// The account whose Security Hub holds the findings (default: the caller's, from STS).
    #[arg(long)]
    account: Option<String>,
}

/// `--since`: a date (YYYY-MM-DD, its first millisecond UTC) or an RFC 3339 time.
pub fn parse_since(s: &str) -> Result<i64, String> {
    if let Some((y, m, d)) = labels::parse_date(s) {
        return Ok(labels::days_from_civil(y, m, d) * DAY_MS);
    }
    labels::parse_rfc3339_ms(s)
        .ok_or_else(|| format!("{s:?}: give a date (2026-01-31) or an RFC 3339 time"))
}

/// Reads a labels file (a path or s3://bucket/key).
pub fn load_labels(location: &str) -> anyhow::Result<Vec<Label>> {
    let bytes = super::fit::read_input(location)?;
    let text = String::from_utf8(bytes).with_context(|| format!("{location} is not UTF-8"))?;
    labels::parse_labels(&text).with_context(|| format!("reading the labels {location}"))
}

/// What one run read and wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Findings Security Hub returned.
    pub read: usize,
    /// Of those, findings of another generator or product (skipped).
    pub not_ours: usize,
    pub false_positives: usize,
    pub true_positives: usize,
    /// Ours, with no verdict yet.
    pub without_verdict: usize,
    /// Ours, updated before `--since` (when the filter was not applied by the service).
    pub older: usize,
    /// Ours, with a verdict but without the entity or address (damaged findings).
    pub unusable: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(feedback(args))
}

async fn feedback(args: Args) -> anyhow::Result<()> {
    // Standard retries with a few more attempts than the default: GetFindings is throttled
    // (3 requests a second, bursting to 6) and one run pages through every finding.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
        .load()
        .await;
    let region = config
        .region()
        .map(|r| r.to_string())
        .context("no AWS region: set AWS_REGION (Security Hub findings are per region)")?;
    let account = match args.account {
        Some(a) => a,
        None => aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sts::error::DisplayErrorContext(e).to_string()))
            .context("finding the account (STS GetCallerIdentity): give --account")?
            .account
            .context("STS GetCallerIdentity returned no account: give --account")?,
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        bail!("--account {account:?} is not a 12-digit account id");
    }
    let product_arn = findings::product_arn(findings::partition_of(&region), &region, &account);
    let client = aws_sdk_securityhub::Client::new(&config);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let (labels, counts) = collect(&client, &product_arn, args.since, now_ms).await?;

    let mut out = Vec::new();
    labels::write_labels(&mut out, &labels)?;
    std::fs::write(&args.out, out).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "findings read {} ({} of another product or generator{} skipped), false positives {}, true positives {}, without verdict {}{}",
        counts.read,
        counts.not_ours,
        if counts.older > 0 {
            format!(", {} updated before --since", counts.older)
        } else {
            String::new()
        },
        counts.false_positives,
        counts.true_positives,
        counts.without_verdict,
        if counts.unusable > 0 {
            format!(
                ", {} with a verdict but no entity or address (left out)",
                counts.unusable
            )
        } else {
            String::new()
        }
    );
    println!("{} labels -> {}", labels.len(), args.out.display());
    Ok(())
}

/// Pages through our findings and returns their labels (oldest verdict first) and the counts.
pub async fn collect(
    client: &aws_sdk_securityhub::Client,
    product_arn: &str,
    since_ms: Option<i64>,
    now_ms: i64,
) -> anyhow::Result<(Vec<Label>, Counts)> {
    let equals = |value: &str| {
        StringFilter::builder()
            .comparison(StringFilterComparison::Equals)
            .value(value)
            .build()
    };
    let mut filters = AwsSecurityFindingFilters::builder()
        .product_arn(equals(product_arn))
        .generator_id(equals(findings::GENERATOR_ID));
    if let Some(since) = since_ms {
        // Security Hub wants both ends; a day past now leaves room for clock skew.
        filters = filters.updated_at(
            DateFilter::builder()
                .start(labels::format_rfc3339_ms(since))
                .end(labels::format_rfc3339_ms(now_ms + DAY_MS))
                .build(),
        );
    }
    let mut pages = client
        .get_findings()
        .filters(filters.build())
        .max_results(100)
        .into_paginator()
        .send();
    let mut counts = Counts::default();
    // By finding id: a finding updated while we page can come twice; the later copy wins.
    let mut by_id: HashMap<String, Label> = HashMap::new();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| {
                anyhow::anyhow!(aws_sdk_securityhub::error::DisplayErrorContext(e).to_string())
            })
            .context("Security Hub GetFindings")?;
        for finding in page.findings() {
            counts.read += 1;
            // Filters are checked here too: moto ignores them, and they cost nothing.
            if !is_ours(finding, Some(product_arn)) {
                counts.not_ours += 1;
                continue;
            }
            if let Some(since) = since_ms
                && finding
                    .updated_at()
                    .and_then(labels::parse_rfc3339_ms)
                    .is_some_and(|t| t < since)
            {
                counts.older += 1;
                continue;
            }
            match (verdict_of(finding), label_of(finding)) {
                (None, _) => counts.without_verdict += 1,
                (Some(_), None) => counts.unusable += 1,
                (Some(_), Some(label)) => {
                    by_id.insert(label.finding_id.clone(), label);
                }
            }
        }
    }
    let mut labels: Vec<Label> = by_id.into_values().collect();
    labels.sort_by(|a, b| (a.when_ms, &a.finding_id).cmp(&(b.when_ms, &b.finding_id)));
    counts.false_positives = labels
        .iter()
        .filter(|l| l.verdict == Verdict::FalsePositive)
        .count();
    counts.true_positives = labels.len() - counts.false_positives;
    Ok((labels, counts))
}
