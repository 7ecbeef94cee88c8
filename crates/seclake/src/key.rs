//! Where an object sits in a Security Lake bucket, parsed from its key.
//!
//! Native sources: `aws/<SOURCE>/<version>/region=<r>/accountId=<a>/eventDay=<YYYYMMDD>/[eventHour=<HH>/]<name>`.
//! Custom sources: `ext/<source>/[<version>/]region=<r>/accountId=<a>/eventDay=<YYYYMMDD>/[eventHour=<HH>/]<name>`.
//! Either may sit under a bucket prefix (`<prefix>/aws/…`). Keys must already be URL-decoded.

use std::fmt;
use std::str::FromStr;

use crate::source::{Source, SourceVersion};

/// An object's position in the lake, parsed from its key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LakeKey {
    /// The log source (`aws/<SOURCE>/…` or `ext/<name>/…`).
    pub source: Source,
    /// `None` for custom sources without a version segment and for version strings this crate
    /// does not know (see `version_raw`).
    pub version: Option<SourceVersion>,
    /// The version segment as written in the key, if there is one.
    pub version_raw: Option<String>,
    /// The AWS region of the `region=` partition.
    pub region: String,
    /// The 12-digit account id.
    pub account: String,
    /// The `eventDay=` partition.
    pub event_day: EventDay,
    /// `eventHour=HH` (0-23), present in some sources' keys (e.g. SH_FINDINGS v1).
    pub event_hour: Option<u8>,
    /// Whether the key is under `ext/` (a custom source).
    pub custom: bool,
}

/// Why a key is not a Security Lake object key; each variant names the segment at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No `aws/` or `ext/` segment in the key.
    #[error("not a Security Lake key (no aws/ or ext/ segment): {key:?}")]
    NotLakeKey {
        /// The key (truncated to 200 characters).
        key: String,
    },
    /// The key ends before the named segment.
    #[error("key ends before its {segment} segment")]
    Truncated {
        /// The first missing segment.
        segment: &'static str,
    },
    /// A segment does not have the expected form.
    #[error("bad {segment} segment {found:?}: {reason}")]
    BadSegment {
        /// Which segment (`region`, `accountId`, …).
        segment: &'static str,
        /// The segment as found (truncated to 100 characters).
        found: String,
        /// What was expected.
        reason: &'static str,
    },
    /// A date that is not a valid `YYYYMMDD` (or, for [`EventDay::parse_flexible`], `YYYY-MM-DD`).
    #[error("bad eventDay {value:?}: {reason}")]
    BadEventDay {
        /// The text found (truncated to 100 characters).
        value: String,
        /// What was wrong.
        reason: &'static str,
    },
}

/// A calendar day as used in `eventDay=YYYYMMDD` partitions. Always a valid date in years
/// 1-9999; orders chronologically. Serializes as its `YYYYMMDD` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventDay {
    // Field order matters: the derived Ord compares year, then month, then day.
    year: u16,
    month: u8,
    day: u8,
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl EventDay {
    /// The day `year-month-day`, if it is a valid date in years 1-9999.
    pub fn from_ymd(year: u16, month: u8, day: u8) -> Option<EventDay> {
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then_some(EventDay { year, month, day })
    }

    /// Parses `YYYYMMDD`, as written in keys.
    pub fn parse(s: &str) -> Result<EventDay, KeyError> {
        let bad = |reason| KeyError::BadEventDay {
            value: truncate(s, 100),
            reason,
        };
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("expected 8 digits YYYYMMDD"));
        }
        // All bytes are ASCII digits, so these slices are on char boundaries and parse.
        Self::from_digits(&s[0..4], &s[4..6], &s[6..8]).ok_or_else(|| bad("not a valid date"))
    }

    /// Parses `YYYYMMDD` or `YYYY-MM-DD` (for command-line flags).
    pub fn parse_flexible(s: &str) -> Result<EventDay, KeyError> {
        let b = s.as_bytes();
        let dashed = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if dashed {
            return Self::from_digits(&s[0..4], &s[5..7], &s[8..10]).ok_or_else(|| {
                KeyError::BadEventDay {
                    value: truncate(s, 100),
                    reason: "not a valid date",
                }
            });
        }
        Self::parse(s).map_err(|e| match e {
            KeyError::BadEventDay {
                value,
                reason: "expected 8 digits YYYYMMDD",
            } => KeyError::BadEventDay {
                value,
                reason: "expected YYYYMMDD or YYYY-MM-DD",
            },
            other => other,
        })
    }

    fn from_digits(y: &str, m: &str, d: &str) -> Option<EventDay> {
        Self::from_ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }

    /// The year (1-9999).
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month (1-12).
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month (1-31).
    pub fn day(self) -> u8 {
        self.day
    }

    /// The next day. Saturates at 9999-12-31 so that iterating a window can never panic.
    pub fn succ(self) -> EventDay {
        if self.day < days_in_month(self.year, self.month) {
            EventDay {
                day: self.day + 1,
                ..self
            }
        } else if self.month < 12 {
            EventDay {
                month: self.month + 1,
                day: 1,
                ..self
            }
        } else if self.year < 9999 {
            EventDay {
                year: self.year + 1,
                month: 1,
                day: 1,
            }
        } else {
            self
        }
    }
}

