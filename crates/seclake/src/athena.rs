//! Athena SQL over the Security Lake Glue tables, for lakes too large for one machine.
//!
//! The queries do in SQL what [`crate::pairs`] and [`crate::findings`] do in process, so both
//! paths give the same pairs and the same daily counts:
//!
//! - [`PairsQuery`]: the (entity, IPv4) pairs of a window, one row per distinct pair per object
//!   (`"$path"`), with the same drops (null, empty or `-` entity or address, IPv6, not an address)
//!   and the same normalisation (`012.000.1.2` → `12.0.1.2`, `::ffff:1.2.3.4` → `1.2.3.4`).
//!   Entities with a comma, quote or line break are left out, as the CSV writer does.
//! - [`FindingsQuery`]: Security Hub findings per UTC day of `time` and series key.
//!
//! Tables are `amazon_security_lake_table_<region>_<source>_<1_0|2_0>`. Source version 1.0
//! tables are pruned on their `eventday` partition; 2.0 tables on `time_dt`, as AWS's example
//! queries for source version 2 do. Only this module writes SQL, and every value put into it
//! is a validated day, a quoted literal or a quoted identifier.
//!
//! The SQL sticks to functions that Athena (Trino) has; the test suite runs the same text in
//! DuckDB with a few renames (see `training/tests/athena.rs`) against the simulated lake.

use std::fmt::Write as _;

use crate::pairing::{EPHEMERAL_START, SERVICE_PORTS};
use crate::{EventDay, GroupBy, Pairing, Source, SourceVersion};

/// A query that cannot be built from the arguments.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("{0} has no Glue table for pairs (only VPC_FLOW and ROUTE53 do)")]
    UnsupportedSource(String),
    #[error("no sources or no versions given")]
    Empty,
    #[error("--since {since} is after --until {until}")]
    Window { since: EventDay, until: EventDay },
    #[error("{0:?} is not a Glue region suffix (expected something like us_east_1 or us-east-1)")]
    Region(String),
    #[error("none of the tables {0:?} exists in the database")]
    NoTables(Vec<String>),
}

/// Where the Security Lake tables are: the Glue database and the region suffix of its tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// The Glue database (or a Lake Formation resource link to it).
    pub database: String,
    /// `us_east_1` in `amazon_security_lake_table_us_east_1_vpc_flow_1_0`.
    pub region_suffix: String,
    /// The tables known to exist (from Glue); `None`: assume every table asked for exists.
    /// Security Lake creates tables only for the sources and source version a lake collects,
    /// and one missing table fails a whole `UNION ALL`.
    pub existing: Option<std::collections::BTreeSet<String>>,
}

impl Tables {
    /// `region` may be `us-east-1` or `us_east_1`.
    pub fn new(database: &str, region: &str) -> Result<Tables, QueryError> {
        let suffix = region.replace('-', "_").to_ascii_lowercase();
        let ok = !suffix.is_empty()
            && suffix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(QueryError::Region(region.to_string()));
        }
        Ok(Tables {
            database: database.to_string(),
            region_suffix: suffix,
            existing: None,
        })
    }

    /// The region suffix in a Security Lake database name
    /// (`amazon_security_lake_glue_db_us_east_1` → `us_east_1`).
    pub fn region_of_database(database: &str) -> Option<String> {
        let rest = database.strip_prefix("amazon_security_lake_glue_db_")?;
        let ok = !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        ok.then(|| rest.to_string())
    }

    /// `amazon_security_lake_table_<region>_<source>_<1_0|2_0>`.
    pub fn name(&self, source: &Source, version: SourceVersion) -> String {
        format!(
            "amazon_security_lake_table_{}_{}_{}",
            self.region_suffix,
            source.as_str().to_ascii_lowercase(),
            version.as_str().replace('.', "_")
        )
    }

    /// `"database"."amazon_security_lake_table_<region>_<source>_<1_0|2_0>"`.
    pub fn table(&self, source: &Source, version: SourceVersion) -> String {
        format!(
            "{}.{}",
            quote_ident(&self.database),
            quote_ident(&self.name(source, version))
        )
    }

    /// Whether the table is known to exist (or nothing is known).
    pub fn exists(&self, source: &Source, version: SourceVersion) -> bool {
        self.existing
            .as_ref()
            .is_none_or(|e| e.contains(&self.name(source, version)))
    }

    /// The tables of `sources` x `versions` that are known not to exist.
    pub fn missing(&self, sources: &[Source], versions: &[SourceVersion]) -> Vec<String> {
        sources
            .iter()
            .flat_map(|s| versions.iter().map(move |&v| (s, v)))
            .filter(|(s, v)| !self.exists(s, *v))
            .map(|(s, v)| self.name(s, v))
            .collect()
    }
}

