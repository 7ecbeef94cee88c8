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
    let time = arrow_cast::cast(&time, &DataType::Int64)?;
    let time = time.as_primitive::<arrow_array::types::Int64Type>();
    let feature = strings(col(&["metadata", "product", "feature", "name"]))?;
    let severity = strings(col(&["severity"]))?;
    let region = strings(col(&["cloud", "region"]))?;
    let account = match strings(col(&["cloud", "account_uid"]))? {
        Some(a) => Some(a),
        None => strings(col(&["cloud", "account", "uid"]))?,
    };
    let types = col(&["finding", "types"]).or_else(|| col(&["finding_info", "types"]));
    let first_types = first_elements(types)?;
    let get = |c: &Option<Vec<Option<String>>>, i: usize| c.as_ref().and_then(|v| v[i].clone());
    for i in 0..batch.num_rows() {
        // A finding without a time cannot be put on a day.
        if time.is_null(i) {
            continue;
        }
        out.push(Finding {
            time_ms: time.value(i),
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

/// A string-like column as owned strings per row.
fn strings(arr: Option<ArrayRef>) -> Result<Option<Vec<Option<String>>>, FindingsError> {
    let Some(arr) = arr else { return Ok(None) };
    let arr = arrow_cast::cast(&arr, &DataType::Utf8)?;
    let s = arr.as_string::<i32>();
    Ok(Some(
        (0..s.len())
            .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
            .collect(),
    ))
}

/// The first element of a list-of-strings column per row (None for null or empty lists).
fn first_elements(arr: Option<ArrayRef>) -> Result<Option<Vec<Option<String>>>, FindingsError> {
    let Some(arr) = arr else { return Ok(None) };
    let arr = match arr.data_type() {
        DataType::List(_) => arr,
        DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            arrow_cast::cast(&arr, &DataType::List(f.clone()))?
        }
        // Not a list: take the value itself.
        _ => return strings(Some(arr)),
    };
    let list = arr.as_list::<i32>();
    let values = arrow_cast::cast(list.values(), &DataType::Utf8)?;
    let values = values.as_string::<i32>();
    let offsets = list.value_offsets();
    Ok(Some(
        (0..list.len())
            .map(|i| {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                (!list.is_null(i) && end > start && !values.is_null(start))
                    .then(|| values.value(start).to_string())
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
    fn not_parquet_is_an_error() {
        assert!(read_findings(bytes::Bytes::from_static(b"nope")).is_err());
    }
}