impl fmt::Display for EventDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

/// Accepts both `YYYYMMDD` and `YYYY-MM-DD`, so clap can parse flags directly.
impl FromStr for EventDay {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventDay::parse_flexible(s)
    }
}

impl serde::Serialize for EventDay {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn bad(segment: &'static str, found: &str, reason: &'static str) -> KeyError {
    KeyError::BadSegment {
        segment,
        found: truncate(found, 100),
        reason,
    }
}

/// The value of a `name=value` segment, or an error naming the segment.
fn partition<'a>(
    seg: Option<&&'a str>,
    name: &'static str,
    prefix: &str,
) -> Result<&'a str, KeyError> {
    let seg = seg.ok_or(KeyError::Truncated { segment: name })?;
    seg.strip_prefix(prefix)
        .ok_or_else(|| bad(name, seg, "wrong partition name"))
}

impl LakeKey {
    /// Parses an object key (URL-decoded). The layout may sit under a bucket prefix; the first
    /// `aws`/`ext` segment that starts a valid layout is used, and if none does, the error is
    /// the one from the first such segment.
    pub fn parse(key: &str) -> Result<LakeKey, KeyError> {
        let segments: Vec<&str> = key.split('/').collect();
        let mut first_err = None;
        for (i, seg) in segments.iter().enumerate() {
            let custom = match *seg {
                "aws" => false,
                "ext" => true,
                _ => continue,
            };
            match Self::parse_layout(&segments[i + 1..], custom) {
                Ok(k) => return Ok(k),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or_else(|| KeyError::NotLakeKey {
            key: truncate(key, 200),
        }))
    }

    /// `rest`: the segments after `aws`/`ext`.
    fn parse_layout(rest: &[&str], custom: bool) -> Result<LakeKey, KeyError> {
        let mut it = rest.iter().peekable();
        let source_seg = it.next().ok_or(KeyError::Truncated { segment: "source" })?;
        if source_seg.is_empty() || source_seg.contains('=') {
            return Err(bad("source", source_seg, "expected a source name"));
        }
        let source = if custom {
            Source::Custom((*source_seg).to_string())
        } else {
            Source::native(source_seg)
        };

        // Native keys always have a version; custom ones only sometimes, recognisable by the
        // next segment not being the region partition.
        let has_version = !custom || it.peek().is_some_and(|s| !s.starts_with("region="));
        let version_raw = if has_version {
            let v = it
                .next()
                .ok_or(KeyError::Truncated { segment: "version" })?;
            if v.is_empty() || v.contains('=') {
                return Err(bad("version", v, "expected a source version such as 1.0"));
            }
            Some((*v).to_string())
        } else {
            None
        };
        let version = version_raw.as_deref().and_then(SourceVersion::parse);

        let region = partition(it.next(), "region", "region=")?;
        let region_ok = !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(bad("region", region, "expected [a-z0-9-]+"));
        }

        let account = partition(it.next(), "accountId", "accountId=")?;
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("accountId", account, "expected 12 digits"));
        }

        let day = partition(it.next(), "eventDay", "eventDay=")?;
        let event_day = EventDay::parse(day)?;

        let event_hour = match it.peek().and_then(|s| s.strip_prefix("eventHour=")) {
            Some(h) => {
                let hour = (h.len() == 2 && h.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| h.parse::<u8>().ok())
                    .flatten()
                    .filter(|h| *h < 24)
                    .ok_or_else(|| bad("eventHour", h, "expected 00-23"))?;
                it.next();
                Some(hour)
            }
            None => None,
        };

        let name = it.next().ok_or(KeyError::Truncated {
            segment: "object name",
        })?;
        if name.is_empty() {
            return Err(bad("object name", name, "empty object name"));
        }
        if it.next().is_some() {
            return Err(bad(
                "object name",
                name,
                "more path segments follow the object name",
            ));
        }

        Ok(LakeKey {
            source,
            version,
            version_raw,
            region: region.to_string(),
            account: account.to_string(),
            event_day,
            event_hour,
            custom,
        })
    }

    /// The prefix up to and including `eventDay=…/`, for listing one day of one source,
    /// relative to the lake root (prepend any bucket prefix). Custom sources get
    /// `ext/<name>/<version>/…`.
    pub fn day_prefix(
        source: &Source,
        version: SourceVersion,
        region: &str,
        account: &str,
        day: EventDay,
    ) -> String {
        let root = if matches!(source, Source::Custom(_)) {
            "ext"
        } else {
            "aws"
        };
        format!("{root}/{source}/{version}/region={region}/accountId={account}/eventDay={day}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WORKSHOP_KEY: &str = "aws/VPC_FLOW/1.0/region=us-east-1/accountId=645411899653/eventDay=20230726/02c4c95860435b9afa86fb93f7fa776a.gz.parquet";

    fn day(s: &str) -> EventDay {
        EventDay::parse(s).unwrap()
    }

    #[test]
    fn workshop_key() {
        let k = LakeKey::parse(WORKSHOP_KEY).unwrap();
        assert_eq!(
            k,
            LakeKey {
                source: Source::VpcFlow,
                version: Some(SourceVersion::V1),
                version_raw: Some("1.0".into()),
                region: "us-east-1".into(),
                account: "645411899653".into(),
                event_day: day("20230726"),
                event_hour: None,
                custom: false,
            }
        );
        assert_eq!(
            serde_json::to_value(&k).unwrap(),
            serde_json::json!({"source": "VPC_FLOW", "version": "1.0", "version_raw": "1.0",
                "region": "us-east-1", "account": "645411899653", "event_day": "20230726",
                "event_hour": null, "custom": false})
        );
    }

    #[test]
    fn v2_and_route53_and_unknown_versions() {
        let k = LakeKey::parse("aws/ROUTE53/2.0/region=eu-west-1/accountId=111122223333/eventDay=20240229/abc.gz.parquet").unwrap();
        assert_eq!(
            (k.source, k.version, k.event_day.day()),
            (Source::Route53, Some(SourceVersion::V2), 29)
        );
        let k = LakeKey::parse(
            "aws/NEW_SOURCE/latest/region=ap-south-2/accountId=000000000001/eventDay=20240101/x",
        )
        .unwrap();
        assert_eq!(k.source, Source::OtherNative("NEW_SOURCE".into()));
        assert_eq!(
            (k.version, k.version_raw.as_deref()),
            (None, Some("latest"))
        );
    }

    #[test]
    fn sh_findings_with_event_hour() {
        let k = LakeKey::parse("aws/SH_FINDINGS/1.0/region=us-east-1/accountId=645411899653/eventDay=20230726/eventHour=05/f.gz.parquet").unwrap();
        assert_eq!((k.source, k.event_hour), (Source::ShFindings, Some(5)));
        for bad_hour in ["24", "5", "x1", "", "005"] {
            let key = format!(
                "aws/SH_FINDINGS/1.0/region=us-east-1/accountId=645411899653/eventDay=20230726/eventHour={bad_hour}/f"
            );
            assert!(
                matches!(
                    LakeKey::parse(&key).unwrap_err(),
                    KeyError::BadSegment {
                        segment: "eventHour",
                        ..
                    }
                ),
                "{bad_hour}"
            );
        }
    }

    #[test]
    fn custom_sources_with_and_without_version_and_hour() {
        let k = LakeKey::parse(
            "ext/my-app/region=us-west-2/accountId=123456789012/eventDay=20231231/data.parquet",
        )
        .unwrap();
        assert!(k.custom);
        assert_eq!(k.source, Source::Custom("my-app".into()));
        assert_eq!((k.version, k.version_raw), (None, None));
        assert_eq!(k.event_hour, None);

        let k = LakeKey::parse("ext/my-app/2.0/region=us-west-2/accountId=123456789012/eventDay=20231231/eventHour=23/data.parquet").unwrap();
        assert_eq!(k.version, Some(SourceVersion::V2));
        assert_eq!(k.event_hour, Some(23));

        let k = LakeKey::parse("ext/my-app/v7/region=us-west-2/accountId=123456789012/eventDay=20231231/eventHour=00/d").unwrap();
        assert_eq!(
            (k.version, k.version_raw.as_deref(), k.event_hour),
            (None, Some("v7"), Some(0))
        );

        // Custom source names keep their case.
        let k = LakeKey::parse(
            "ext/vpc_flow/region=us-west-2/accountId=123456789012/eventDay=20231231/d",
        )
        .unwrap();
        assert_eq!(k.source, Source::Custom("vpc_flow".into()));
    }

    #[test]
    fn bucket_prefixes() {
        for prefix in ["lake/", "a/b/c/", "/", "my lake/aws-logs/", "ext-data/"] {
            let k = LakeKey::parse(&format!("{prefix}{WORKSHOP_KEY}")).unwrap();
            assert_eq!(k.source, Source::VpcFlow, "{prefix}");
        }
        // An `ext`/`aws` segment inside the prefix that does not start a layout is skipped.
        let k = LakeKey::parse(&format!("ext/junk/{WORKSHOP_KEY}")).unwrap();
        assert!(!k.custom);
        let k = LakeKey::parse(
            "aws/backup/ext/src/region=us-east-1/accountId=123456789012/eventDay=20230101/n",
        )
        .unwrap();
        assert_eq!(k.source, Source::Custom("src".into()));
    }

    #[test]
    fn bad_accounts_and_regions() {
        for acct in ["64541189965", "6454118996530", "64541189965x", ""] {
            let key =
                format!("aws/VPC_FLOW/1.0/region=us-east-1/accountId={acct}/eventDay=20230726/n");
            assert_eq!(
                LakeKey::parse(&key).unwrap_err(),
                KeyError::BadSegment {
                    segment: "accountId",
                    found: acct.into(),
                    reason: "expected 12 digits"
                }
            );
        }
        for region in ["", "US-EAST-1", "us east 1", "us_east_1"] {
            let key = format!(
                "aws/VPC_FLOW/1.0/region={region}/accountId=645411899653/eventDay=20230726/n"
            );
            assert!(
                matches!(
                    LakeKey::parse(&key).unwrap_err(),
                    KeyError::BadSegment {
                        segment: "region",
                        ..
                    }
                ),
                "{region}"
            );
        }
        let err = LakeKey::parse(
            "aws/VPC_FLOW/1.0/region=us-east-1/account=645411899653/eventDay=20230726/n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad accountId segment \"account=645411899653\": wrong partition name"
        );
    }

    #[test]
    fn bad_dates() {
        for d in [
            "20230230",
            "20230001",
            "20231301",
            "20230732",
            "2023072",
            "2023-07-26",
            "00000101",
            "20210229",
        ] {
            let key =
                format!("aws/VPC_FLOW/1.0/region=us-east-1/accountId=645411899653/eventDay={d}/n");
            assert!(
                matches!(LakeKey::parse(&key).unwrap_err(), KeyError::BadEventDay { ref value, .. } if value == d),
                "{d}"
            );
        }
        assert_eq!(
            EventDay::parse("20230230").unwrap_err().to_string(),
            "bad eventDay \"20230230\": not a valid date"
        );
    }

    #[test]
    fn layout_errors_name_the_segment() {
        assert!(matches!(
            LakeKey::parse("logs/2023/file.parquet").unwrap_err(),
            KeyError::NotLakeKey { .. }
        ));
        assert_eq!(
            LakeKey::parse(
                "aws/VPC_FLOW/1.0/region=us-east-1/accountId=645411899653/eventDay=20230726"
            )
            .unwrap_err(),
            KeyError::Truncated {
                segment: "object name"
            }
        );
        assert_eq!(
            LakeKey::parse(
                "aws/VPC_FLOW/1.0/region=us-east-1/accountId=645411899653/eventDay=20230726/"
            )
            .unwrap_err(),
            KeyError::BadSegment {
                segment: "object name",
                found: String::new(),
                reason: "empty object name"
            }
        );
        assert!(matches!(
            LakeKey::parse(
                "aws/VPC_FLOW/1.0/region=us-east-1/accountId=645411899653/eventDay=20230726/extra/n"
            )
            .unwrap_err(),
            KeyError::BadSegment {
                segment: "object name",
                ..
            }
        ));
        assert_eq!(
            LakeKey::parse("aws").unwrap_err(),
            KeyError::Truncated { segment: "source" }
        );
        assert_eq!(
            LakeKey::parse("aws/VPC_FLOW").unwrap_err(),
            KeyError::Truncated { segment: "version" }
        );
        assert!(matches!(
            LakeKey::parse(
                "aws/VPC_FLOW/region=us-east-1/accountId=645411899653/eventDay=20230726/n"
            )
            .unwrap_err(),
            KeyError::BadSegment {
                segment: "version",
                ..
            }
        ));
        assert!(matches!(
            LakeKey::parse("aws//1.0/region=us-east-1/accountId=645411899653/eventDay=20230726/n")
                .unwrap_err(),
            KeyError::BadSegment {
                segment: "source",
                ..
            }
        ));
        // A still URL-encoded key is rejected rather than misread.
        assert!(matches!(
            LakeKey::parse(
                "aws/VPC_FLOW/1.0/region%3Dus-east-1/accountId%3D645411899653/eventDay%3D20230726/n"
            )
            .unwrap_err(),
            KeyError::BadSegment {
                segment: "region",
                ..
            }
        ));
    }

    #[test]
    fn any_object_name_including_spaces() {
        for name in [
            "a.json",
            "part 0001.parquet",
            "x",
            "02c4.gz.parquet.tmp",
            "name with = sign",
        ] {
            let key = format!(
                "aws/VPC_FLOW/1.0/region=us-east-1/accountId=645411899653/eventDay=20230726/{name}"
            );
            assert!(LakeKey::parse(&key).is_ok(), "{name}");
        }
        let k = LakeKey::parse("my lake/ext/my source/region=us-east-1/accountId=645411899653/eventDay=20230726/eventHour=12/file 1.parquet").unwrap();
        assert_eq!(k.source, Source::Custom("my source".into()));
    }

    #[test]
    fn day_prefix_round_trips() {
        let d = day("20230726");
        let p = LakeKey::day_prefix(
            &Source::VpcFlow,
            SourceVersion::V1,
            "us-east-1",
            "645411899653",
            d,
        );
        assert_eq!(
            p,
            "aws/VPC_FLOW/1.0/region=us-east-1/accountId=645411899653/eventDay=20230726/"
        );
        assert!(WORKSHOP_KEY.starts_with(&p));
        let p = LakeKey::day_prefix(
            &Source::Custom("app".into()),
            SourceVersion::V2,
            "eu-west-1",
            "111122223333",
            d,
        );
        assert_eq!(
            p,
            "ext/app/2.0/region=eu-west-1/accountId=111122223333/eventDay=20230726/"
        );
        let k = LakeKey::parse(&format!("{p}obj.parquet")).unwrap();
        assert_eq!(
            (k.custom, k.version, k.event_day),
            (true, Some(SourceVersion::V2), d)
        );
    }

    #[test]
    fn event_day_basics() {
        let d = day("20230726");
        assert_eq!((d.year(), d.month(), d.day()), (2023, 7, 26));
        assert_eq!(d.to_string(), "20230726");
        assert_eq!(day("00010101").to_string(), "00010101");
        assert!(day("20230726") < day("20230801") && day("20221231") < day("20230101"));
        assert_eq!(EventDay::from_ymd(2024, 2, 29), Some(day("20240229")));
        assert_eq!(EventDay::from_ymd(2100, 2, 29), None);
        assert_eq!(EventDay::from_ymd(2000, 2, 29), Some(day("20000229")));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"20230726\"");
    }

    #[test]
    fn event_day_succ() {
        assert_eq!(day("20230726").succ(), day("20230727"));
        assert_eq!(day("20230731").succ(), day("20230801"));
        assert_eq!(day("20230430").succ(), day("20230501"));
        assert_eq!(day("20231231").succ(), day("20240101"));
        assert_eq!(day("20240228").succ(), day("20240229"));
        assert_eq!(day("20240229").succ(), day("20240301"));
        assert_eq!(day("20230228").succ(), day("20230301"));
        assert_eq!(day("99991231").succ(), day("99991231"));
        // A whole leap year has 366 days.
        let mut d = day("20240101");
        let mut n = 0;
        while d.year() == 2024 {
            d = d.succ();
            n += 1;
        }
        assert_eq!((n, d), (366, day("20250101")));
    }

    #[test]
    fn event_day_flexible() {
        assert_eq!(
            EventDay::parse_flexible("2023-07-26").unwrap(),
            day("20230726")
        );
        assert_eq!(
            EventDay::parse_flexible("20230726").unwrap(),
            day("20230726")
        );
        assert_eq!("2024-02-29".parse::<EventDay>().unwrap(), day("20240229"));
        for bad in [
            "2023-02-30",
            "2023-7-26",
            "2023/07/26",
            "2023-07-26x",
            "",
            "٢٠٢٣٠٧٢٦",
            "+2023-07-26",
            "2023-+7-26",
        ] {
            assert!(EventDay::parse_flexible(bad).is_err(), "{bad}");
        }
        assert_eq!(
            EventDay::parse_flexible("July").unwrap_err().to_string(),
            "bad eventDay \"July\": expected YYYYMMDD or YYYY-MM-DD"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(key in any::<String>()) {
            let _ = LakeKey::parse(&key);
            let _ = EventDay::parse_flexible(&key);
        }

        #[test]
        fn parse_never_panics_on_near_keys(
            segs in prop::collection::vec(
                prop_oneof![
                    prop::sample::select(vec![
                        "aws", "ext", "VPC_FLOW", "1.0", "2.0", "region=us-east-1",
                        "accountId=645411899653", "eventDay=20230726", "eventDay=20230230",
                        "eventHour=07", "eventHour=99", "eventHour=", "x.parquet", "", "é",
                    ]).prop_map(str::to_string),
                    "[a-zA-Z0-9=_é-]{0,12}",
                ],
                0..12,
            )
        ) {
            let key = segs.join("/");
            if let Ok(k) = LakeKey::parse(&key) {
                prop_assert_eq!(k.account.len(), 12);
                prop_assert!(k.event_hour.is_none_or(|h| h < 24));
            }
        }

        #[test]
        fn succ_is_the_next_valid_day(y in 1u16..=9999, m in 1u8..=12, d in 1u8..=31) {
            if let Some(day) = EventDay::from_ymd(y, m, d) {
                let next = day.succ();
                prop_assert!(next > day || day.to_string() == "99991231");
                prop_assert_eq!(EventDay::parse(&day.to_string()).unwrap(), day);
            }
        }
    }
}
