//! The physical parquet schemas Security Lake writes, and writer properties that make our files
//! look like parquet-mr 1.10 output (Avro writer model).
//!
//! Source version 1.0 (OCSF 1.0.0-rc.2) is copied field for field from AWS's own sample objects
//! (`shared/fixtures/security-lake-samples/SCHEMAS.txt`). Source version 2.0 (OCSF 1.1.0) is
//! reconstructed from the Glue table descriptions and the OCSF 1.1.0 EKS sample: `cloud.account.uid`,
//! `time_dt` (and `start_time_dt`/`end_time_dt` for VPC Flow) as TIMESTAMP_MILLIS, `action`/
//! `action_id`, `type_uid` int64, `observables`; endpoints unchanged.

use std::sync::Arc;

use parquet::basic::{ConvertedType, Type as PhysicalType};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::{Type, TypePtr};

use super::{Codec, SimError};
use crate::{Source, SourceVersion};

/// What parquet-mr 1.10 writes, with a build tag that says who really wrote the file.
pub(crate) const CREATED_BY: &str = "parquet-mr version 1.10.0 (build seclake-simulate)";

const METADATA: &str = "
  required group metadata {
    required group product {
      required binary version (UTF8);
      required binary name (UTF8);
      required group feature {
        required binary name (UTF8);
      }
      required binary vendor_name (UTF8);
    }
    optional group profiles (LIST) {
      repeated binary array (UTF8);
    }
    required binary version (UTF8);
  }";

const UNMAPPED: &str = "
  optional group unmapped (MAP) {
    repeated group map (MAP_KEY_VALUE) {
      required binary key (UTF8);
      required binary value (UTF8);
    }
  }";

const OBSERVABLES: &str = "
  optional group observables (LIST) {
    repeated group array {
      optional binary name (UTF8);
      optional binary value (UTF8);
      optional binary type (UTF8);
      optional int32 type_id;
    }
  }";

fn vpc_endpoint(name: &str) -> String {
    format!(
        "
  required group {name} {{
    optional int32 port;
    optional binary svc_name (UTF8);
    optional binary ip (UTF8);
    optional group intermediate_ips (LIST) {{
      repeated binary array (UTF8);
    }}
    optional binary interface_uid (UTF8);
    optional binary vpc_uid (UTF8);
    optional binary instance_uid (UTF8);
    optional binary subnet_uid (UTF8);
  }}"
    )
}

fn account_field(version: SourceVersion) -> &'static str {
    match version {
        SourceVersion::V1 => {
            "
    optional binary account_uid (UTF8);"
        }
        SourceVersion::V2 => {
            "
    optional group account {
      optional binary uid (UTF8);
    }"
        }
    }
}

fn type_uid_type(version: SourceVersion) -> &'static str {
    match version {
        SourceVersion::V1 => "int32",
        SourceVersion::V2 => "int64",
    }
}

