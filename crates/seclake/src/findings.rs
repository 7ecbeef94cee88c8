//! Security Hub findings (`SH_FINDINGS`) rows, reduced to what a trend analysis needs: the event
//! time and the fields a series can be keyed on.
//!
//! Source version 1.0 (OCSF 1.0.0-rc.2) keeps the finding types in `finding.types` and the
//! account in `cloud.account_uid`; 2.0 (OCSF 1.1.0) has `finding_info.types` and
//! `cloud.account.uid`. Columns are looked up by name, so both versions, and lists written in
//! the legacy two-level (`types.array`) or the three-level (`types.list.element`) layout, read
//! the same way. Only the needed leaves are decoded.

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::ChunkReader;
use serde::Serialize;

/// Why a findings object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FindingsError {
    /// Not a parquet file, or a corrupt one.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Decoding a column failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The object has no `time` column, so its rows cannot be put on days.
    #[error("no `time` column: not a Security Hub findings object")]
    NoTime,
    /// A column has a type no Security Hub findings object has.
    #[error("column `{column}` is {found}, not {expected}")]
    ColumnType {
        column: &'static str,
        found: DataType,
        expected: &'static str,
    },
}

/// One finding, with the fields a series key can use (all optional but the time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Event time, epoch milliseconds (OCSF `time`).
    pub time_ms: i64,
    /// `metadata.product.feature.name`: the Security Hub product (GuardDuty, Inspector, ...).
    pub product_feature: Option<String>,
    /// The first element of the finding types.
    pub first_type: Option<String>,
    /// `severity` (the label, e.g. `High`).
    pub severity: Option<String>,
    /// `cloud.account_uid` (1.0) or `cloud.account.uid` (2.0).
    pub account: Option<String>,
    /// `cloud.region`.
    pub region: Option<String>,
}

/// The leaves read, by the parquet path of their column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Time,
    Feature,
    Types,
    Severity,
    Account,
    Region,
}

impl Leaf {
    fn of(parts: &[String]) -> Option<Leaf> {
        let p: Vec<&str> = parts.iter().map(String::as_str).collect();
        match p.as_slice() {
            ["time"] => Some(Leaf::Time),
            ["metadata", "product", "feature", "name"] => Some(Leaf::Feature),
            // Legacy two-level list: types.array; three-level: types.list.element (or .item).
            ["finding" | "finding_info", "types", _]
            | ["finding" | "finding_info", "types", _, _] => Some(Leaf::Types),
            ["severity"] => Some(Leaf::Severity),
            ["cloud", "account_uid"] | ["cloud", "account", "uid"] => Some(Leaf::Account),
            ["cloud", "region"] => Some(Leaf::Region),
            _ => None,
        }
    }
}

/// Reads every finding of a parquet object (a local file or an object's bytes).
pub fn read_findings<R: ChunkReader + 'static>(reader: R) -> Result<Vec<Finding>, FindingsError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(reader)?;
    let descr = builder.parquet_schema();
    let mut leaves = Vec::new();
    let mut has_time = false;
    for (i, col) in descr.columns().iter().enumerate() {
        if let Some(leaf) = Leaf::of(col.path().parts()) {
            has_time |= leaf == Leaf::Time;
            leaves.push(i);
        }
    }
    if !has_time {
        return Err(FindingsError::NoTime);
    }
    let mask = ProjectionMask::leaves(descr, leaves);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()?;
    let mut out = Vec::new();
    for batch in reader {
        read_batch(&batch?, &mut out)?;
    }
    Ok(out)
}

