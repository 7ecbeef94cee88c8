//! The labels file: the analysts' verdicts on findings, as CSV that `ipinsights prepare
//! --labels` and `ipinsights calibrate --labels` read.
//!
//! Header `entity,address,group,verdict,when,who,finding_id,note`; `group` may be empty;
//! `verdict` is `false_positive` or `true_positive`; `when` is RFC 3339. Fields holding a
//! comma, a quote or a line break are quoted (RFC 4180), since notes are free text.

use std::fmt;
use std::io::Write;
use std::net::Ipv4Addr;
use std::str::FromStr;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

/// The header line of a labels file.
pub const HEADER: &str = "entity,address,group,verdict,when,who,finding_id,note";

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// An analyst's verdict on a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Normal traffic that was flagged: it should train the model and not alert again.
    FalsePositive,
    /// A confirmed attack (or other real anomaly): never trained on.
    TruePositive,
}

impl Verdict {
    /// `false_positive` or `true_positive`, as in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::FalsePositive => "false_positive",
            Verdict::TruePositive => "true_positive",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verdict {
    type Err = String;

    fn from_str(s: &str) -> Result<Verdict, String> {
        match s {
            "false_positive" => Ok(Verdict::FalsePositive),
            "true_positive" => Ok(Verdict::TruePositive),
            other => Err(format!(
                "verdict {other:?} is neither false_positive nor true_positive"
            )),
        }
    }
}

/// One verdict on one (entity, address) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The instance id.
    pub entity: String,
    /// The IPv4 address the instance reached.
    pub address: Ipv4Addr,
    /// The instance's group (subnet, VPC or mapped name), when the finding gave one.
    pub group: Option<String>,
    pub verdict: Verdict,
    /// When the verdict was given (ms since the Unix epoch).
    pub when_ms: i64,
    /// Who gave it.
    pub who: String,
    /// The Security Hub finding's `Id`.
    pub finding_id: String,
    /// The analyst's note (may be empty).
    pub note: String,
}

/// Why a labels file was refused.
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    /// The first line is not [`HEADER`].
    #[error("line 1: the header must be `{HEADER}`, found `{0}`")]
    Header(String),
    /// A record is malformed.
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
}

/// Writes `labels` with the header, one record per label.
pub fn write_labels(mut w: impl Write, labels: &[Label]) -> std::io::Result<()> {
    writeln!(w, "{HEADER}")?;
    for l in labels {
        let fields = [
            l.entity.clone(),
            l.address.to_string(),
            l.group.clone().unwrap_or_default(),
            l.verdict.as_str().to_string(),
            format_rfc3339_ms(l.when_ms),
            l.who.clone(),
            l.finding_id.clone(),
            l.note.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| quote(f)).collect();
        writeln!(w, "{}", line.join(","))?;
    }
    Ok(())
}

/// The latest label of each (entity, address) pair (an analyst may revise a verdict, and one
/// pair may alert more than once), sorted by entity and address.
pub fn latest_per_pair(labels: &[Label]) -> Vec<&Label> {
    let mut latest: std::collections::HashMap<(&str, Ipv4Addr), &Label> =
        std::collections::HashMap::new();
    for l in labels {
        let slot = latest.entry((l.entity.as_str(), l.address)).or_insert(l);
        if (l.when_ms, &l.finding_id) > (slot.when_ms, &slot.finding_id) {
            *slot = l;
        }
    }
    let mut pairs: Vec<&Label> = latest.into_values().collect();
    pairs.sort_by(|a, b| (&a.entity, a.address).cmp(&(&b.entity, b.address)));
    pairs
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Parses a labels file (header first; blank lines are skipped). Errors name the line where
/// the bad record starts.
pub fn parse_labels(text: &str) -> Result<Vec<Label>, LabelsError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let records = split_records(text)?;
    let mut records = records.into_iter();
    match records.next() {
        Some((_, header)) if header.join(",") == HEADER => {}
        Some((_, header)) => return Err(LabelsError::Header(header.join(","))),
        None => return Err(LabelsError::Header(String::new())),
    }
    let mut labels = Vec::new();
    for (line, fields) in records {
        if fields.len() == 1 && fields[0].is_empty() {
            continue;
        }
        let bad = |message: String| LabelsError::Line { line, message };
        let [entity, address, group, verdict, when, who, finding_id, note]: [String; 8] = fields
            .try_into()
            .map_err(|f: Vec<String>| bad(format!("{} fields, expected 8 ({HEADER})", f.len())))?;
        if entity.is_empty() {
            return Err(bad("the entity is empty".into()));
        }
        let address = address
            .parse()
            .map_err(|_| bad(format!("address {address:?} is not an IPv4 address")))?;
        let verdict = verdict.parse().map_err(bad)?;
        let when_ms = parse_rfc3339_ms(&when)
            .ok_or_else(|| bad(format!("when {when:?} is not an RFC 3339 time")))?;
        labels.push(Label {
            entity,
            address,
            group: (!group.is_empty()).then_some(group),
            verdict,
            when_ms,
            who,
            finding_id,
            note,
        });
    }
    Ok(labels)
}