/// The message type text of a (source, version) in parquet's schema language.
pub(crate) fn message_text(source: &Source, version: SourceVersion) -> Result<String, SimError> {
    let v2 = version == SourceVersion::V2;
    let mut s = String::with_capacity(4096);
    match source {
        Source::VpcFlow => {
            s.push_str("message network_activity {");
            s.push_str(METADATA);
            s.push_str("\n  required group cloud {");
            s.push_str(account_field(version));
            s.push_str(
                "
    optional binary region (UTF8);
    optional binary zone (UTF8);
    required binary provider (UTF8);
  }",
            );
            s.push_str(&vpc_endpoint("src_endpoint"));
            s.push_str(&vpc_endpoint("dst_endpoint"));
            s.push_str(
                "
  required group connection_info {
    optional int32 protocol_num;
    optional int32 tcp_flags;
    optional binary protocol_ver (UTF8);
    optional int32 boundary_id;
    optional binary boundary (UTF8);
    optional int32 direction_id;
    optional binary direction (UTF8);
  }
  required group traffic {
    optional int64 packets;
    optional int64 bytes;
  }
  required int64 time;",
            );
            if v2 {
                s.push_str(
                    "
  optional int64 time_dt (TIMESTAMP_MILLIS);
  optional int64 start_time_dt (TIMESTAMP_MILLIS);
  optional int64 end_time_dt (TIMESTAMP_MILLIS);",
                );
            } else {
                s.push_str(
                    "
  optional int64 start_time;
  optional int64 end_time;",
                );
            }
            s.push_str(
                "
  optional binary status_code (UTF8);
  required int32 severity_id;
  required binary severity (UTF8);
  required binary class_name (UTF8);
  required int32 class_uid;
  required binary category_name (UTF8);
  required int32 category_uid;
  required binary activity_name (UTF8);
  required int32 activity_id;",
            );
            if v2 {
                s.push_str(
                    "
  optional binary action (UTF8);
  optional int32 action_id;",
                );
            }
            s.push_str(&format!(
                "
  required binary disposition (UTF8);
  required int32 disposition_id;
  required {} type_uid;
  required binary type_name (UTF8);",
                type_uid_type(version)
            ));
        }
        Source::Route53 => {
            s.push_str("message dns_activity {");
            s.push_str(METADATA);
            s.push_str("\n  required group cloud {");
            s.push_str(account_field(version));
            s.push_str(
                "
    optional binary region (UTF8);
    required binary provider (UTF8);
  }
  required group src_endpoint {
    optional binary vpc_uid (UTF8);
    optional binary ip (UTF8);
    optional int32 port;
    optional binary instance_uid (UTF8);
  }
  required int64 time;",
            );
            if v2 {
                s.push_str(
                    "
  optional int64 time_dt (TIMESTAMP_MILLIS);",
                );
            }
            s.push_str(&format!(
                "
  required group query {{
    optional binary hostname (UTF8);
    optional binary type (UTF8);
    optional binary class (UTF8);
  }}
  optional group answers (LIST) {{
    repeated group array {{
      optional binary type (UTF8);
      optional binary rdata (UTF8);
      optional binary class (UTF8);
    }}
  }}
  required group connection_info {{
    optional binary protocol_name (UTF8);
    required binary direction (UTF8);
    required int32 direction_id;
  }}
  required group dst_endpoint {{
    optional binary instance_uid (UTF8);
    optional binary interface_uid (UTF8);
  }}
  required int32 severity_id;
  required binary severity (UTF8);
  required binary class_name (UTF8);
  required int32 class_uid;
  required binary category_name (UTF8);
  required int32 category_uid;
  optional int32 rcode_id;
  optional binary rcode (UTF8);
  required int32 activity_id;
  required binary activity_name (UTF8);
  required binary type_name (UTF8);
  required {} type_uid;",
                type_uid_type(version)
            ));
            if v2 {
                s.push_str(
                    "
  optional binary action (UTF8);
  optional int32 action_id;",
                );
            }
            s.push_str(
                "
  required binary disposition (UTF8);
  required int32 disposition_id;",
            );
            if v2 {
                s.push_str(
                    "
  optional group firewall_rule {
    optional binary uid (UTF8);
  }",
                );
            }
        }
        other => return Err(SimError::UnsupportedSource(other.to_string())),
    }
    s.push_str(UNMAPPED);
    if v2 {
        s.push_str(OBSERVABLES);
    }
    s.push_str("\n}\n");
    Ok(s)
}

/// The parsed schema with only *converted* type annotations: parquet-mr 1.10 predates the
/// LogicalType union, and the schema parser turns `(LIST)`/`(MAP)` into logical types.
pub(crate) fn schema(source: &Source, version: SourceVersion) -> Result<TypePtr, SimError> {
    let text = message_text(source, version)?;
    let parsed = parse_message_type(&text)?;
    Ok(Arc::new(strip_logical(&parsed)?))
}

fn strip_logical(t: &Type) -> Result<Type, SimError> {
    let info = t.get_basic_info();
    let built = match t {
        Type::PrimitiveType {
            physical_type,
            type_length,
            scale,
            precision,
            ..
        } => {
            let mut b = Type::primitive_type_builder(info.name(), *physical_type)
                .with_converted_type(info.converted_type())
                .with_length(*type_length)
                .with_scale(*scale)
                .with_precision(*precision);
            if info.has_repetition() {
                b = b.with_repetition(info.repetition());
            }
            b.build()?
        }
        Type::GroupType { fields, .. } => {
            let fields = fields
                .iter()
                .map(|f| strip_logical(f).map(Arc::new))
                .collect::<Result<Vec<_>, _>>()?;
            let mut b = Type::group_type_builder(info.name())
                .with_converted_type(info.converted_type())
                .with_fields(fields);
            if info.has_repetition() {
                b = b.with_repetition(info.repetition());
            }
            b.build()?
        }
    };
    Ok(built)
}