/// A SQL string literal.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQL identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `UNLOAD (select) TO 'location' WITH (format = 'TEXTFILE', field_delimiter = ',')`: headerless
/// CSV files (GZIP-compressed, Athena's default for text) under `location`, which must be empty.
pub fn unload_csv(select: &str, location: &str) -> String {
    format!(
        "UNLOAD (\n{select}\n) TO {} WITH (format = 'TEXTFILE', field_delimiter = ',')",
        quote_literal(location)
    )
}

/// The filters shared by both queries.
#[derive(Debug, Clone)]
pub struct Filter {
    pub since: EventDay,
    /// Included.
    pub until: EventDay,
    /// Values of the `region` column; `None`: all.
    pub regions: Option<Vec<String>>,
    /// Values of the `accountid` column; `None`: all.
    pub accounts: Option<Vec<String>>,
}

impl Filter {
    fn check(&self) -> Result<(), QueryError> {
        if self.since > self.until {
            return Err(QueryError::Window {
                since: self.since,
                until: self.until,
            });
        }
        Ok(())
    }

    /// The WHERE clause of one table.
    fn clause(&self, version: SourceVersion) -> String {
        let mut w = match version {
            SourceVersion::V1 => format!("eventday BETWEEN '{}' AND '{}'", self.since, self.until),
            SourceVersion::V2 => format!(
                "time_dt >= TIMESTAMP '{}' AND time_dt < TIMESTAMP '{}'",
                timestamp(self.since),
                timestamp(self.until.succ())
            ),
        };
        for (column, values) in [("region", &self.regions), ("accountid", &self.accounts)] {
            if let Some(values) = values {
                let list: Vec<String> = values.iter().map(|v| quote_literal(v)).collect();
                let _ = write!(w, " AND {column} IN ({})", list.join(", "));
            }
        }
        w
    }
}

fn timestamp(day: EventDay) -> String {
    format!(
        "{:04}-{:02}-{:02} 00:00:00",
        day.year(),
        day.month(),
        day.day()
    )
}

/// The pairs of a window, as `SELECT entity, ip, day` (`day` is `YYYYMMDD`).
#[derive(Debug, Clone)]
pub struct PairsQuery {
    pub tables: Tables,
    pub sources: Vec<Source>,
    pub versions: Vec<SourceVersion>,
    pub filter: Filter,
    pub pairing: Pairing,
    /// Each kept pair's entity group ([`GroupBy`]) gives a second row, as `prepare` writes.
    pub group_by: GroupBy,
    pub dedup: Dedup,
}

/// What a pair is distinct within.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dedup {
    /// One row per pair and object (`"$path"`), as the local extractor writes.
    #[default]
    Object,
    /// One row per pair and day: for column-restricted Lake Formation grants, which hide
    /// `"$path"`.
    Day,
}

