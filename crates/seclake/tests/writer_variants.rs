//! Objects as pyarrow, Spark or Glue write them: three-level lists, Snappy/ZSTD/LZ4/Brotli,
//! dictionary or plain pages, every Arrow string type, int32 or int64 ports, null structs.
//! Whatever the encoding, the pairs are the same.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder, StructBuilder};
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Int32Array, Int64Array, LargeStringArray, RecordBatch,
    StringArray, StringViewArray, StructArray, types::Int32Type,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Fields, Schema};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use seclake::{DropReason, ExtractOptions, PairSet, Pairing, ReadOptions, Source, extract_bytes};

const ROWS: usize = 3_000;

fn uid(i: usize) -> Option<String> {
    match i % 10 {
        0 => None,
        1 => Some("-".into()),
        _ => Some(format!("i-{:017x}", i % 37)),
    }
}

fn ip(i: usize) -> Option<String> {
    match i % 23 {
        0 => None,
        1 => Some("-".into()),
        2 => Some("2600:1f18::17".into()),
        3 => Some(format!("10.000.0.{}", i % 7)),
        _ => Some(format!("10.0.{}.{}", i % 37, i % 3)),
    }
}

#[derive(Clone, Copy, Debug)]
enum Strings {
    Utf8,
    LargeUtf8,
    Utf8View,
    Dictionary,
}

fn strings(kind: Strings, values: Vec<Option<String>>) -> ArrayRef {
    match kind {
        Strings::Utf8 => Arc::new(StringArray::from(values)),
        Strings::LargeUtf8 => Arc::new(LargeStringArray::from(values)),
        Strings::Utf8View => Arc::new(StringViewArray::from(values)),
        Strings::Dictionary => Arc::new(
            values
                .iter()
                .map(|v| v.as_deref())
                .collect::<DictionaryArray<Int32Type>>(),
        ),
    }
}

/// An endpoint struct; every 50th row's whole struct is null.
fn endpoint(kind: Strings, wide_port: bool, offset: usize) -> ArrayRef {
    let uids = strings(kind, (0..ROWS).map(|i| uid(i + offset)).collect());
    let ips = strings(kind, (0..ROWS).map(|i| ip(i + offset)).collect());
    let port: ArrayRef = if wide_port {
        Arc::new(Int64Array::from_iter_values(
            (0..ROWS).map(|i| 1024 + i as i64),
        ))
    } else {
        Arc::new(Int32Array::from_iter_values(
            (0..ROWS).map(|i| 1024 + i as i32),
        ))
    };
    let fields = Fields::from(vec![
        Field::new("port", port.data_type().clone(), true),
        Field::new("ip", ips.data_type().clone(), true),
        Field::new("instance_uid", uids.data_type().clone(), true),
    ]);
    let nulls = NullBuffer::from_iter((0..ROWS).map(|i| i % 50 != 49));
    Arc::new(StructArray::new(fields, vec![port, ips, uids], Some(nulls)))
}

/// Route 53 answers as a three-level list of structs.
fn answers() -> ArrayRef {
    let fields = vec![
        Field::new("type", DataType::Utf8, true),
        Field::new("rdata", DataType::Utf8, true),
    ];
    let mut b = ListBuilder::new(StructBuilder::from_fields(fields, ROWS));
    for i in 0..ROWS {
        for (t, r) in [
            ("A", format!("52.0.{}.{}", i % 5, i % 3)),
            ("CNAME", "x.example.com".into()),
        ] {
            let s = b.values();
            s.field_builder::<StringBuilder>(0).unwrap().append_value(t);
            s.field_builder::<StringBuilder>(1).unwrap().append_value(r);
            s.append(true);
        }
        b.append(i % 4 != 0);
    }
    Arc::new(b.finish())
}

fn write(batch: &RecordBatch, props: WriterProperties) -> Bytes {
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    Bytes::from(out)
}