fn read_batch(batch: &RecordBatch, out: &mut Vec<Finding>) -> Result<(), FindingsError> {
    let col = |path: &[&str]| path_column(batch, path);
    let Some(time) = col(&["time"]) else {
        return Err(FindingsError::NoTime);
    };
    let time = millis(&time)?;
    let feature = strings(
        "metadata.product.feature.name",
        col(&["metadata", "product", "feature", "name"]),
    )?;
    let severity = strings("severity", col(&["severity"]))?;
    let region = strings("cloud.region", col(&["cloud", "region"]))?;
    let account = match strings("cloud.account_uid", col(&["cloud", "account_uid"]))? {
        Some(a) => Some(a),
        None => strings("cloud.account.uid", col(&["cloud", "account", "uid"]))?,
    };
    let types = col(&["finding", "types"]).or_else(|| col(&["finding_info", "types"]));
    let first_types = first_elements(types)?;
    let get = |c: &Option<Vec<Option<String>>>, i: usize| c.as_ref().and_then(|v| v[i].clone());
    for (i, time_ms) in time.into_iter().enumerate() {
        // A finding without a time cannot be put on a day.
        let Some(time_ms) = time_ms else { continue };
        out.push(Finding {
            time_ms,
            product_feature: get(&feature, i),
            first_type: get(&first_types, i),
            severity: get(&severity, i),
            account: get(&account, i),
            region: get(&region, i),
        });
    }
    Ok(())
}

/// Writes findings as a parquet object in the physical layout of Security Lake source version
/// 1.0 (`finding.types`, `cloud.account_uid`) or 2.0 (`finding_info.types`,
/// `cloud.account.uid`), with only the columns [`read_findings`] uses; for simulated lakes and
/// tests.
pub fn write_findings(
    rows: &[Finding],
    version: crate::SourceVersion,
) -> Result<Vec<u8>, FindingsError> {
    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{Field, Fields};
    use std::sync::Arc;

    let strs = |f: &dyn Fn(&Finding) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let wrap = |name: &str, child: ArrayRef| -> ArrayRef {
        Arc::new(StructArray::from(vec![(
            Arc::new(Field::new(name, child.data_type().clone(), true)),
            child,
        )]))
    };
    let time: ArrayRef = Arc::new(rows.iter().map(|r| r.time_ms).collect::<Int64Array>());
    let feature = strs(&|r| r.product_feature.as_deref());
    let metadata = wrap("product", wrap("feature", wrap("name", feature)));
    let mut types = ListBuilder::new(StringBuilder::new());
    for r in rows {
        if let Some(t) = &r.first_type {
            types.values().append_value(t);
        }
        types.append(true);
    }
    let types: ArrayRef = Arc::new(types.finish());
    let v2 = matches!(version, crate::SourceVersion::V2);
    let account = strs(&|r| r.account.as_deref());
    let (account_name, account) = if v2 {
        ("account", wrap("uid", account))
    } else {
        ("account_uid", account)
    };
    let region = strs(&|r| r.region.as_deref());
    let cloud: ArrayRef = Arc::new(StructArray::new(
        Fields::from(vec![
            Field::new(account_name, account.data_type().clone(), true),
            Field::new("region", DataType::Utf8, true),
        ]),
        vec![account, region],
        None,
    ));
    let mut columns = vec![("metadata", metadata), ("time", time)];
    if v2 {
        // Source version 2.0 carries the time again as a UTC timestamp; Athena prunes on it.
        let time_dt: ArrayRef = Arc::new(
            arrow_array::TimestampMillisecondArray::from_iter_values(
                rows.iter().map(|r| r.time_ms),
            )
            .with_timezone("UTC"),
        );
        columns.push(("time_dt", time_dt));
    }
    columns.extend([
        (
            if v2 { "finding_info" } else { "finding" },
            wrap("types", types),
        ),
        ("severity", strs(&|r| r.severity.as_deref())),
        ("cloud", cloud),
    ]);
    let batch = RecordBatch::try_from_iter(columns)?;
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None)?;
    w.write(&batch)?;
    w.close()?;
    Ok(buf)
}