impl PairsQuery {
    /// The SELECT statement.
    pub fn select(&self) -> Result<String, QueryError> {
        self.filter.check()?;
        if self.sources.is_empty() || self.versions.is_empty() {
            return Err(QueryError::Empty);
        }
        let mut branches = Vec::new();
        for source in &self.sources {
            if !source.is_scorable() {
                return Err(QueryError::UnsupportedSource(source.as_str().to_string()));
            }
            for &version in &self.versions {
                if !self.tables.exists(source, version) {
                    continue;
                }
                let table = self.tables.table(source, version);
                let day = match version {
                    SourceVersion::V1 => "eventday",
                    SourceVersion::V2 => "date_format(time_dt, '%Y%m%d')",
                };
                let filter = self.filter.clause(version);
                let object = match self.dedup {
                    Dedup::Object => "\"$path\"",
                    Dedup::Day => "''",
                };
                for slot in slots(source, self.pairing) {
                    let no_group = || "CAST(NULL AS varchar)".to_string();
                    let group_of = |entity: &str| {
                        group_column(entity, source, self.group_by).unwrap_or_else(no_group)
                    };
                    branches.push(match slot {
                        Slot::Field { entity, ip } => format!(
                            "  SELECT {object} AS object, {day} AS day, {entity} AS entity, {grp} AS grp, {ip} AS ip\n  FROM {table}\n  WHERE {filter}",
                            grp = group_of(entity),
                        ),
                        // A/AAAA answers only; AAAA can carry an IPv4-mapped address.
                        Slot::Answers { entity } => format!(
                            "  SELECT {object} AS object, {day} AS day, {entity} AS entity, {grp} AS grp, a.rdata AS ip\n  FROM {table}\n  CROSS JOIN UNNEST(transform(filter(answers, x -> upper(x.type) IN ('A', 'AAAA')), x -> x.rdata)) AS a (rdata)\n  WHERE {filter}",
                            grp = group_of(entity),
                        ),
                        Slot::Initiator => format!(
                            "  SELECT object, day,\n    CASE side WHEN 1 THEN src_uid WHEN 2 THEN dst_uid END AS entity,\n    CASE side WHEN 1 THEN src_grp WHEN 2 THEN dst_grp END AS grp,\n    CASE side WHEN 1 THEN dst_ip WHEN 2 THEN src_ip END AS ip\n  FROM (\n    SELECT {object} AS object, {day} AS day, {SRC_UID} AS src_uid, {DST_UID} AS dst_uid,\n      src_endpoint.ip AS src_ip, dst_endpoint.ip AS dst_ip,\n      {src_grp} AS src_grp, {dst_grp} AS dst_grp,\n      {side} AS side\n    FROM {table}\n    WHERE {filter}\n  ) AS flows",
                            src_grp = group_of(SRC_UID),
                            dst_grp = group_of(DST_UID),
                            side = initiator_side(),
                        ),
                    });
                }
            }
        }
        if branches.is_empty() {
            return Err(QueryError::NoTables(
                self.tables.missing(&self.sources, &self.versions),
            ));
        }
        let octet =
            |i: usize| format!("CAST(TRY_CAST(split_part(ip, '.', {i}) AS integer) AS varchar)");
        let in_range = |i: usize| format!("TRY_CAST(split_part(ip, '.', {i}) AS integer) <= 255");
        Ok(format!(
            // Nested subqueries, not WITH: Athena documents UNLOAD over a SELECT statement.
            // A pair's group is the smallest one its rows give (as the extractor keeps it),
            // and rides on a kept instance only; each becomes a row of its own.
            r#"SELECT entity, ip, day FROM (
  SELECT DISTINCT object, day, e.entity AS entity, ip
  FROM (
    SELECT object, day, entity, ip, min(grp) AS grp
    FROM (
      SELECT object, day, entity, grp,
        {o1} || '.' || {o2} || '.' || {o3} || '.' || {o4} AS ip
      FROM (
        SELECT object, day, entity, grp,
          CASE WHEN regexp_like(ip, '{mapped}') THEN regexp_extract(ip, '{QUAD}', 0) ELSE ip END AS ip
        FROM (
          SELECT object, day, trim(entity) AS entity,
            CASE WHEN trim(grp) NOT IN ('', '-') THEN trim(grp) END AS grp,
            lower(trim(ip)) AS ip
          FROM (
{raw}
          ) AS raw
          WHERE entity IS NOT NULL AND ip IS NOT NULL
        ) AS trimmed
        WHERE entity NOT IN ('', '-')
          AND strpos(entity, ',') = 0 AND strpos(entity, '"') = 0
          AND strpos(entity, chr(10)) = 0 AND strpos(entity, chr(13)) = 0
      ) AS mapped
      WHERE regexp_like(ip, '\A{QUAD}\z')
        AND {r1} AND {r2} AND {r3} AND {r4}
    ) AS normalised
    GROUP BY object, day, entity, ip
  ) AS grouped
  CROSS JOIN UNNEST(ARRAY[entity, grp]) AS e (entity)
  WHERE e.entity IS NOT NULL
    AND strpos(e.entity, ',') = 0 AND strpos(e.entity, '"') = 0
    AND strpos(e.entity, chr(10)) = 0 AND strpos(e.entity, chr(13)) = 0
) AS pairs"#,
            raw = branches.join("\n  UNION ALL\n"),
            mapped = mapped_pattern(),
            o1 = octet(1),
            o2 = octet(2),
            o3 = octet(3),
            o4 = octet(4),
            r1 = in_range(1),
            r2 = in_range(2),
            r3 = in_range(3),
            r4 = in_range(4),
        ))
    }
}

