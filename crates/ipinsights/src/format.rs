//! The model file: one [safetensors](https://github.com/huggingface/safetensors) file whose
//! `__metadata__` header carries JSON documents.
//!
//! # Format version 1
//!
//! Tensors (little-endian, row-major):
//!
//! | name | dtype | shape |
//! |---|---|---|
//! | `entity_embedding` | F32 | `[num_entity_vectors, vector_dim]` |
//! | `ip_prefix_<len>` (one per level, e.g. `ip_prefix_8`) | F32 | `[rows, vector_dim]` |
//! | `ip_layer_<l>.weight` (l = 0..num_ip_encoder_layers) | F32 | `[vector_dim, vector_dim]` (out × in) |
//! | `ip_layer_<l>.bias` | F32 | `[vector_dim]` |
//! | `seen_entities.utf8` | U8 | `[total bytes]`: the sorted entity strings, concatenated |
//! | `seen_entities.offsets` | U64 | `[n + 1]`: start of each string, then the total |
//! | `known_prefix_<len>` (optional, one per hashed level, e.g. `known_prefix_24`) | U32 | `[n]`: the prefix values trained, sorted and unique ([`crate::known`]) |
//!
//! `__metadata__` (string → string):
//!
//! | key | value |
//! |---|---|
//! | `format` | `ipinsights-rs` |
//! | `format_version` | `1` |
//! | `hyperparameters` | JSON object of SageMaker hyperparameters, values as strings |
//! | `architecture` | JSON: `vector_dim`, `num_entity_vectors`, `entity_hash_seed` (string), `ip_prefixes` (`levels`: `prefix_len`/`rows`; `seed` as a number), `num_ip_encoder_layers`, `activation` |
//! | `seen_entities` | number of seen entities |
//! | `training` | JSON training statistics ([`crate::train::TrainingStats`]) |
//! | `checksums` | JSON object: tensor name → 16 hex digits of [`crate::hash::checksum`] of its bytes |
//! | `created_by` | `ipinsights <crate version>` |
//!
//! The entity set is stored as tensors rather than in the JSON header because the header of a
//! safetensors file is limited to 100 MB and must be parsed as a whole.
//!
//! Loading checks the format name and version, the hyperparameters' ranges, that the
//! architecture agrees with them, that every tensor is present with its dtype and shape and
//! no other tensor is, the checksums, that every weight is finite, and that the entity set
//! is sorted, unique, valid UTF-8. The known-prefix tensors are all present (one per hashed
//! level) or all absent (files written before they were kept; every row is then used).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rayon::prelude::*;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::hash::checksum;
use crate::hyperparams::{HyperparameterError, Hyperparameters};
use crate::known::KnownPrefixes;
use crate::model::{Architecture, EntityIndex, Layer, Model, Params};
use crate::train::TrainingStats;