/// RFC 4180 records with the line each starts on; a quoted field may span lines.
fn split_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, LabelsError> {
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    return Err(LabelsError::Line {
                        line: start,
                        message: "a quoted field is not closed".into(),
                    });
                }
                fields.push(std::mem::take(&mut field));
                break;
            };
            if quoted {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    '\n' => {
                        line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    was_quoted = false;
                }
                '"' if field.is_empty() && !was_quoted => {
                    quoted = true;
                    was_quoted = true;
                }
                '"' => {
                    return Err(LabelsError::Line {
                        line,
                        message: "a quote inside an unquoted field (quote the whole field and double the quote)".into(),
                    });
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    line += 1;
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                _ if was_quoted => {
                    return Err(LabelsError::Line {
                        line,
                        message: "text after a closing quote".into(),
                    });
                }
                _ => field.push(c),
            }
        }
        records.push((start, fields));
    }
    Ok(records)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A `YYYY-MM-DD` date (validated, leap years included).
pub fn parse_date(text: &str) -> Option<(i64, u32, u32)> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = &text[r];
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days).contains(&d).then_some((i64::from(y), m, d))
}

/// An RFC 3339 time (`Z` or an offset) in ms since the Unix epoch.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let t = DateTime::from_str(text.trim(), Format::DateTimeWithOffset).ok()?;
    t.to_millis().ok()
}