/// A dotted quad of one- to three-digit decimal octets.
const QUAD: &str = "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}";
/// An IPv4-mapped IPv6 address in dotted form, as `std::net::Ipv6Addr` parses it (lower-cased
/// already): five zero groups, written out or folded by one `::`, then `ffff:` and a dotted quad
/// without leading zeros; bracketed or not. `\A`/`\z` rather than `^`/`$`, which Trino's
/// default regex engine (Joni) reads as line anchors. The hex form (`::ffff:102:304`) is not
/// matched: the local reader takes it as `1.2.3.4`, the SQL drops it as IPv6.
fn mapped_pattern() -> String {
    const ZERO: &str = "0{1,4}:";
    const OCTET: &str = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
    let mut prefixes = vec![format!("({ZERO}){{5}}")];
    // `a` groups before `::`, `b` after it; `::` stands for at least one group.
    for a in 0..=4 {
        for b in 0..=(4 - a) {
            let before = match a {
                0 => String::new(),
                _ => format!("({ZERO}){{{}}}0{{1,4}}", a - 1),
            };
            prefixes.push(format!("{before}::({ZERO}){{{b}}}"));
        }
    }
    let inner = format!(
        "({})ffff:{OCTET}\\.{OCTET}\\.{OCTET}\\.{OCTET}",
        prefixes.join("|")
    );
    format!("\\A(\\[{inner}\\]|{inner})\\z")
}

const SRC_UID: &str = "src_endpoint.instance_uid";
const DST_UID: &str = "dst_endpoint.instance_uid";

/// One way a row yields a candidate pair, as [`crate::PairExtractor`] reads it.
enum Slot {
    Field {
        entity: &'static str,
        ip: &'static str,
    },
    Answers {
        entity: &'static str,
    },
    Initiator,
}

/// The slots of a pairing.
fn slots(source: &Source, pairing: Pairing) -> Vec<Slot> {
    const SRC_IP: &str = "src_endpoint.ip";
    const DST_IP: &str = "dst_endpoint.ip";
    let field = |entity, ip| Slot::Field { entity, ip };
    match (source, pairing) {
        (Source::Route53, Pairing::Src | Pairing::Endpoint) => vec![field(SRC_UID, SRC_IP)],
        (Source::Route53, Pairing::Peer | Pairing::Initiator) => {
            vec![Slot::Answers { entity: SRC_UID }]
        }
        (_, Pairing::Initiator) => vec![Slot::Initiator],
        (_, Pairing::Src) => vec![field(SRC_UID, SRC_IP)],
        (_, Pairing::Endpoint) => vec![field(SRC_UID, SRC_IP), field(DST_UID, DST_IP)],
        (_, Pairing::Peer) => vec![field(SRC_UID, DST_IP), field(DST_UID, SRC_IP)],
    }
}

