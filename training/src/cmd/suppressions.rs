//! `ipinsights suppressions check`: validates a suppression file and lists its rules.

use anyhow::Context;
use findings::labels::{DAY_MS, format_rfc3339_ms};
use findings::suppress::SuppressionSet;

use super::fit::read_input;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Validate a suppression file (a path or s3://bucket/key) and list its rules, the expired
    /// ones and those expiring soon; exits non-zero when the file is invalid.
    Check(CheckArgs),
}

#[derive(clap::Args)]
#[command(after_help = "The file (YAML or JSON):

  suppressions:
    - id: nightly-backup          # optional; default rule-<n>
      account: \"1111*\"            # globs (* and ?) on the account, instance id and group
      entity: \"i-0abc*\"
      group: \"subnet-0db*\"        # a subject without a group never matches
      cidr: 203.0.113.0/24        # one CIDR or a list
      port: [443, \"8000-8100\"]    # ports and ranges
      pairing: initiator          # initiator, src, endpoint or peer
      reason: backup to partner   # required
      owner: netops@example.com   # required
      expires: 2027-03-01         # required: a date (its end, UTC) or an RFC 3339 time

Unknown fields and rules without any matcher are errors, so a typo cannot silently widen a rule.

Examples:
  ipinsights suppressions check suppressions.yaml
  ipinsights suppressions check s3://my-config/ipinsights/suppressions.yaml --within-days 30")]
pub struct CheckArgs {
    /// The suppression file: a path or s3://bucket/key.
    file: String,
    /// List the rules that expire within this many days.
    #[arg(long, default_value_t = 14)]
    within_days: u32,
}

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    let bytes = read_input(&args.file)?;
    let text = String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", args.file))?;
    let set = SuppressionSet::parse(&text).with_context(|| format!("{} is invalid", args.file))?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    print!("{}", report(&set, &args.file, now_ms, args.within_days));
    Ok(())
}

/// The listing: one line per rule, then the expired and the soon-expiring rules.
fn report(set: &SuppressionSet, file: &str, now_ms: i64, within_days: u32) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{file}: valid, {} rules", set.len());
    for rule in set.rules() {
        let state = if rule.is_expired(now_ms) {
            "EXPIRED".to_string()
        } else {
            format!(
                "{:.1} days left",
                (rule.expires_ms - now_ms) as f64 / DAY_MS as f64
            )
        };
        let _ = writeln!(
            out,
            "  {}: {} | owner {} | until {} ({state}) | {}",
            rule.id,
            rule.matchers(),
            rule.owner,
            format_rfc3339_ms(rule.expires_ms),
            rule.reason
        );
    }
    let ids = |rules: Vec<&findings::suppress::Rule>| {
        rules
            .iter()
            .map(|r| format!("{} (owner {})", r.id, r.owner))
            .collect::<Vec<_>>()
    };
    let expired = ids(set.expired(now_ms));
    let _ = writeln!(
        out,
        "expired ({}, they match nothing): {}",
        expired.len(),
        if expired.is_empty() {
            "none".to_string()
        } else {
            expired.join(", ")
        }
    );
    let soon = ids(set.expiring_within(now_ms, i64::from(within_days) * DAY_MS));
    let _ = writeln!(
        out,
        "expiring within {within_days} days ({}): {}",
        soon.len(),
        if soon.is_empty() {
            "none".to_string()
        } else {
            soon.join(", ")
        }
    );
    out
}
