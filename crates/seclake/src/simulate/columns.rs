//! Streaming a parquet object one row group at a time with the low-level column writers.
//!
//! Rows are kept in a compact per-source form (indices into the estate, numbers), and every leaf
//! column is materialised only while it is written: memory is one row group of compact rows plus
//! one column's values, not one row group of every column. Each source lists its leaves in schema
//! order with an extractor that pushes that leaf's value(s) and levels for one row.

use std::io::Write;

use bytes::Bytes;
use parquet::basic::Type as PhysicalType;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnDescriptor;

use super::SimError;

/// Pushes one row's contribution to one leaf column.
pub(crate) type Extract<R, C> = fn(&R, &C, &mut Sink);

/// A leaf column: its dotted path (checked against the schema) and its extractor.
pub(crate) struct Leaf<R, C> {
    pub(crate) path: &'static str,
    pub(crate) extract: Extract<R, C>,
}

pub(crate) fn leaf<R, C>(path: &'static str, extract: Extract<R, C>) -> Leaf<R, C> {
    Leaf { path, extract }
}

/// The values and levels of one leaf column for one row group.
///
/// Definition levels are computed from the leaf's maximum level, so extractors only say what is
/// there: a value, a null leaf, a null/empty list, a null enclosing group.
pub(crate) struct Sink {
    max_def: i16,
    max_rep: i16,
    def: Vec<i16>,
    rep: Vec<i16>,
    bytes: Vec<ByteArray>,
    i32s: Vec<i32>,
    i64s: Vec<i64>,
}

impl Sink {
    fn new() -> Sink {
        Sink {
            max_def: 0,
            max_rep: 0,
            def: Vec::new(),
            rep: Vec::new(),
            bytes: Vec::new(),
            i32s: Vec::new(),
            i64s: Vec::new(),
        }
    }

    fn reset(&mut self, col: &ColumnDescriptor) {
        self.max_def = col.max_def_level();
        self.max_rep = col.max_rep_level();
        self.def.clear();
        self.rep.clear();
        self.bytes.clear();
        self.i32s.clear();
        self.i64s.clear();
    }

    fn level(&mut self, def: i16, rep: i16) {
        self.def.push(def);
        self.rep.push(rep);
    }

    /// A scalar string leaf; `None` is a null leaf inside present groups.
    pub(crate) fn str(&mut self, v: Option<Bytes>) {
        match v {
            Some(v) => {
                self.level(self.max_def, 0);
                self.bytes.push(ByteArray::from(v));
            }
            None => self.level(self.max_def - 1, 0),
        }
    }

    /// A string constant.
    pub(crate) fn lit(&mut self, v: &'static str) {
        self.str(Some(Bytes::from_static(v.as_bytes())));
    }

    /// A scalar string leaf whose optional parent group is null when `v` is `None`.
    pub(crate) fn str_or_null_group(&mut self, v: Option<Bytes>) {
        match v {
            Some(v) => self.str(Some(v)),
            None => self.level(self.max_def - 2, 0),
        }
    }

    pub(crate) fn i32(&mut self, v: Option<i32>) {
        match v {
            Some(v) => {
                self.level(self.max_def, 0);
                self.i32s.push(v);
            }
            None => self.level(self.max_def - 1, 0),
        }
    }

    pub(crate) fn i64(&mut self, v: Option<i64>) {
        match v {
            Some(v) => {
                self.level(self.max_def, 0);
                self.i64s.push(v);
            }
            None => self.level(self.max_def - 1, 0),
        }
    }

    /// A legacy two-level list of strings (`optional group x (LIST) { repeated binary array }`).
    pub(crate) fn str_list<I: IntoIterator<Item = Bytes>>(&mut self, v: Option<I>) {
        let Some(items) = v else {
            self.level(self.max_def - 2, 0);
            return;
        };
        let mut rep = 0;
        for item in items {
            self.level(self.max_def, rep);
            self.bytes.push(ByteArray::from(item));
            rep = self.max_rep;
        }
        if rep == 0 {
            self.level(self.max_def - 1, 0);
        }
    }