/// The group column of an entity column: its endpoint's `subnet_uid` (Route 53 records have
/// only `vpc_uid`) or `vpc_uid`.
fn group_column(entity: &str, source: &Source, by: GroupBy) -> Option<String> {
    let endpoint = entity.strip_suffix(".instance_uid")?;
    match (by, source) {
        (GroupBy::None, _) => None,
        (GroupBy::Subnet, Source::Route53) | (GroupBy::Vpc, _) => {
            Some(format!("{endpoint}.vpc_uid"))
        }
        (GroupBy::Subnet, _) => Some(format!("{endpoint}.subnet_uid")),
    }
}

/// [`crate::pairing::initiator`] as SQL over one flow record: 1 the source, 2 the destination,
/// NULL undecided. Integer division and `mod` rather than bitwise functions, which differ
/// between engines.
fn initiator_side() -> String {
    let flags = "connection_info.tcp_flags";
    let proto = "connection_info.protocol_num";
    let rank = |port: &str| {
        let list: Vec<String> = SERVICE_PORTS.iter().map(|p| p.to_string()).collect();
        format!(
            "CASE WHEN {port} < 1024 OR {port} IN ({}) THEN 0 WHEN {port} < {EPHEMERAL_START} THEN 1 ELSE 2 END",
            list.join(", ")
        )
    };
    let (sp, dp) = ("src_endpoint.port", "dst_endpoint.port");
    format!(
        "CASE\n          WHEN {flags} IS NOT NULL AND ({proto} = 6 OR {proto} IS NULL) AND mod(floor({flags} / 2), 2) = 1\n            THEN CASE WHEN mod(floor({flags} / 16), 2) = 1 THEN 2 ELSE 1 END\n          WHEN ({proto} IN (6, 17, 132) OR {proto} IS NULL) AND {sp} BETWEEN 1 AND 65535 AND {dp} BETWEEN 1 AND 65535 AND {rd} < {rs} THEN 1\n          WHEN ({proto} IN (6, 17, 132) OR {proto} IS NULL) AND {sp} BETWEEN 1 AND 65535 AND {dp} BETWEEN 1 AND 65535 AND {rs} < {rd} THEN 2\n          WHEN connection_info.direction_id IN (1, 2) THEN 1\n        END",
        rs = rank(sp),
        rd = rank(dp),
    )
}

/// A field a findings series can be keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingField {
    /// `metadata.product.feature.name`.
    Product,
    /// The first of `finding.types` (1.0) or `finding_info.types` (2.0).
    Type,
    Severity,
    /// `cloud.account_uid` (1.0) or `cloud.account.uid` (2.0).
    Account,
    /// `cloud.region`.
    Region,
}

impl FindingField {
    fn expr(self, version: SourceVersion) -> &'static str {
        match (self, version) {
            (FindingField::Product, _) => "metadata.product.feature.name",
            (FindingField::Type, SourceVersion::V1) => {
                "CASE WHEN cardinality(finding.types) > 0 THEN finding.types[1] END"
            }
            (FindingField::Type, SourceVersion::V2) => {
                "CASE WHEN cardinality(finding_info.types) > 0 THEN finding_info.types[1] END"
            }
            (FindingField::Severity, _) => "severity",
            (FindingField::Account, SourceVersion::V1) => "cloud.account_uid",
            (FindingField::Account, SourceVersion::V2) => "cloud.account.uid",
            (FindingField::Region, _) => "cloud.region",
        }
    }
}

