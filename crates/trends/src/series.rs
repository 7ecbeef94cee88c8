//! Daily count series: events bucketed by UTC calendar day per key, zero-filled between the
//! first and the last observed day of each key (as the sample's pandas `resample('D').sum()`).

use std::collections::BTreeMap;

use serde::Serialize;

/// Series with fewer days than this are skipped: the sample keeps `len(ts) > 5`.
pub const MIN_SERIES_DAYS: usize = 6;

/// Milliseconds in a UTC day.
const DAY_MS: i64 = 86_400_000;

/// One key's findings per day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailySeries {
    /// The series key, e.g. `"GuardDuty | TTPs/Discovery"`.
    pub key: String,
    /// First day of the series, in days since 1970-01-01 (UTC).
    pub first_day: i64,
    /// Count per day from `first_day`, zero-filled.
    pub values: Vec<f64>,
}

impl DailySeries {
    /// Builds a zero-filled series from per-day counts; `None` if there are no counts.
    pub fn from_counts(key: impl Into<String>, counts: &BTreeMap<i64, f64>) -> Option<Self> {
        let (&first, _) = counts.first_key_value()?;
        let (&last, _) = counts.last_key_value()?;
        let len = usize::try_from(last - first + 1).ok()?;
        let mut values = vec![0.0; len];
        for (&day, &v) in counts {
            // Offsets are in range: every day lies between first and last.
            values[(day - first) as usize] += v;
        }
        Some(Self {
            key: key.into(),
            first_day: first,
            values,
        })
    }

    /// The calendar date (`YYYY-MM-DD`) of index `i` of the series.
    pub fn date(&self, i: usize) -> String {
        format_day(self.first_day + i as i64)
    }

    /// Number of days in the series.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the series has no days.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// UTC day number (days since 1970-01-01) of an epoch-millisecond timestamp.
pub fn day_of_ms(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// Groups `(key, epoch ms, count)` events into daily series, sorted by key, dropping series
/// shorter than `min_days` days.
pub fn group_daily<K: Into<String>>(
    events: impl IntoIterator<Item = (K, i64, f64)>,
    min_days: usize,
) -> Vec<DailySeries> {
    let mut by_key: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for (key, ms, count) in events {
        *by_key
            .entry(key.into())
            .or_default()
            .entry(day_of_ms(ms))
            .or_default() += count;
    }
    by_key
        .into_iter()
        .filter_map(|(k, counts)| DailySeries::from_counts(k, &counts))
        .filter(|s| s.len() >= min_days)
        .collect()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The `(year, month, day)` of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD` (or `YYYYMMDD`) into a day number.
pub fn parse_day(s: &str) -> Option<i64> {
    let digits: String = s.chars().filter(|c| *c != '-').collect();
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i64 = digits[0..4].parse().ok()?;
    let m: u32 = digits[4..6].parse().ok()?;
    let d: u32 = digits[6..8].parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || d > 31 {
        return None;
    }
    let day = days_from_civil(y, m, d);
    // Reject dates like 2023-02-30 that roll over into the next month.
    (civil_from_days(day) == (y, m, d)).then_some(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2023, 3, 1), 19417);
        for z in [-1000, 0, 59, 19417, 20000, 40000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(parse_day("2023-03-01"), Some(19417));
        assert_eq!(parse_day("20230301"), Some(19417));
        assert_eq!(parse_day("2023-02-30"), None);
        assert_eq!(format_day(19417), "2023-03-01");
    }

    #[test]
    fn zero_fill_between_first_and_last_day_only() {
        let d0 = days_from_civil(2023, 1, 1) * DAY_MS;
        let ev = vec![
            ("a", d0 + 5, 1.0),
            ("a", d0 + 3 * DAY_MS, 2.0),
            ("a", d0 + 7 * DAY_MS - 1, 1.0),
            ("a", d0 + 10, 1.0),
            ("b", d0, 1.0),
        ];
        let s = group_daily(ev, MIN_SERIES_DAYS);
        assert_eq!(s.len(), 1, "b has one day and is skipped");
        assert_eq!(s[0].key, "a");
        assert_eq!(s[0].values, vec![2.0, 0.0, 0.0, 2.0, 0.0, 0.0, 1.0]);
        assert_eq!(s[0].date(6), "2023-01-07");
    }

    #[test]
    fn negative_times_fall_on_the_previous_day() {
        assert_eq!(day_of_ms(-1), -1);
    }
}