    /// One string field of a list of structs with optional fields (`answers`, `observables`).
    pub(crate) fn struct_list_str<I: IntoIterator<Item = Option<Bytes>>>(&mut self, v: Option<I>) {
        self.struct_list(v, |s, b| s.bytes.push(ByteArray::from(b)));
    }

    /// One int32 field of a list of structs with optional fields.
    pub(crate) fn struct_list_i32<I: IntoIterator<Item = Option<i32>>>(&mut self, v: Option<I>) {
        self.struct_list(v, |s, x| s.i32s.push(x));
    }

    /// The level arithmetic of one field of a list of structs with optional fields, shared by
    /// every value type so it lives in one place; `push` stores a present value.
    fn struct_list<T, I: IntoIterator<Item = Option<T>>>(
        &mut self,
        v: Option<I>,
        push: fn(&mut Sink, T),
    ) {
        let Some(items) = v else {
            self.level(self.max_def - 3, 0);
            return;
        };
        let mut rep = 0;
        for item in items {
            match item {
                Some(x) => {
                    self.level(self.max_def, rep);
                    push(self, x);
                }
                None => self.level(self.max_def - 1, rep),
            }
            rep = self.max_rep;
        }
        if rep == 0 {
            self.level(self.max_def - 2, 0);
        }
    }

    /// The key or value leaf of a `map<string,string>` (`repeated group map { required key;
    /// required value }`).
    pub(crate) fn map_side<I: IntoIterator<Item = Bytes>>(&mut self, v: Option<I>) {
        // Same level arithmetic as a two-level list of required values.
        self.str_list(v)
    }

    fn write_to(
        &self,
        col: &mut parquet::file::writer::SerializedColumnWriter<'_>,
        physical: PhysicalType,
    ) -> Result<(), SimError> {
        let def = (self.max_def > 0).then_some(self.def.as_slice());
        let rep = (self.max_rep > 0).then_some(self.rep.as_slice());
        match physical {
            PhysicalType::BYTE_ARRAY => {
                col.typed::<ByteArrayType>()
                    .write_batch(&self.bytes, def, rep)?;
            }
            PhysicalType::INT32 => {
                col.typed::<Int32Type>().write_batch(&self.i32s, def, rep)?;
            }
            PhysicalType::INT64 => {
                col.typed::<Int64Type>().write_batch(&self.i64s, def, rep)?;
            }
            other => {
                return Err(SimError::Internal(format!(
                    "no extractor support for physical type {other}"
                )));
            }
        }
        Ok(())
    }
}

/// Checks that `leaves` lists exactly the schema's leaf columns, in order.
pub(crate) fn check_leaves<R, C, W: Write + Send>(
    writer: &SerializedFileWriter<W>,
    leaves: &[Leaf<R, C>],
) -> Result<(), SimError> {
    let descr = writer.schema_descr();
    let paths: Vec<String> = descr.columns().iter().map(|c| c.path().string()).collect();
    let ours: Vec<&str> = leaves.iter().map(|l| l.path).collect();
    if paths.len() != ours.len() || paths.iter().zip(&ours).any(|(a, b)| a != b) {
        return Err(SimError::Internal(format!(
            "extractor leaves {ours:?} do not match schema leaves {paths:?}"
        )));
    }
    Ok(())
}

/// Writes `rows` as one row group.
pub(crate) fn write_row_group<R, C, W: Write + Send>(
    writer: &mut SerializedFileWriter<W>,
    leaves: &[Leaf<R, C>],
    rows: &[R],
    ctx: &C,
    sink: &mut Option<Sink>,
) -> Result<(), SimError> {
    let sink = sink.get_or_insert_with(Sink::new);
    let columns = writer.schema_descr().columns().to_vec();
    let mut rg = writer.next_row_group()?;
    for (leaf, col_descr) in leaves.iter().zip(&columns) {
        sink.reset(col_descr);
        for row in rows {
            (leaf.extract)(row, ctx, sink);
        }
        let Some(mut col) = rg.next_column()? else {
            return Err(SimError::Internal(format!(
                "schema ended before leaf {}",
                leaf.path
            )));
        };
        sink.write_to(&mut col, col_descr.physical_type())?;
        col.close()?;
    }
    rg.close()?;
    Ok(())
}