/// Security Hub findings per UTC day and key, as `SELECT key, day, findings`: `day` counts days
/// since 1970-01-01, `key` joins the fields with ` | ` and is NULL when one is missing (those
/// rows are counted, not analysed).
#[derive(Debug, Clone)]
pub struct FindingsQuery {
    pub tables: Tables,
    pub versions: Vec<SourceVersion>,
    /// Days of `time` counted; partitions are read one day beyond `until`, where late findings of
    /// the window's last day land.
    pub filter: Filter,
    pub key: Vec<FindingField>,
}

impl FindingsQuery {
    /// The SELECT statement.
    pub fn select(&self) -> Result<String, QueryError> {
        self.filter.check()?;
        if self.versions.is_empty() || self.key.is_empty() {
            return Err(QueryError::Empty);
        }
        let start_ms = day_number(self.filter.since) * 86_400_000;
        let end_ms = (day_number(self.filter.until) + 1) * 86_400_000;
        let partitions = Filter {
            until: self.filter.until.succ(),
            ..self.filter.clone()
        };
        let branches: Vec<String> = self
            .versions
            .iter()
            .filter(|&&version| self.tables.exists(&Source::ShFindings, version))
            .map(|&version| {
                let key: Vec<&str> = self.key.iter().map(|k| k.expr(version)).collect();
                format!(
                    "  SELECT {key} AS key, CAST(floor(CAST(time AS double) / 86400000) AS bigint) AS day\n  FROM {table}\n  WHERE {filter} AND time >= {start_ms} AND time < {end_ms}",
                    key = key.join(" || ' | ' || "),
                    table = self.tables.table(&Source::ShFindings, version),
                    filter = partitions.clause(version),
                )
            })
            .collect();
        if branches.is_empty() {
            return Err(QueryError::NoTables(
                self.tables.missing(&[Source::ShFindings], &self.versions),
            ));
        }
        Ok(format!(
            "SELECT key, day, count(*) AS findings\nFROM (\n{}\n) AS f\nGROUP BY key, day\nORDER BY key, day",
            branches.join("\n  UNION ALL\n")
        ))
    }
}