/// Value of the `format` metadata key.
pub const FORMAT_NAME: &str = "ipinsights-rs";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Why a model file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Reading or writing the file failed.
    #[error("model file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not a parseable safetensors file (truncated, garbage header, ...).
    #[error("not a valid safetensors file: {0}")]
    Safetensors(String),
    /// A safetensors file, but not an IP Insights model of a version this build reads.
    #[error("{0}")]
    NotAModel(String),
    /// A metadata entry is missing or malformed.
    #[error("metadata {key}: {reason}")]
    Metadata {
        /// The `__metadata__` key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The stored hyperparameters are invalid.
    #[error("stored hyperparameters: {0}")]
    Hyperparameters(#[from] HyperparameterError),
    /// A tensor is missing, extra, or has the wrong dtype or shape.
    #[error("tensor {name}: {reason}")]
    Tensor {
        /// Tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor's bytes do not match the stored checksum.
    #[error("tensor {0}: checksum mismatch (the file is corrupted)")]
    Checksum(String),
}

fn meta_err(key: &'static str, reason: impl ToString) -> FormatError {
    FormatError::Metadata {
        key,
        reason: reason.to_string(),
    }
}

fn tensor_err(name: &str, reason: impl ToString) -> FormatError {
    FormatError::Tensor {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

/// Little-endian bytes of f32s.
fn f32_bytes(v: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; v.len() * 4];
    out.par_chunks_mut(4 << 14)
        .zip(v.par_chunks(1 << 14))
        .for_each(|(o, v)| {
            for (o, x) in o.chunks_exact_mut(4).zip(v) {
                o.copy_from_slice(&x.to_le_bytes());
            }
        });
    out
}

fn f32_from(name: &str, t: &TensorView<'_>) -> Result<Vec<f32>, FormatError> {
    let b = t.data();
    let mut out = vec![0f32; b.len() / 4];
    out.par_chunks_mut(1 << 14)
        .zip(b.par_chunks(4 << 14))
        .for_each(|(o, b)| {
            for (o, x) in o.iter_mut().zip(b.chunks_exact(4)) {
                *o = f32::from_le_bytes([x[0], x[1], x[2], x[3]]);
            }
        });
    if out.par_iter().any(|x| !x.is_finite()) {
        return Err(tensor_err(name, "contains NaN or infinite values"));
    }
    Ok(out)
}

/// The tensors of a model, by name, as (dtype, shape, bytes).
fn tensors_of(model: &Model) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let d = model.arch.vector_dim;
    let p = &model.params;
    let mut out = vec![(
        "entity_embedding".to_string(),
        Dtype::F32,
        vec![model.arch.num_entity_vectors as usize, d],
        f32_bytes(&p.entity),
    )];
    for (lvl, t) in model.arch.ip_prefixes.levels.iter().zip(&p.tables) {
        out.push((
            format!("ip_prefix_{}", lvl.prefix_len),
            Dtype::F32,
            vec![lvl.rows as usize, d],
            f32_bytes(t),
        ));
    }
    for (l, layer) in p.layers.iter().enumerate() {
        out.push((
            format!("ip_layer_{l}.weight"),
            Dtype::F32,
            vec![d, d],
            f32_bytes(&layer.w),
        ));
        out.push((
            format!("ip_layer_{l}.bias"),
            Dtype::F32,
            vec![d],
            f32_bytes(&layer.b),
        ));
    }
    let e = &model.entities;
    out.push((
        "seen_entities.utf8".to_string(),
        Dtype::U8,
        vec![e.bytes.len()],
        e.bytes.clone(),
    ));
    out.push((
        "seen_entities.offsets".to_string(),
        Dtype::U64,
        vec![e.offsets.len()],
        e.offsets.iter().flat_map(|o| o.to_le_bytes()).collect(),
    ));
    if let Some(known) = &model.known {
        for (i, lvl) in model.arch.ip_prefixes.levels.iter().enumerate() {
            if let Some(v) = known.sorted(i) {
                out.push((
                    format!("known_prefix_{}", lvl.prefix_len),
                    Dtype::U32,
                    vec![v.len()],
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ));
            }
        }
    }
    out
}

/// Named tensors and the `__metadata__` map, ready to serialise.
type Prepared = (Vec<(String, Owned)>, HashMap<String, String>);

struct Owned {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl safetensors::View for &Owned {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

impl Model {
    fn prepared(&self) -> Result<Prepared, FormatError> {
        let tensors: Vec<(String, Owned)> = tensors_of(self)
            .into_iter()
            .map(|(n, dtype, shape, data)| (n, Owned { dtype, shape, data }))
            .collect();
        let sums: BTreeMap<&str, String> = tensors
            .par_iter()
            .map(|(n, t)| (n.as_str(), format!("{:016x}", checksum(&t.data))))
            .collect();
        let json =
            |key: &'static str, v: serde_json::Result<String>| v.map_err(|e| meta_err(key, e));
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT_NAME.to_string());
        meta.insert("format_version".to_string(), FORMAT_VERSION.to_string());
        meta.insert(
            "hyperparameters".to_string(),
            json(
                "hyperparameters",
                serde_json::to_string(&self.hyperparameters.to_map()),
            )?,
        );
        meta.insert(
            "architecture".to_string(),
            json("architecture", serde_json::to_string(&self.arch))?,
        );
        meta.insert("seen_entities".to_string(), self.entities.len().to_string());
        meta.insert(
            "training".to_string(),
            json("training", serde_json::to_string(&self.stats))?,
        );
        meta.insert(
            "checksums".to_string(),
            json("checksums", serde_json::to_string(&sums))?,
        );
        meta.insert(
            "created_by".to_string(),
            format!("ipinsights {}", env!("CARGO_PKG_VERSION")),
        );
        Ok((tensors, meta))
    }

    /// Serialises the model to the bytes of a model file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FormatError> {
        let (tensors, meta) = self.prepared()?;
        safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta))
            .map_err(|e| FormatError::Safetensors(e.to_string()))
    }

    /// Writes the model file (through a temporary file in the same directory, renamed into
    /// place, so that readers never see a partial file).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), FormatError> {
        let path = path.as_ref();
        let (tensors, meta) = self.prepared()?;
        safetensors::serialize_to_file(
            tensors.iter().map(|(n, t)| (n.as_str(), t)),
            Some(meta),
            path,
        )
        .map_err(|e| match e {
            safetensors::SafeTensorError::IoError(source) => FormatError::Io {
                path: path.display().to_string(),
                source,
            },
            other => FormatError::Safetensors(other.to_string()),
        })?;
        // The temporary file the writer renames into place is private (0600); a model is
        // not a secret and other users and services need to read it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(
                |source| FormatError::Io {
                    path: path.display().to_string(),
                    source,
                },
            )?;
        }
        Ok(())
    }

    /// Reads and validates a model file.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, FormatError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| FormatError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Parses and validates the bytes of a model file (e.g. fetched from S3).
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, FormatError> {
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| FormatError::Safetensors(e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| FormatError::Safetensors(e.to_string()))?;
        let meta = header.metadata().as_ref().ok_or_else(|| {
            FormatError::NotAModel("no __metadata__: not an ipinsights model".into())
        })?;
        let get = |key: &'static str| {
            meta.get(key)
                .map(String::as_str)
                .ok_or_else(|| meta_err(key, "missing"))
        };
        let format = get("format").map_err(|_| {
            FormatError::NotAModel("no `format` in __metadata__: not an ipinsights model".into())
        })?;
        if format != FORMAT_NAME {
            return Err(FormatError::NotAModel(format!(
                "format is {format:?}, expected {FORMAT_NAME:?}"
            )));
        }
        let version: u32 = get("format_version")?
            .parse()
            .map_err(|e| meta_err("format_version", e))?;
        if version != FORMAT_VERSION {
            return Err(FormatError::NotAModel(format!(
                "format version {version} is not supported (this build reads version {FORMAT_VERSION})"
            )));
        }
        let hp_map: BTreeMap<String, String> = serde_json::from_str(get("hyperparameters")?)
            .map_err(|e| meta_err("hyperparameters", e))?;
        let hp = Hyperparameters::from_map(&hp_map)?;
        let arch: Architecture =
            serde_json::from_str(get("architecture")?).map_err(|e| meta_err("architecture", e))?;
        let stats: TrainingStats =
            serde_json::from_str(get("training")?).map_err(|e| meta_err("training", e))?;
        let sums: BTreeMap<String, String> =
            serde_json::from_str(get("checksums")?).map_err(|e| meta_err("checksums", e))?;
        let n_seen: usize = get("seen_entities")?
            .parse()
            .map_err(|e| meta_err("seen_entities", e))?;

        // The architecture must agree with the hyperparameters.
        if arch.vector_dim != hp.vector_dim as usize
            || arch.num_entity_vectors != hp.num_entity_vectors
            || arch.num_ip_encoder_layers != hp.num_ip_encoder_layers as usize
        {
            return Err(meta_err(
                "architecture",
                "vector_dim, num_entity_vectors or num_ip_encoder_layers disagree with the hyperparameters",
            ));
        }
        if arch.activation != "relu" {
            return Err(meta_err(
                "architecture",
                format!("unknown activation {:?}", arch.activation),
            ));
        }
        arch.ip_prefixes
            .validate()
            .map_err(|e| meta_err("architecture", e))?;

        // The exact set of tensors, with dtypes and shapes.
        let d = arch.vector_dim;
        let mut expected: Vec<(String, Dtype, Option<Vec<usize>>)> = vec![(
            "entity_embedding".into(),
            Dtype::F32,
            Some(vec![arch.num_entity_vectors as usize, d]),
        )];
        for l in &arch.ip_prefixes.levels {
            expected.push((
                format!("ip_prefix_{}", l.prefix_len),
                Dtype::F32,
                Some(vec![l.rows as usize, d]),
            ));
        }
        for l in 0..arch.num_ip_encoder_layers {
            expected.push((format!("ip_layer_{l}.weight"), Dtype::F32, Some(vec![d, d])));
            expected.push((format!("ip_layer_{l}.bias"), Dtype::F32, Some(vec![d])));
        }
        expected.push(("seen_entities.utf8".into(), Dtype::U8, None));
        expected.push((
            "seen_entities.offsets".into(),
            Dtype::U64,
            Some(vec![n_seen + 1]),
        ));
        // The known prefixes: one tensor per hashed level, or none at all.
        let known_names: Vec<String> = arch
            .ip_prefixes
            .levels
            .iter()
            .filter(|l| !l.is_direct())
            .map(|l| format!("known_prefix_{}", l.prefix_len))
            .collect();
        let names = st.names();
        let has_known = known_names
            .iter()
            .filter(|n| names.iter().any(|m| m == n))
            .count();
        if has_known > 0 {
            if let Some(absent) = known_names.iter().find(|n| !names.iter().any(|m| m == *n)) {
                return Err(tensor_err(
                    absent,
                    "missing: every hashed level has a known_prefix tensor, or none does",
                ));
            }
            for n in &known_names {
                expected.push((n.clone(), Dtype::U32, None));
            }
        }
        if let Some(extra) = names
            .iter()
            .find(|n| !expected.iter().any(|(e, _, _)| e == *n))
        {
            return Err(tensor_err(extra, "unexpected tensor"));
        }
        let mut views: HashMap<String, TensorView<'_>> = HashMap::new();
        for (name, dtype, shape) in &expected {
            let t = st.tensor(name).map_err(|_| tensor_err(name, "missing"))?;
            if t.dtype() != *dtype {
                return Err(tensor_err(
                    name,
                    format!("dtype {:?}, expected {dtype:?}", t.dtype()),
                ));
            }
            match shape {
                Some(s) if t.shape() != s.as_slice() => {
                    return Err(tensor_err(
                        name,
                        format!("shape {:?}, expected {s:?}", t.shape()),
                    ));
                }
                None if t.shape().len() != 1 => {
                    return Err(tensor_err(
                        name,
                        format!("shape {:?}, expected 1-D", t.shape()),
                    ));
                }
                _ => {}
            }
            if !sums.contains_key(name) {
                return Err(meta_err("checksums", format!("no checksum for {name}")));
            }
            views.insert(name.clone(), t);
        }
        // Checksums, in parallel over tensors.
        views.par_iter().try_for_each(|(name, t)| {
            let got = format!("{:016x}", checksum(t.data()));
            if sums.get(name) == Some(&got) {
                Ok(())
            } else {
                Err(FormatError::Checksum(name.clone()))
            }
        })?;

        let take = |name: &str| -> Result<Vec<f32>, FormatError> {
            let t = views.get(name).ok_or_else(|| tensor_err(name, "missing"))?;
            f32_from(name, t)
        };
        let entity = take("entity_embedding")?;
        let tables = arch
            .ip_prefixes
            .levels
            .iter()
            .map(|l| take(&format!("ip_prefix_{}", l.prefix_len)))
            .collect::<Result<Vec<_>, _>>()?;
        let layers = (0..arch.num_ip_encoder_layers)
            .map(|l| {
                Ok(Layer {
                    w: take(&format!("ip_layer_{l}.weight"))?,
                    b: take(&format!("ip_layer_{l}.bias"))?,
                })
            })
            .collect::<Result<Vec<_>, FormatError>>()?;

        // The entity set.
        let utf8 = views
            .get("seen_entities.utf8")
            .map(|t| t.data().to_vec())
            .unwrap_or_default();
        let offsets: Vec<u64> = views
            .get("seen_entities.offsets")
            .map(|t| {
                t.data()
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect()
            })
            .unwrap_or_default();
        let bad = |reason: &str| tensor_err("seen_entities.offsets", reason);
        if offsets.first() != Some(&0) || offsets.last() != Some(&(utf8.len() as u64)) {
            return Err(bad("offsets must start at 0 and end at the byte length"));
        }
        let mut prev: Option<&[u8]> = None;
        for w in offsets.windows(2) {
            if w[0] > w[1] {
                return Err(bad("offsets are not increasing"));
            }
            let s = &utf8[w[0] as usize..w[1] as usize];
            if std::str::from_utf8(s).is_err() {
                return Err(tensor_err(
                    "seen_entities.utf8",
                    "an entity is not valid UTF-8",
                ));
            }
            if prev.is_some_and(|p| p >= s) {
                return Err(tensor_err(
                    "seen_entities.utf8",
                    "entities are not sorted and unique",
                ));
            }
            prev = Some(s);
        }
        let known = if has_known > 0 {
            let mut lists = Vec::with_capacity(arch.ip_prefixes.levels.len());
            for l in &arch.ip_prefixes.levels {
                if l.is_direct() {
                    lists.push(None);
                    continue;
                }
                let name = format!("known_prefix_{}", l.prefix_len);
                let v: Vec<u32> = views
                    .get(&name)
                    .map(|t| {
                        t.data()
                            .chunks_exact(4)
                            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect()
                    })
                    .unwrap_or_default();
                let limit = if l.prefix_len >= 32 {
                    u64::MAX
                } else {
                    1u64 << l.prefix_len
                };
                if v.windows(2).any(|w| w[0] >= w[1])
                    || v.last().is_some_and(|&x| u64::from(x) >= limit)
                {
                    return Err(tensor_err(
                        &name,
                        format!(
                            "prefixes must be sorted, unique and below 2^{}",
                            l.prefix_len
                        ),
                    ));
                }
                lists.push(Some(v));
            }
            Some(KnownPrefixes::from_lists(&arch.ip_prefixes, lists))
        } else {
            None
        };
        let index = EntityIndex::from_parts(utf8, offsets, arch.entity_hash_seed);
        let params = Params {
            entity,
            tables,
            layers,
        };
        let model = Model::from_parts(hp, arch, params, index, stats);
        Ok(match known {
            Some(k) => model.with_known_prefixes(k),
            None => model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::tiny_model;
    use std::net::Ipv4Addr;

    fn probe(m: &Model) -> Vec<crate::model::Score> {
        m.score_pairs(&[
            ("user_1", Ipv4Addr::new(10, 1, 0, 9)),
            ("user_1", Ipv4Addr::new(200, 1, 0, 9)),
            ("nobody", Ipv4Addr::new(10, 1, 0, 9)),
        ])
    }

    /// Rebuilds `bytes` with one metadata entry replaced.
    fn with_meta(bytes: &[u8], key: &str, value: &str) -> Vec<u8> {
        let st = SafeTensors::deserialize(bytes).unwrap();
        let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
        let mut meta = header.metadata().clone().unwrap();
        meta.insert(key.to_string(), value.to_string());
        let tensors = st.tensors();
        safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta)).unwrap()
    }

    #[test]
    fn known_prefixes_round_trip_all_or_none() {
        let m = tiny_model(1);
        let back = Model::from_bytes(&m.to_bytes().unwrap()).unwrap();
        assert!(m.known_prefixes().is_some());
        assert_eq!(back.known_prefixes(), m.known_prefixes());
        // Rewrites the file with the named tensors left out (checksums kept).
        let without = |drop: &[&str]| -> Vec<u8> {
            let (tensors, meta) = m.prepared().unwrap();
            safetensors::serialize(
                tensors
                    .iter()
                    .filter(|(n, _)| !drop.contains(&n.as_str()))
                    .map(|(n, t)| (n.as_str(), t)),
                Some(meta),
            )
            .unwrap()
        };
        let partial = Model::from_bytes(&without(&["known_prefix_32"])).unwrap_err();
        assert!(partial.to_string().contains("known_prefix"), "{partial}");
        // A file written before they were kept loads, and uses every row.
        let old = Model::from_bytes(&without(&["known_prefix_24", "known_prefix_32"])).unwrap();
        assert!(old.known_prefixes().is_none());
        assert_eq!(old.params, m.params);
    }

    #[test]
    fn save_load_round_trip() {
        for k in [0, 1, 2] {
            let m = tiny_model(k);
            let bytes = m.to_bytes().unwrap();
            let back = Model::from_bytes(&bytes).unwrap();
            assert_eq!(back.params, m.params);
            assert_eq!(back.arch, m.arch);
            assert_eq!(back.hyperparameters(), m.hyperparameters());
            assert_eq!(back.training_stats(), m.training_stats());
            assert!(back.seen_entities().eq(m.seen_entities()));
            assert_eq!(probe(&back), probe(&m));
            // The tensor bytes are deterministic (the header's key order is not).
            let again = back.to_bytes().unwrap();
            assert!(again.len() == bytes.len() && again.ends_with(&bytes[bytes.len() - 4096..]));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let m = tiny_model(1);
        m.save(&path).unwrap();
        let back = Model::load(&path).unwrap();
        assert_eq!(probe(&back), probe(&m));
        assert!(matches!(
            Model::load(dir.path().join("missing")),
            Err(FormatError::Io { .. })
        ));
    }

    #[test]
    fn corrupted_files_are_rejected() {
        let m = tiny_model(1);
        let bytes = m.to_bytes().unwrap();
        // A flipped bit in the tensor data.
        let mut flipped = bytes.clone();
        let n = flipped.len();
        flipped[n - 100] ^= 0x10;
        assert!(matches!(
            Model::from_bytes(&flipped),
            Err(FormatError::Checksum(_))
        ));
        // Truncated.
        assert!(matches!(
            Model::from_bytes(&bytes[..n - 1]),
            Err(FormatError::Safetensors(_))
        ));
        assert!(matches!(
            Model::from_bytes(&bytes[..5]),
            Err(FormatError::Safetensors(_))
        ));
        assert!(matches!(
            Model::from_bytes(b""),
            Err(FormatError::Safetensors(_))
        ));
        // A damaged header.
        let mut header = bytes.clone();
        header[12] = b'#';
        assert!(Model::from_bytes(&header).is_err());
        // Not ours, or from the future.
        assert!(matches!(
            Model::from_bytes(&with_meta(&bytes, "format", "something-else")),
            Err(FormatError::NotAModel(_))
        ));
        let e = Model::from_bytes(&with_meta(&bytes, "format_version", "2")).unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
        // Invalid hyperparameters.
        let mut hp = m.hyperparameters().to_map();
        hp.insert("shuffled_negative_sampling_rate".into(), "500".into());
        let hp = serde_json::to_string(&hp).unwrap();
        assert!(matches!(
            Model::from_bytes(&with_meta(&bytes, "hyperparameters", &hp)),
            Err(FormatError::Hyperparameters(_))
        ));
        // Hyperparameters that disagree with the tensors.
        let mut hp = m.hyperparameters().to_map();
        hp.insert("vector_dim".into(), "16".into());
        let hp = serde_json::to_string(&hp).unwrap();
        assert!(matches!(
            Model::from_bytes(&with_meta(&bytes, "hyperparameters", &hp)),
            Err(FormatError::Metadata {
                key: "architecture",
                ..
            })
        ));
        // A wrong checksum entry.
        assert!(Model::from_bytes(&with_meta(&bytes, "checksums", "{}")).is_err());
        // Non-finite weights, even with matching checksums.
        let mut bad = tiny_model(1);
        bad.params.tables[1][3] = f32::NAN;
        let e = Model::from_bytes(&bad.to_bytes().unwrap()).unwrap_err();
        assert!(
            matches!(&e, FormatError::Tensor { name, .. } if name == "ip_prefix_16"),
            "{e}"
        );
        // A plain safetensors file without our metadata.
        let plain = safetensors::serialize(
            [("x", TensorView::new(Dtype::U8, vec![1], &[0u8]).unwrap())],
            None,
        )
        .unwrap();
        assert!(matches!(
            Model::from_bytes(&plain),
            Err(FormatError::NotAModel(_))
        ));
    }
}