/// The column at `path`, descending through structs by field name; a null struct makes its
/// children null.
fn path_column(batch: &RecordBatch, path: &[&str]) -> Option<ArrayRef> {
    let (first, rest) = path.split_first()?;
    let mut arr = batch.column_by_name(first)?.clone();
    for name in rest {
        let s: &StructArray = arr.as_struct_opt()?;
        let child = s.column_by_name(name)?.clone();
        arr = match s.nulls() {
            Some(parent) => {
                let nulls = arrow_buffer::NullBuffer::union(Some(parent), child.nulls());
                arrow_array::make_array(child.to_data().into_builder().nulls(nulls).build().ok()?)
            }
            None => child,
        };
    }
    Some(arr)
}

/// `time` as epoch milliseconds per row: an integer is OCSF's `timestamp_t` (milliseconds), a
/// parquet timestamp is converted from its unit.
///
/// The conversions here and in [`string_values`] are written out rather than taken from
/// arrow-cast: the few types a findings object has did not justify the two crates (arrow-cast
/// and arrow-ord) that were a tenth of every build's compile time.
fn millis(arr: &ArrayRef) -> Result<Vec<Option<i64>>, FindingsError> {
    use arrow_array::ArrowPrimitiveType;
    use arrow_array::types::{
        Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
        TimestampNanosecondType, TimestampSecondType, UInt32Type,
    };
    use arrow_schema::TimeUnit;
    fn each<T: ArrowPrimitiveType>(arr: &ArrayRef, f: fn(T::Native) -> i64) -> Vec<Option<i64>> {
        arr.as_primitive::<T>().iter().map(|v| v.map(f)).collect()
    }
    Ok(match arr.data_type() {
        DataType::Int64 => each::<Int64Type>(arr, |v| v),
        DataType::Int32 => each::<Int32Type>(arr, i64::from),
        DataType::UInt32 => each::<UInt32Type>(arr, i64::from),
        DataType::Timestamp(TimeUnit::Second, _) => {
            each::<TimestampSecondType>(arr, |v| v.saturating_mul(1000))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            each::<TimestampMillisecondType>(arr, |v| v)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            each::<TimestampMicrosecondType>(arr, |v| v.div_euclid(1000))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            each::<TimestampNanosecondType>(arr, |v| v.div_euclid(1_000_000))
        }
        other => {
            return Err(FindingsError::ColumnType {
                column: "time",
                found: other.clone(),
                expected: "an integer or a timestamp",
            });
        }
    })
}

/// A string-like column as owned strings per row.
fn strings(
    column: &'static str,
    arr: Option<ArrayRef>,
) -> Result<Option<Vec<Option<String>>>, FindingsError> {
    arr.map(|arr| string_values(column, &arr)).transpose()
}

/// Strings per row of a string, binary (taken as UTF-8, invalid bytes replaced), integer or
/// dictionary-encoded column.
fn string_values(
    column: &'static str,
    arr: &ArrayRef,
) -> Result<Vec<Option<String>>, FindingsError> {
    use arrow_array::types::{Int32Type, Int64Type};
    let text = |v: Option<&str>| v.map(str::to_string);
    let bytes = |v: Option<&[u8]>| v.map(|b| String::from_utf8_lossy(b).into_owned());
    Ok(match arr.data_type() {
        DataType::Utf8 => arr.as_string::<i32>().iter().map(text).collect(),
        DataType::LargeUtf8 => arr.as_string::<i64>().iter().map(text).collect(),
        DataType::Utf8View => arr.as_string_view().iter().map(text).collect(),
        DataType::Binary => arr.as_binary::<i32>().iter().map(bytes).collect(),
        DataType::LargeBinary => arr.as_binary::<i64>().iter().map(bytes).collect(),
        DataType::BinaryView => arr.as_binary_view().iter().map(bytes).collect(),
        DataType::Int64 => {
            let a = arr.as_primitive::<Int64Type>();
            a.iter().map(|v| v.map(|v| v.to_string())).collect()
        }
        DataType::Int32 => {
            let a = arr.as_primitive::<Int32Type>();
            a.iter().map(|v| v.map(|v| v.to_string())).collect()
        }
        DataType::Dictionary(_, _) => {
            let dict = arr.as_any_dictionary();
            let values = string_values(column, dict.values())?;
            let keys = dict.normalized_keys();
            (0..arr.len())
                .map(|i| {
                    if arr.is_null(i) {
                        None
                    } else {
                        keys.get(i).and_then(|&k| values.get(k).cloned().flatten())
                    }
                })
                .collect()
        }
        other => {
            return Err(FindingsError::ColumnType {
                column,
                found: other.clone(),
                expected: "a string",
            });
        }
    })
}