/// Days since 1970-01-01 (proleptic Gregorian).
pub fn day_number(day: EventDay) -> i64 {
    // Howard Hinnant's days_from_civil.
    let (mut y, m, d) = (
        i64::from(day.year()),
        i64::from(day.month()),
        i64::from(day.day()),
    );
    if m <= 2 {
        y -= 1;
    }
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> EventDay {
        EventDay::parse_flexible(s).unwrap()
    }

    fn filter() -> Filter {
        Filter {
            since: day("20260105"),
            until: day("20260111"),
            regions: None,
            accounts: None,
        }
    }

    fn tables() -> Tables {
        Tables::new("amazon_security_lake_glue_db_us_east_1", "us-east-1").unwrap()
    }

    #[test]
    fn table_names_follow_security_lake() {
        let t = tables();
        assert_eq!(
            t.table(&Source::VpcFlow, SourceVersion::V1),
            "\"amazon_security_lake_glue_db_us_east_1\".\"amazon_security_lake_table_us_east_1_vpc_flow_1_0\""
        );
        assert_eq!(
            t.table(&Source::Route53, SourceVersion::V2),
            "\"amazon_security_lake_glue_db_us_east_1\".\"amazon_security_lake_table_us_east_1_route53_2_0\""
        );
        assert_eq!(
            t.table(&Source::ShFindings, SourceVersion::V2),
            "\"amazon_security_lake_glue_db_us_east_1\".\"amazon_security_lake_table_us_east_1_sh_findings_2_0\""
        );
        assert_eq!(
            Tables::region_of_database("amazon_security_lake_glue_db_eu_west_2").as_deref(),
            Some("eu_west_2")
        );
        assert_eq!(Tables::region_of_database("my_resource_link"), None);
        assert!(matches!(
            Tables::new("db", "us-east-1; DROP"),
            Err(QueryError::Region(_))
        ));
    }

    #[test]
    fn literals_and_identifiers_are_quoted() {
        assert_eq!(quote_literal("o'brien"), "'o''brien'");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        let q = PairsQuery {
            tables: Tables::new("db\"x", "us_east_1").unwrap(),
            sources: vec![Source::VpcFlow],
            versions: vec![SourceVersion::V1],
            filter: Filter {
                regions: Some(vec!["us-east-1' OR '1'='1".into()]),
                ..filter()
            },
            pairing: Pairing::Src,
            group_by: GroupBy::None,
            dedup: Dedup::Object,
        };
        let sql = q.select().unwrap();
        assert!(sql.contains("FROM \"db\"\"x\"."), "{sql}");
        assert!(
            sql.contains("region IN ('us-east-1'' OR ''1''=''1')"),
            "{sql}"
        );
    }

    #[test]
    fn versions_are_pruned_on_their_own_partitions() {
        let q = PairsQuery {
            tables: tables(),
            sources: vec![Source::VpcFlow],
            versions: vec![SourceVersion::V1, SourceVersion::V2],
            filter: Filter {
                accounts: Some(vec!["111122223333".into()]),
                ..filter()
            },
            pairing: Pairing::Src,
            group_by: GroupBy::None,
            dedup: Dedup::Object,
        };
        let sql = q.select().unwrap();
        assert!(
            sql.contains(
                "WHERE eventday BETWEEN '20260105' AND '20260111' AND accountid IN ('111122223333')"
            ),
            "{sql}"
        );
        assert!(sql.contains("WHERE time_dt >= TIMESTAMP '2026-01-05 00:00:00' AND time_dt < TIMESTAMP '2026-01-12 00:00:00'"), "{sql}");
        assert_eq!(sql.matches("UNION ALL").count(), 1);
    }

    #[test]
    fn pairings_read_the_extractors_columns() {
        let select = |source: Source, pairing| {
            PairsQuery {
                tables: tables(),
                sources: vec![source],
                versions: vec![SourceVersion::V1],
                filter: filter(),
                pairing,
                group_by: GroupBy::None,
                dedup: Dedup::Object,
            }
            .select()
            .unwrap()
        };
        let peer = select(Source::VpcFlow, Pairing::Peer);
        let none = "CAST(NULL AS varchar) AS grp";
        assert!(peer.contains(&format!(
            "src_endpoint.instance_uid AS entity, {none}, dst_endpoint.ip AS ip"
        )));
        assert!(peer.contains(&format!(
            "dst_endpoint.instance_uid AS entity, {none}, src_endpoint.ip AS ip"
        )));
        let endpoint = select(Source::VpcFlow, Pairing::Endpoint);
        assert!(endpoint.contains(&format!(
            "dst_endpoint.instance_uid AS entity, {none}, dst_endpoint.ip AS ip"
        )));
        // Who initiated, with the initiating side's subnet as its group.
        let initiator = PairsQuery {
            tables: tables(),
            sources: vec![Source::VpcFlow, Source::Route53],
            versions: vec![SourceVersion::V1],
            filter: filter(),
            pairing: Pairing::Initiator,
            group_by: GroupBy::Subnet,
            dedup: Dedup::Object,
        }
        .select()
        .unwrap();
        for part in [
            "src_endpoint.subnet_uid AS src_grp",
            "dst_endpoint.subnet_uid AS dst_grp",
            "mod(floor(connection_info.tcp_flags / 2), 2) = 1",
            "CASE side WHEN 1 THEN dst_ip WHEN 2 THEN src_ip END AS ip",
            "connection_info.direction_id IN (1, 2) THEN 1",
            // Route 53 records have no subnet: their VPC.
            "src_endpoint.vpc_uid AS grp",
            "min(grp) AS grp",
            "UNNEST(ARRAY[entity, grp])",
        ] {
            assert!(initiator.contains(part), "{part}:\n{initiator}");
        }
        let dns = select(Source::Route53, Pairing::Endpoint);
        assert_eq!(dns.matches("UNION ALL").count(), 0);
        assert!(select(Source::Route53, Pairing::Peer).contains("UNNEST(transform(filter(answers"));
        let err = PairsQuery {
            tables: tables(),
            sources: vec![Source::ShFindings],
            versions: vec![SourceVersion::V1],
            filter: filter(),
            pairing: Pairing::Src,
            group_by: GroupBy::None,
            dedup: Dedup::Object,
        }
        .select()
        .unwrap_err();
        assert_eq!(err, QueryError::UnsupportedSource("SH_FINDINGS".into()));
    }

    #[test]
    fn tables_known_to_be_missing_are_left_out() {
        let mut tables = tables();
        tables.existing = Some(
            [
                "amazon_security_lake_table_us_east_1_vpc_flow_2_0",
                "amazon_security_lake_table_us_east_1_sh_findings_1_0",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
        );
        let q = PairsQuery {
            tables: tables.clone(),
            sources: vec![Source::VpcFlow, Source::Route53],
            versions: vec![SourceVersion::V1, SourceVersion::V2],
            filter: filter(),
            pairing: Pairing::Src,
            group_by: GroupBy::None,
            dedup: Dedup::Day,
        };
        let sql = q.select().unwrap();
        assert_eq!(sql.matches("FROM \"").count(), 1, "{sql}");
        assert!(sql.contains("vpc_flow_2_0"));
        assert!(sql.contains("SELECT '' AS object"), "per-day dedup: {sql}");
        assert!(!sql.contains("$path"));
        assert_eq!(
            tables.missing(&q.sources, &q.versions),
            [
                "amazon_security_lake_table_us_east_1_vpc_flow_1_0",
                "amazon_security_lake_table_us_east_1_route53_1_0",
                "amazon_security_lake_table_us_east_1_route53_2_0",
            ]
        );
        let none = PairsQuery {
            sources: vec![Source::Route53],
            ..q
        };
        assert!(matches!(none.select(), Err(QueryError::NoTables(t)) if t.len() == 2));
        let findings = FindingsQuery {
            tables,
            versions: vec![SourceVersion::V1, SourceVersion::V2],
            filter: filter(),
            key: vec![FindingField::Product],
        };
        let sql = findings.select().unwrap();
        assert!(sql.contains("sh_findings_1_0") && !sql.contains("sh_findings_2_0"));
    }

    #[test]
    fn unload_writes_headerless_csv() {
        assert_eq!(
            unload_csv("SELECT 1", "s3://b/p/"),
            "UNLOAD (\nSELECT 1\n) TO 's3://b/p/' WITH (format = 'TEXTFILE', field_delimiter = ',')"
        );
    }

    #[test]
    fn findings_query_counts_days_of_time() {
        let q = FindingsQuery {
            tables: tables(),
            versions: vec![SourceVersion::V1, SourceVersion::V2],
            filter: filter(),
            key: vec![FindingField::Product, FindingField::Type],
        };
        let sql = q.select().unwrap();
        // Partitions one day beyond the window; time limited to the window.
        assert!(
            sql.contains("eventday BETWEEN '20260105' AND '20260112'"),
            "{sql}"
        );
        let (start, end) = (20_458 * 86_400_000i64, 20_465 * 86_400_000i64);
        assert!(
            sql.contains(&format!("time >= {start} AND time < {end}")),
            "{sql}"
        );
        assert!(sql.contains("metadata.product.feature.name || ' | ' || CASE WHEN cardinality(finding.types) > 0 THEN finding.types[1] END"));
        assert!(sql.contains("finding_info.types[1]"));
        assert!(matches!(
            FindingsQuery { key: vec![], ..q }.select(),
            Err(QueryError::Empty)
        ));
    }

    #[test]
    fn day_numbers() {
        assert_eq!(day_number(day("19700101")), 0);
        assert_eq!(day_number(day("20260105")), 20_458);
        assert_eq!(day_number(day("20000301")), 11_017);
        assert_eq!(day_number(day("19691231")), -1);
    }
}