/// Formats ms since the Unix epoch as RFC 3339 in UTC (`2026-01-05T10:00:00Z`; fractions only
/// when there are some).
pub fn format_rfc3339_ms(ms: i64) -> String {
    DateTime::from_millis(ms)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(entity: &str, note: &str, group: Option<&str>, verdict: Verdict) -> Label {
        Label {
            entity: entity.into(),
            address: "203.0.113.7".parse().unwrap(),
            group: group.map(String::from),
            verdict,
            when_ms: 1_767_607_200_123,
            who: "arn:aws:iam::111122223333:user/ana".into(),
            finding_id: "seclake-ipinsights/abc".into(),
            note: note.into(),
        }
    }

    #[test]
    fn round_trip_with_awkward_notes() {
        let labels = vec![
            label("i-0a", "", Some("subnet-1"), Verdict::FalsePositive),
            label(
                "i-0b",
                "backup, to \"partner\"\nsecond line\r\nthird",
                None,
                Verdict::TruePositive,
            ),
            label(
                "i-0c",
                "plain",
                Some("group:web,tier"),
                Verdict::FalsePositive,
            ),
        ];
        let mut out = Vec::new();
        write_labels(&mut out, &labels).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(&format!("{HEADER}\n")));
        assert!(
            text.contains("i-0a,203.0.113.7,subnet-1,false_positive,2026-01-05T10:00:00.123Z,")
        );
        assert!(text.contains("\"backup, to \"\"partner\"\"\nsecond line"));
        assert_eq!(parse_labels(&text).unwrap(), labels);
        // Windows line endings and a byte-order mark read the same.
        let crlf = format!("\u{feff}{}", text.replace("plain\n", "plain\r\n"));
        assert_eq!(parse_labels(&crlf).unwrap(), labels);
        assert_eq!(parse_labels(&format!("{HEADER}\n\n")).unwrap(), vec![]);
    }

    #[test]
    fn the_latest_verdict_on_a_pair_wins() {
        let mut first = label("i-0b", "", None, Verdict::FalsePositive);
        let mut revised = label("i-0b", "", None, Verdict::TruePositive);
        revised.when_ms = first.when_ms + 1;
        revised.finding_id = "other".into();
        let other = label("i-0a", "", None, Verdict::FalsePositive);
        let labels = vec![revised.clone(), other.clone(), first.clone()];
        assert_eq!(latest_per_pair(&labels), vec![&other, &revised]);
        first.address = "203.0.113.8".parse().unwrap();
        let labels = vec![revised.clone(), first.clone()];
        assert_eq!(latest_per_pair(&labels), vec![&revised, &first]);
    }

    #[test]
    fn errors_name_the_line() {
        let rec = "i-1,1.2.3.4,,false_positive,2026-01-05T10:00:00Z,a,f,n";
        assert!(matches!(
            parse_labels("entity,ip\n"),
            Err(LabelsError::Header(_))
        ));
        assert!(matches!(parse_labels(""), Err(LabelsError::Header(_))));
        let err = |text: String| parse_labels(&text).unwrap_err().to_string();
        let e = err(format!(
            "{HEADER}\n{rec}\n\"multi\nline\",1.2.3.4,,maybe,2026-01-05T10:00:00Z,a,f,n\n"
        ));
        assert!(e.starts_with("line 3:") && e.contains("maybe"), "{e}");
        let e = err(format!(
            "{HEADER}\n{rec}\ni-1,1.2.3,,false_positive,2026-01-05T10:00:00Z,a,f,n\n"
        ));
        assert!(e.starts_with("line 3:") && e.contains("IPv4"), "{e}");
        let e = err(format!(
            "{HEADER}\ni-1,1.2.3.4,,false_positive,yesterday,a,f,n\n"
        ));
        assert!(e.starts_with("line 2:") && e.contains("RFC 3339"), "{e}");
        let e = err(format!("{HEADER}\ni-1,1.2.3.4\n"));
        assert!(e.starts_with("line 2:") && e.contains("2 fields"), "{e}");
        let e = err(format!(
            "{HEADER}\n{rec}\ni-1,1.2.3.4,,false_positive,2026-01-05T10:00:00Z,a,f,\"open\n"
        ));
        assert!(e.starts_with("line 3:") && e.contains("not closed"), "{e}");
        let e = err(format!(
            "{HEADER}\ni-1,1.2.3.4,,false_positive,2026-01-05T10:00:00Z,a,f,say \"hi\"\n"
        ));
        assert!(e.starts_with("line 2:") && e.contains("quote"), "{e}");
        let e = err(format!(
            "{HEADER}\n,1.2.3.4,,false_positive,2026-01-05T10:00:00Z,a,f,n\n"
        ));
        assert!(e.contains("entity is empty"), "{e}");
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 1, 5), 20458);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(parse_date("2028-02-29"), Some((2028, 2, 29)));
        assert_eq!(parse_date("2027-02-29"), None);
        assert_eq!(parse_date("2100-02-29"), None);
        assert_eq!(parse_date("2000-02-29"), Some((2000, 2, 29)));
        assert_eq!(parse_date("2027-13-01"), None);
        assert_eq!(parse_date("2027-1-01"), None);
        assert_eq!(parse_date("2027-01-+1"), None);
        assert_eq!(
            parse_rfc3339_ms("2026-01-05T00:00:00Z"),
            Some(20458 * DAY_MS)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-01-05T02:00:00+02:00"),
            Some(20458 * DAY_MS)
        );
        assert_eq!(parse_rfc3339_ms("2026-01-05"), None);
        assert_eq!(format_rfc3339_ms(20458 * DAY_MS), "2026-01-05T00:00:00Z");
    }
}