fn batch(kind: Strings, wide_port: bool) -> RecordBatch {
    let src = endpoint(kind, wide_port, 0);
    let dst = endpoint(kind, wide_port, 5);
    let ans = answers();
    let schema = Schema::new(vec![
        Field::new("src_endpoint", src.data_type().clone(), true),
        Field::new("dst_endpoint", dst.data_type().clone(), true),
        Field::new("answers", ans.data_type().clone(), true),
    ]);
    RecordBatch::try_new(Arc::new(schema), vec![src, dst, ans]).unwrap()
}

fn extract(data: Bytes, source: Source, pairing: Pairing) -> PairSet {
    let options = ExtractOptions {
        pairing,
        ..Default::default()
    };
    extract_bytes(data, &source, &options, &ReadOptions::default()).unwrap()
}

#[test]
fn every_encoding_gives_the_same_pairs() {
    let codecs = [
        Compression::UNCOMPRESSED,
        Compression::SNAPPY,
        Compression::ZSTD(ZstdLevel::default()),
        Compression::GZIP(GzipLevel::default()),
        Compression::LZ4_RAW,
        Compression::BROTLI(BrotliLevel::default()),
    ];
    let mut reference: Option<Vec<(Pairing, PairSet)>> = None;
    for kind in [
        Strings::Utf8,
        Strings::LargeUtf8,
        Strings::Utf8View,
        Strings::Dictionary,
    ] {
        for (n, codec) in codecs.iter().enumerate() {
            let dictionary = n % 2 == 0;
            let props = WriterProperties::builder()
                .set_compression(*codec)
                .set_dictionary_enabled(dictionary)
                .set_writer_version(if n % 3 == 0 {
                    WriterVersion::PARQUET_2_0
                } else {
                    WriterVersion::PARQUET_1_0
                })
                .set_statistics_enabled(EnabledStatistics::Page)
                .set_max_row_group_row_count(Some(700))
                .set_data_page_row_count_limit(128)
                .build();
            let data = write(&batch(kind, n % 2 == 1), props);
            let got: Vec<(Pairing, PairSet)> = [Pairing::Src, Pairing::Endpoint, Pairing::Peer]
                .into_iter()
                .map(|p| (p, extract(data.clone(), Source::VpcFlow, p)))
                .collect();
            match &reference {
                None => reference = Some(got),
                Some(r) => {
                    for ((p, a), (_, b)) in r.iter().zip(&got) {
                        assert_eq!(
                            a.pairs, b.pairs,
                            "{kind:?} {codec:?} dictionary={dictionary} {p}"
                        );
                        assert_eq!(a.stats.dropped, b.stats.dropped, "{kind:?} {codec:?} {p}");
                    }
                }
            }
        }
    }
    let reference = reference.unwrap();
    let src = &reference[0].1;
    assert_eq!(src.stats.rows, ROWS as u64);
    assert_eq!(src.stats.row_groups, 5);
    // Null structs and null leaves are `entity_null`; `-` sentinels, IPv6 and normalised
    // quads are all seen.
    for reason in [
        DropReason::EntityNull,
        DropReason::EntitySentinel,
        DropReason::IpNull,
        DropReason::IpSentinel,
        DropReason::Ipv6,
    ] {
        assert!(src.stats.dropped.get(reason) > 0, "{reason:?}");
    }
    assert!(src.stats.ipv4_normalized > 0);
    assert_eq!(
        src.stats.dropped.total() + src.stats.pairs_kept,
        src.stats.candidates
    );
    assert!(src.pairs.iter().all(|p| p.entity.starts_with("i-")));
}

#[test]
fn route53_peer_reads_three_level_answer_lists() {
    let data = write(
        &batch(Strings::Utf8, false),
        WriterProperties::builder().build(),
    );
    let set = extract(data, Source::Route53, Pairing::Peer);
    // A records only (CNAMEs are not addresses), rows with a null answers list give none.
    assert!(set.pairs.iter().all(|p| p.ip.octets()[0] == 52));
    assert!(!set.pairs.is_empty());
    let rows_with_answers = (0..ROWS).filter(|i| i % 4 != 0).count() as u64;
    assert_eq!(set.stats.candidates, rows_with_answers);
}