/// A list's values and each row's (start, end) in them.
fn list_bounds<O: arrow_array::OffsetSizeTrait>(
    list: &arrow_array::GenericListArray<O>,
) -> (&ArrayRef, Vec<(usize, usize)>) {
    let o = list.value_offsets();
    let bounds = o
        .windows(2)
        .map(|w| (w[0].as_usize(), w[1].as_usize()))
        .collect();
    (list.values(), bounds)
}

/// The first element of a list-of-strings column per row (None for null or empty lists).
fn first_elements(arr: Option<ArrayRef>) -> Result<Option<Vec<Option<String>>>, FindingsError> {
    const COLUMN: &str = "finding types";
    let Some(arr) = arr else { return Ok(None) };
    // Each row's (start, end) in the list's values.
    let (values, bounds): (&ArrayRef, Vec<(usize, usize)>) = match arr.data_type() {
        DataType::List(_) => list_bounds(arr.as_list::<i32>()),
        DataType::LargeList(_) => list_bounds(arr.as_list::<i64>()),
        DataType::FixedSizeList(_, n) => {
            let list = arr.as_fixed_size_list();
            let n = usize::try_from(*n).unwrap_or(0);
            (
                list.values(),
                (0..list.len()).map(|i| (i * n, i * n + n)).collect(),
            )
        }
        // Not a list: take the value itself.
        _ => return strings(COLUMN, Some(arr)),
    };
    let values = string_values(COLUMN, values)?;
    Ok(Some(
        bounds
            .into_iter()
            .enumerate()
            .map(|(i, (start, end))| {
                if arr.is_null(i) || end <= start {
                    None
                } else {
                    values.get(start).cloned().flatten()
                }
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's samples, in `../shared` beside the project.
    fn fixtures() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/security-lake-samples/1.0.0-rc.2/SH_FINDINGS")
    }

    #[test]
    fn reads_the_aws_sample_findings() {
        let fixtures = fixtures();
        let Ok(dir) = std::fs::read_dir(&fixtures) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but {} is missing",
                fixtures.display()
            );
            eprintln!("skipped: {} not present", fixtures.display());
            return;
        };
        let mut total = 0;
        for entry in dir {
            let path = entry.unwrap().path();
            let file = std::fs::File::open(&path).unwrap();
            let rows = read_findings(file).unwrap();
            assert!(!rows.is_empty(), "{}", path.display());
            for f in &rows {
                // 2020..2030 in epoch ms: `time` is milliseconds.
                assert!(
                    (1_577_836_800_000..1_893_456_000_000).contains(&f.time_ms),
                    "{f:?}"
                );
            }
            assert!(rows.iter().any(|f| f.product_feature.is_some()));
            assert!(rows.iter().any(|f| f.first_type.is_some()));
            assert!(
                rows.iter()
                    .any(|f| f.account.is_some() && f.region.is_some())
            );
            total += rows.len();
            eprintln!(
                "{}: {} rows, e.g. {:?}",
                path.display(),
                rows.len(),
                rows[0]
            );
        }
        assert_eq!(total, 4);
    }

    #[test]
    fn sample_values_are_read_by_name() {
        let path = fixtures().join("example3.json.gz.parquet");
        let Ok(file) = std::fs::File::open(&path) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but {} is missing",
                path.display()
            );
            eprintln!("skipped: {} not present", path.display());
            return;
        };
        let rows = read_findings(file).unwrap();
        assert_eq!(
            rows,
            vec![Finding {
                time_ms: 1_659_636_565_316,
                product_feature: Some("Security Hub".into()),
                first_type: Some(
                    "Software and Configuration Checks/Industry and Regulatory Standards/\
                     AWS-Foundational-Security-Best-Practices"
                        .into()
                ),
                severity: Some("Critical".into()),
                account: Some("123456789100".into()),
                region: Some("us-east-1".into()),
            }]
        );
    }

    /// Source version 2.0 layout: `finding_info.types` as a three-level list and
    /// `cloud.account.uid`.
    #[test]
    fn reads_the_v2_layout() {
        use arrow_array::builder::{ListBuilder, StringBuilder};
        use arrow_array::{Int64Array, StringArray};
        use arrow_schema::{Field, Fields};
        use std::sync::Arc;

        let mut types = ListBuilder::new(StringBuilder::new());
        types.values().append_value("TTPs/Discovery");
        types.values().append_value("Other");
        types.append(true);
        types.append(true); // empty list: no first type
        let types = Arc::new(types.finish()) as ArrayRef;
        let finding_info = StructArray::from(vec![(
            Arc::new(Field::new("types", types.data_type().clone(), true)),
            types,
        )]);
        let uid = Arc::new(StringArray::from(vec![Some("111122223333"), None])) as ArrayRef;
        let account = StructArray::from(vec![(
            Arc::new(Field::new("uid", DataType::Utf8, true)),
            uid,
        )]);
        let region = Arc::new(StringArray::from(vec!["eu-west-1", "eu-west-1"])) as ArrayRef;
        let cloud = StructArray::new(
            Fields::from(vec![
                Field::new("account", account.data_type().clone(), true),
                Field::new("region", DataType::Utf8, true),
            ]),
            vec![Arc::new(account) as ArrayRef, region],
            None,
        );
        let batch = RecordBatch::try_from_iter(vec![
            (
                "time",
                Arc::new(Int64Array::from(vec![1_000, 90_000_000])) as ArrayRef,
            ),
            ("finding_info", Arc::new(finding_info) as ArrayRef),
            ("cloud", Arc::new(cloud) as ArrayRef),
        ])
        .unwrap();
        let mut buf = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let rows = read_findings(bytes::Bytes::from(buf)).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].first_type.as_deref(), Some("TTPs/Discovery"));
        assert_eq!(rows[0].account.as_deref(), Some("111122223333"));
        assert_eq!(rows[0].region.as_deref(), Some("eu-west-1"));
        assert_eq!(rows[0].product_feature, None);
        assert_eq!(rows[1].first_type, None);
        assert_eq!(rows[1].account, None);
        assert_eq!(rows[1].time_ms, 90_000_000);
    }

    #[test]
    fn written_objects_read_back_in_both_versions() {
        let rows = vec![
            Finding {
                time_ms: 1_700_000_000_000,
                product_feature: Some("GuardDuty".into()),
                first_type: Some("TTPs/Discovery".into()),
                severity: Some("High".into()),
                account: Some("111122223333".into()),
                region: Some("us-east-1".into()),
            },
            Finding {
                time_ms: 1_700_000_100_000,
                product_feature: None,
                first_type: None,
                severity: None,
                account: None,
                region: None,
            },
        ];
        for v in [crate::SourceVersion::V1, crate::SourceVersion::V2] {
            let bytes = write_findings(&rows, v).unwrap();
            assert_eq!(
                read_findings(bytes::Bytes::from(bytes)).unwrap(),
                rows,
                "{v:?}"
            );
        }
    }

    #[test]
    fn times_are_milliseconds_whatever_their_unit() {
        use arrow_array::{
            Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
            TimestampNanosecondArray, TimestampSecondArray,
        };
        use std::sync::Arc;
        let ms = 1_767_225_600_123_i64;
        let cases: Vec<(ArrayRef, Vec<Option<i64>>)> = vec![
            (
                Arc::new(Int64Array::from(vec![Some(ms), None])),
                vec![Some(ms), None],
            ),
            (Arc::new(Int32Array::from(vec![7])), vec![Some(7)]),
            (
                Arc::new(TimestampSecondArray::from(vec![ms / 1000]).with_timezone("UTC")),
                vec![Some(ms / 1000 * 1000)],
            ),
            (
                Arc::new(TimestampMicrosecondArray::from(vec![ms * 1000 + 999])),
                vec![Some(ms)],
            ),
            (
                Arc::new(TimestampNanosecondArray::from(vec![ms * 1_000_000])),
                vec![Some(ms)],
            ),
            // Before 1970 the division rounds down, as a timestamp's day does.
            (
                Arc::new(TimestampMicrosecondArray::from(vec![-1])),
                vec![Some(-1)],
            ),
        ];
        for (arr, want) in cases {
            assert_eq!(millis(&arr).unwrap(), want, "{}", arr.data_type());
        }
        let text: ArrayRef = Arc::new(StringArray::from(vec!["2026-01-01"]));
        let err = millis(&text).unwrap_err();
        assert!(
            matches!(err, FindingsError::ColumnType { column: "time", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("Utf8"), "{err}");
    }

    #[test]
    fn strings_come_from_every_string_like_column() {
        use arrow_array::types::Int32Type;
        use arrow_array::{
            BinaryArray, DictionaryArray, Float64Array, Int64Array, LargeStringArray,
            StringViewArray,
        };
        use std::sync::Arc;
        let want = vec![Some("High".to_string()), None];
        let cases: Vec<ArrayRef> = vec![
            Arc::new(LargeStringArray::from(vec![Some("High"), None])),
            Arc::new(StringViewArray::from(vec![Some("High"), None])),
            Arc::new(BinaryArray::from(vec![Some(b"High".as_slice()), None])),
            Arc::new(
                vec![Some("High"), None]
                    .into_iter()
                    .collect::<DictionaryArray<Int32Type>>(),
            ),
        ];
        for arr in cases {
            assert_eq!(
                string_values("severity", &arr).unwrap(),
                want,
                "{}",
                arr.data_type()
            );
        }
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![111122223333]));
        assert_eq!(
            string_values("cloud.account_uid", &ids).unwrap(),
            vec![Some("111122223333".to_string())]
        );
        let bad: ArrayRef = Arc::new(BinaryArray::from(vec![b"Hi\xffgh".as_slice()]));
        assert_eq!(
            string_values("severity", &bad).unwrap(),
            vec![Some("Hi\u{fffd}gh".to_string())]
        );
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![1.5]));
        let err = string_values("severity", &floats).unwrap_err();
        assert_eq!(
            err.to_string(),
            "column `severity` is Float64, not a string"
        );
    }

    #[test]
    fn first_elements_of_large_and_fixed_size_lists() {
        use arrow_array::builder::{FixedSizeListBuilder, LargeListBuilder, StringBuilder};
        use std::sync::Arc;
        let mut large = LargeListBuilder::new(StringBuilder::new());
        large.values().append_value("TTPs/C2");
        large.values().append_value("second");
        large.append(true);
        large.append(true); // empty
        large.append(false); // null
        let large: ArrayRef = Arc::new(large.finish());
        assert_eq!(
            first_elements(Some(large)).unwrap().unwrap(),
            vec![Some("TTPs/C2".to_string()), None, None]
        );
        let mut fixed = FixedSizeListBuilder::new(StringBuilder::new(), 2);
        for (a, b) in [("a", "b"), ("c", "d")] {
            fixed.values().append_value(a);
            fixed.values().append_value(b);
            fixed.append(true);
        }
        let fixed: ArrayRef = Arc::new(fixed.finish());
        assert_eq!(
            first_elements(Some(fixed)).unwrap().unwrap(),
            vec![Some("a".to_string()), Some("c".to_string())]
        );
    }

    #[test]
    fn not_parquet_is_an_error() {
        assert!(read_findings(bytes::Bytes::from_static(b"nope")).is_err());
    }
}