/// The `parquet.avro.schema` value parquet-avro stores: the Avro record the rows were written as.
/// Naming follows AWS's files (`metadataproduct_record`, list items named after the list, the
/// OCSF version as a record property, the field-level `logicalType` on v1 times).
pub(crate) fn avro_schema(root: &Type, version: SourceVersion) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str(r#"{"type":"record","name":""#);
    out.push_str(root.name());
    out.push_str(r#"","fields":"#);
    avro_fields(root.get_fields(), "", version, &mut out);
    out.push_str(r#","version":""#);
    out.push_str(version.ocsf_version());
    out.push_str("\"}");
    out
}

fn avro_fields(fields: &[TypePtr], prefix: &str, version: SourceVersion, out: &mut String) {
    out.push('[');
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let info = f.get_basic_info();
        let optional = info.repetition() == parquet::basic::Repetition::OPTIONAL;
        out.push_str(r#"{"name":""#);
        out.push_str(f.name());
        out.push_str(r#"","type":"#);
        let v1_time = version == SourceVersion::V1
            && prefix.is_empty()
            && matches!(f.name(), "time" | "start_time" | "end_time");
        let inner = avro_type(f, prefix, version);
        if optional {
            out.push_str(r#"["null","#);
            out.push_str(&inner);
            out.push(']');
        } else {
            out.push_str(&inner);
        }
        // AWS's v1 record lists (Route 53 `answers`) carry no default.
        let v1_record_list = version == SourceVersion::V1
            && info.converted_type() == ConvertedType::LIST
            && f.get_fields()
                .first()
                .is_some_and(|item| !item.is_primitive());
        if v1_time {
            // AWS's v1 writer put logicalType next to the field, where Avro ignores it.
            out.push_str(r#","logicalType":"timestamp-millis""#);
        } else if optional && !v1_record_list {
            out.push_str(r#","default":null"#);
        }
        out.push('}');
    }
    out.push(']');
}

fn avro_type(f: &Type, prefix: &str, version: SourceVersion) -> String {
    let info = f.get_basic_info();
    match f {
        Type::PrimitiveType { physical_type, .. } => {
            let base = match physical_type {
                PhysicalType::INT32 => "\"int\"",
                PhysicalType::INT64 => "\"long\"",
                PhysicalType::FLOAT => "\"float\"",
                PhysicalType::DOUBLE => "\"double\"",
                PhysicalType::BOOLEAN => "\"boolean\"",
                _ if info.converted_type() == ConvertedType::UTF8 => "\"string\"",
                _ => "\"bytes\"",
            };
            if info.converted_type() == ConvertedType::TIMESTAMP_MILLIS {
                r#"{"type":"long","logicalType":"timestamp-millis"}"#.to_string()
            } else {
                base.to_string()
            }
        }
        Type::GroupType { fields, .. } => match info.converted_type() {
            ConvertedType::LIST => {
                let item = &fields[0];
                let items = if item.is_primitive() {
                    avro_type(item, prefix, version)
                } else {
                    let name = format!("{prefix}{}", f.name());
                    let mut s = format!(r#"{{"type":"record","name":"{name}","fields":"#);
                    avro_fields(item.get_fields(), &name, version, &mut s);
                    s.push('}');
                    s
                };
                format!(r#"{{"type":"array","items":{items}}}"#)
            }
            ConvertedType::MAP => r#"{"type":"map","values":"string","default":null}"#.to_string(),
            _ => {
                let path = format!("{prefix}{}", f.name());
                let mut s = format!(r#"{{"type":"record","name":"{path}_record","fields":"#);
                avro_fields(fields, &path, version, &mut s);
                s.push('}');
                s
            }
        },
    }
}

/// Writer properties close to parquet-mr 1.10 with the Avro model: data page v1, dictionary on,
/// chunk-level statistics, no page index (parquet-mr 1.11 introduced it), `writer.model.name`.
pub(crate) fn writer_properties(
    root: &Type,
    version: SourceVersion,
    codec: Codec,
) -> Arc<WriterProperties> {
    let kv = vec![
        KeyValue::new(
            "parquet.avro.schema".to_string(),
            avro_schema(root, version),
        ),
        KeyValue::new("writer.model.name".to_string(), "avro".to_string()),
    ];
    Arc::new(
        WriterProperties::builder()
            .set_writer_version(WriterVersion::PARQUET_1_0)
            .set_created_by(CREATED_BY.to_string())
            .set_key_value_metadata(Some(kv))
            .set_compression(codec.to_parquet())
            .set_dictionary_enabled(true)
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_offset_index_disabled(true)
            .build(),
    )
}
