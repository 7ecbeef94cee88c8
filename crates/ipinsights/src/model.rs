//! The IP Insights model and in-process scoring.
//!
//! # The network
//!
//! - **Entity path.** `u = E[row(entity)]`, where `row` is the seeded FNV-1a hash of the
//!   entity's UTF-8 bytes reduced to `num_entity_vectors` rows ([`crate::hash::entity_row`]).
//! - **IP path.** `h₀ = Σ_levels T_level[row_level(ip)]` (the prefix tables of
//!   [`crate::ip`]), then `num_ip_encoder_layers` fully connected layers of width
//!   `vector_dim`, each applied to the ReLU of the previous value:
//!   `h_l = W_l·relu(h_{l−1}) + b_l`. The address embedding is `v = h_k` (with zero layers,
//!   `v = h₀`). The last layer is linear so that scores are unbounded.
//! - **Score.** `dot_product = u·v`, the log-odds that the pair is real rather than a
//!   negative sample.
//!
//! # Why scoring is cheap
//!
//! `u·(W_k·z + b_k) = (W_kᵀu)·z + u·b_k`. The model computes `W_kᵀu` and `u·b_k` once per
//! seen entity when it is built, so scoring a pair with the default single layer costs one
//! hash lookup, four row reads and one 128-long dot product. Entities that were not seen in
//! training are folded on the fly with the same arithmetic, so the result is identical
//! (their scores are meaningless anyway; see [`Score::entity_seen`]).

use std::collections::HashMap;
use std::net::Ipv4Addr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::hash::{fnv1a64, mix64, reduce};
use crate::hyperparams::Hyperparameters;
use crate::ip::{PrefixEncoding, row_of};
use crate::known::KnownPrefixes;
use crate::linalg::{self, LANES, multiversion, reduce_lanes, relu};
use crate::train::TrainingStats;

/// The score of one (entity, address) pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// `u·v`: the log-odds that the pair is normal. Low (negative) means anomalous. Computed
    /// in f32 and widened exactly, as SageMaker returns it.
    pub dot_product: f64,
    /// Whether the entity occurred in the training data. When `false` the entity's row was
    /// never trained (or belongs to other entities that collide with it) and `dot_product`
    /// is meaningless: report such pairs as unseen, not as normal or anomalous.
    pub entity_seen: bool,
}

/// The shape of the network, stored in the model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// Embedding width (`vector_dim`).
    pub vector_dim: usize,
    /// Rows of the entity table (`num_entity_vectors`).
    pub num_entity_vectors: u64,
    /// Seed of the entity hash.
    #[serde(with = "u64_string")]
    pub entity_hash_seed: u64,
    /// Prefix levels of the IP encoder.
    pub ip_prefixes: PrefixEncoding,
    /// Fully connected layers after the prefix sum (`num_ip_encoder_layers`).
    pub num_ip_encoder_layers: usize,
    /// Activation applied to the input of every fully connected layer. Always `"relu"`.
    pub activation: String,
}

/// Serialises u64 seeds as strings, because JSON readers often parse numbers as f64.
pub(crate) mod u64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One fully connected layer, `W` stored `[out][in]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layer {
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

/// All trainable tensors.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Params {
    /// `num_entity_vectors × d`.
    pub entity: Vec<f32>,
    /// One `rows × d` table per prefix level.
    pub tables: Vec<Vec<f32>>,
    /// `num_ip_encoder_layers` layers.
    pub layers: Vec<Layer>,
}

/// Read-only view of a network, shared by the model and the trainer's evaluation.
pub(crate) struct Net<'a> {
    pub arch: &'a Architecture,
    pub params: &'a Params,
    /// Transposes of every layer's `W` ([`transposes`]), for row-vector products.
    pub wt: &'a [Vec<f32>],
    /// The trained prefixes of the hashed levels; rows of the others are left out of `h₀`.
    pub known: Option<&'a KnownPrefixes>,
}

/// Transposes of every layer's `W`.
pub(crate) fn transposes(arch: &Architecture, params: &Params) -> Vec<Vec<f32>> {
    let d = arch.vector_dim;
    params
        .layers
        .iter()
        .map(|l| linalg::transpose(d, d, &l.w))
        .collect()
}

impl<'a> Net<'a> {
    pub fn d(&self) -> usize {
        self.arch.vector_dim
    }

    pub fn entity_row_of_hash(&self, h: u64) -> usize {
        reduce(mix64(h), self.arch.num_entity_vectors) as usize
    }

    pub fn entity_vec(&self, row: usize) -> &'a [f32] {
        let d = self.d();
        &self.params.entity[row * d..(row + 1) * d]
    }

    /// `W_kᵀu` and `u·b_k` for each row (the identity fold without layers).
    pub fn fold_rows(&self, rows: &[u32]) -> (Vec<f32>, Vec<f32>) {
        let d = self.d();
        let mut u = vec![0f32; rows.len() * d];
        u.par_chunks_mut(d)
            .zip(rows.par_iter())
            .for_each(|(dst, &r)| dst.copy_from_slice(self.entity_vec(r as usize)));
        match self.params.layers.last() {
            None => (u, vec![0.0; rows.len()]),
            Some(last) => {
                let mut f = vec![0f32; rows.len() * d];
                linalg::par_gemm(rows.len(), d, d, &u, &last.w, &mut f, false);
                let c = u.par_chunks(d).map(|ui| linalg::dot(ui, &last.b)).collect();
                (f, c)
            }
        }
    }

    /// The rows of `ip` that make up `h₀` (those of untrained hashed prefixes left out) into
    /// `refs`; returns how many.
    #[inline(always)]
    fn prefix_rows(&self, ip: u32, refs: &mut [&'a [f32]; 32]) -> usize {
        let d = self.d();
        let enc = &self.arch.ip_prefixes;
        let used = self.known.map_or(u32::MAX, |k| k.used_levels(ip));
        let mut m = 0;
        for (l, lvl) in enc.levels.iter().enumerate() {
            if used >> l & 1 == 0 {
                continue;
            }
            let r = row_of(*lvl, enc.seed, ip) as usize;
            refs[m] = &self.params.tables[l][r * d..(r + 1) * d];
            m += 1;
        }
        m
    }

    /// `h₀`, the sum of the prefix rows.
    pub fn base(&self, ip: u32, out: &mut [f32]) {
        let mut refs: [&[f32]; 32] = [&[]; 32];
        let m = self.prefix_rows(ip, &mut refs);
        linalg::sum_rows_body(out, &refs[..m]);
    }

    /// Applies hidden layer `l` (0-based) to `h` in place: `h ← W_l·relu(h) + b_l`.
    pub fn apply_layer(&self, l: usize, h: &mut [f32], scratch: &mut [f32]) {
        let d = self.d();
        for (s, x) in scratch.iter_mut().zip(h.iter()) {
            *s = relu(*x);
        }
        linalg::gemm(1, d, d, scratch, &self.wt[l], h, false);
        for (x, b) in h.iter_mut().zip(&self.params.layers[l].b) {
            *x += b;
        }
    }

    /// The input of the dot product against a folded entity: `relu(h_{k−1})`, or `h₀`
    /// without layers.
    pub fn z(&self, ip: u32, out: &mut [f32], scratch: &mut [f32]) {
        self.base(ip, out);
        let k = self.params.layers.len();
        if k == 0 {
            return;
        }
        for l in 0..k - 1 {
            self.apply_layer(l, out, scratch);
        }
        for x in out.iter_mut() {
            *x = relu(*x);
        }
    }

    /// The address embedding `v = h_k`.
    pub fn ip_embedding(&self, ip: u32) -> Vec<f32> {
        let d = self.d();
        let mut h = vec![0f32; d];
        let mut s = vec![0f32; d];
        self.base(ip, &mut h);
        for l in 0..self.params.layers.len() {
            self.apply_layer(l, &mut h, &mut s);
        }
        h
    }

    /// Score of `ip` against a folded entity (`f = W_kᵀu`, `c = u·b_k`).
    #[inline(always)]
    pub fn score_folded_body(
        &self,
        f: &[f32],
        c: f32,
        ip: u32,
        z: &mut [f32],
        s: &mut [f32],
    ) -> f32 {
        match self.params.layers.len() {
            0 | 1 => {
                // The common case, fused: no intermediate vector.
                let mut refs: [&[f32]; 32] = [&[]; 32];
                let m = self.prefix_rows(ip, &mut refs);
                let use_relu = !self.params.layers.is_empty();
                fused_dot(f, &refs[..m], use_relu) + c
            }
            _ => {
                self.z(ip, z, s);
                linalg::dot_body(f, z) + c
            }
        }
    }
}

/// `Σ f[i]·act(Σ_l rows[l][i])` with the lane layout of [`linalg::dot_body`], where `act` is
/// ReLU or the identity. Bit-identical to building the vector and calling `dot`.
#[inline(always)]
fn fused_dot(f: &[f32], rows: &[&[f32]], use_relu: bool) -> f32 {
    let d = f.len();
    let mut acc = [0f32; LANES];
    let full = d / LANES * LANES;
    let mut i = 0;
    while i < full {
        let mut phi = [0f32; LANES];
        phi.copy_from_slice(&rows[0][i..i + LANES]);
        for r in &rows[1..] {
            for (p, x) in phi.iter_mut().zip(&r[i..i + LANES]) {
                *p += x;
            }
        }
        for l in 0..LANES {
            let z = if use_relu { relu(phi[l]) } else { phi[l] };
            acc[l] += f[i + l] * z;
        }
        i += LANES;
    }
    for (l, j) in (full..d).enumerate() {
        let mut p = rows[0][j];
        for r in &rows[1..] {
            p += r[j];
        }
        let z = if use_relu { relu(p) } else { p };
        acc[l] += f[j] * z;
    }
    reduce_lanes(acc)
}

/// Entities seen in training: sorted strings plus an open-addressing index keyed by their
/// entity hash.
#[derive(Debug, Clone)]
pub(crate) struct EntityIndex {
    pub bytes: Vec<u8>,
    /// `n + 1` offsets into `bytes`.
    pub offsets: Vec<u64>,
    hashes: Vec<u64>,
    slots: Vec<u32>,
}

impl EntityIndex {
    /// Builds the index; `sorted` must be sorted and free of duplicates.
    pub fn new(sorted: &[String], seed: u64) -> Self {
        let mut bytes = Vec::with_capacity(sorted.iter().map(|s| s.len()).sum());
        let mut offsets = Vec::with_capacity(sorted.len() + 1);
        offsets.push(0u64);
        for s in sorted {
            bytes.extend_from_slice(s.as_bytes());
            offsets.push(bytes.len() as u64);
        }
        Self::from_parts(bytes, offsets, seed)
    }

    /// Builds the index over already concatenated strings (validated by the caller).
    pub fn from_parts(bytes: Vec<u8>, offsets: Vec<u64>, seed: u64) -> Self {
        let n = offsets.len().saturating_sub(1);
        let hashes: Vec<u64> = (0..n)
            .into_par_iter()
            .map(|i| fnv1a64(seed, &bytes[offsets[i] as usize..offsets[i + 1] as usize]))
            .collect();
        let cap = (n * 2).next_power_of_two().max(16);
        let mask = cap - 1;
        let mut slots = vec![0u32; cap];
        for (i, &h) in hashes.iter().enumerate() {
            let mut s = (mix64(h) as usize) & mask;
            while slots[s] != 0 {
                s = (s + 1) & mask;
            }
            slots[s] = i as u32 + 1;
        }
        Self {
            bytes,
            offsets,
            hashes,
            slots,
        }
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn get(&self, i: usize) -> &str {
        let b = &self.bytes[self.offsets[i] as usize..self.offsets[i + 1] as usize];
        // Validated as UTF-8 when built from strings or loaded.
        std::str::from_utf8(b).unwrap_or_default()
    }

    /// Index of `entity` (whose entity hash is `h`), if it was seen.
    #[inline]
    pub fn find(&self, entity: &str, h: u64) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut s = (mix64(h) as usize) & mask;
        loop {
            let v = self.slots[s];
            if v == 0 {
                return None;
            }
            let i = (v - 1) as usize;
            if self.hashes[i] == h
                && &self.bytes[self.offsets[i] as usize..self.offsets[i + 1] as usize]
                    == entity.as_bytes()
            {
                return Some(i);
            }
            s = (s + 1) & mask;
        }
    }

    /// Hashes of all entities, in order.
    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }
}

/// A trained IP Insights model.
///
/// Load one with [`Model::load`] or [`Model::from_bytes`], train one with
/// [`crate::train::train`], and score with [`Model::score_pairs`].
pub struct Model {
    pub(crate) hyperparameters: Hyperparameters,
    pub(crate) arch: Architecture,
    pub(crate) params: Params,
    pub(crate) entities: EntityIndex,
    pub(crate) stats: TrainingStats,
    /// Transposed layer weights.
    wt: Vec<Vec<f32>>,
    /// `W_kᵀu` for every seen entity, `n × d`.
    folded: Vec<f32>,
    /// `u·b_k` for every seen entity.
    folded_bias: Vec<f32>,
    /// The trained prefixes of the hashed levels (`None` in files written before they were
    /// kept: every row is used).
    pub(crate) known: Option<KnownPrefixes>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("hyperparameters", &self.hyperparameters)
            .field("architecture", &self.arch)
            .field("seen_entities", &self.entities.len())
            .finish_non_exhaustive()
    }
}

/// Pairs per parallel task when scoring.
const SCORE_CHUNK: usize = 2048;

impl Model {
    /// Assembles a model and precomputes the per-entity fold. `entities` must be sorted and
    /// unique.
    pub(crate) fn from_parts(
        hyperparameters: Hyperparameters,
        arch: Architecture,
        params: Params,
        entities: EntityIndex,
        stats: TrainingStats,
    ) -> Self {
        let wt = transposes(&arch, &params);
        let (folded, folded_bias) = {
            let net = Net {
                arch: &arch,
                params: &params,
                wt: &wt,
                known: None,
            };
            let rows: Vec<u32> = entities
                .hashes()
                .par_iter()
                .map(|&h| net.entity_row_of_hash(h) as u32)
                .collect();
            net.fold_rows(&rows)
        };
        Self {
            hyperparameters,
            arch,
            params,
            entities,
            stats,
            wt,
            folded,
            folded_bias,
            known: None,
        }
    }

    fn net(&self) -> Net<'_> {
        Net {
            arch: &self.arch,
            params: &self.params,
            wt: &self.wt,
            known: self.known.as_ref(),
        }
    }

    /// Keeps the trained prefixes of the hashed levels: from then on an address's row at such
    /// a level is used only when its prefix is among them ([`crate::known`]).
    pub fn with_known_prefixes(mut self, known: KnownPrefixes) -> Self {
        self.known = (known.len() == self.arch.ip_prefixes.levels.len()).then_some(known);
        self
    }

    #[cfg(test)]
    pub(crate) fn clone_for_tests(&self) -> Self {
        Self::from_parts(
            self.hyperparameters.clone(),
            self.arch.clone(),
            self.params.clone(),
            self.entities.clone(),
            self.stats.clone(),
        )
        .with_known_prefixes(self.known.clone().unwrap_or_default())
    }

    /// The trained prefixes of the hashed levels, when the model keeps them.
    pub fn known_prefixes(&self) -> Option<&KnownPrefixes> {
        self.known.as_ref()
    }

    /// The encoder's prefix levels.
    pub fn prefix_encoding(&self) -> &PrefixEncoding {
        &self.arch.ip_prefixes
    }

    /// Scores pairs in order, on all cores when there are many.
    pub fn score_pairs(&self, pairs: &[(&str, Ipv4Addr)]) -> Vec<Score> {
        let mut out = vec![
            Score {
                dot_product: 0.0,
                entity_seen: false,
            };
            pairs.len()
        ];
        let net = self.net();
        if pairs.len() <= SCORE_CHUNK {
            self.score_chunk(&net, pairs, &mut out);
        } else {
            out.par_chunks_mut(SCORE_CHUNK)
                .zip(pairs.par_chunks(SCORE_CHUNK))
                .for_each(|(o, p)| self.score_chunk(&net, p, o));
        }
        out
    }

    /// Scores one pair.
    pub fn score(&self, entity: &str, ip: Ipv4Addr) -> Score {
        self.score_pairs(&[(entity, ip)])[0]
    }

    fn score_chunk(&self, net: &Net<'_>, pairs: &[(&str, Ipv4Addr)], out: &mut [Score]) {
        score_chunk_dispatch(self, net, pairs, out);
    }

    /// Whether `entity` occurred in the training data.
    pub fn is_seen(&self, entity: &str) -> bool {
        self.entities
            .find(
                entity,
                fnv1a64(self.arch.entity_hash_seed, entity.as_bytes()),
            )
            .is_some()
    }

    /// The entity embedding `u` (what SageMaker returns as `entity_embedding`).
    pub fn entity_embedding(&self, entity: &str) -> &[f32] {
        let net = self.net();
        let h = fnv1a64(self.arch.entity_hash_seed, entity.as_bytes());
        net.entity_vec(net.entity_row_of_hash(h))
    }

    /// The address embedding `v` (what SageMaker returns as `ip_embedding`).
    pub fn ip_embedding(&self, ip: Ipv4Addr) -> Vec<f32> {
        self.net().ip_embedding(u32::from(ip))
    }

    /// `(entity_embedding, ip_embedding)` for verbose responses. Their dot product equals
    /// the score up to f32 rounding.
    pub fn embeddings(&self, entity: &str, ip: Ipv4Addr) -> (Vec<f32>, Vec<f32>) {
        (
            self.entity_embedding(entity).to_vec(),
            self.ip_embedding(ip),
        )
    }

    /// The hyperparameters the model was trained with.
    pub fn hyperparameters(&self) -> &Hyperparameters {
        &self.hyperparameters
    }

    /// The network's shape and hash seeds.
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    /// `vector_dim`.
    pub fn vector_dim(&self) -> usize {
        self.arch.vector_dim
    }

    /// Statistics recorded by the trainer.
    pub fn training_stats(&self) -> &TrainingStats {
        &self.stats
    }

    /// Number of distinct entities seen in training.
    pub fn num_seen_entities(&self) -> usize {
        self.entities.len()
    }

    /// The entities seen in training, sorted.
    pub fn seen_entities(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.entities.len()).map(|i| self.entities.get(i))
    }
}

/// How far ahead of the pair being scored its memory is prefetched. Rows are scattered over
/// tables much larger than the caches, so without it scoring waits on memory.
const PREFETCH_AHEAD: usize = 8;

#[inline(always)]
fn score_chunk_body(model: &Model, net: &Net<'_>, pairs: &[(&str, Ipv4Addr)], out: &mut [Score]) {
    let d = net.d();
    let seed = model.arch.entity_hash_seed;
    let enc = &model.arch.ip_prefixes;
    // Pass 1: entity lookups. The index is small and hot; unseen entities are rare, and each
    // distinct row of theirs is folded once per chunk.
    let mut unseen: HashMap<usize, usize> = HashMap::new();
    let mut unseen_f: Vec<f32> = Vec::new();
    let mut unseen_c: Vec<f32> = Vec::new();
    let mut fold: Vec<(bool, u32)> = Vec::with_capacity(pairs.len());
    for (entity, _) in pairs {
        let h = fnv1a64(seed, entity.as_bytes());
        match model.entities.find(entity, h) {
            Some(i) => fold.push((true, i as u32)),
            None => {
                let row = net.entity_row_of_hash(h);
                let k = *unseen.entry(row).or_insert_with(|| {
                    let (f, c) = net.fold_rows(&[row as u32]);
                    unseen_f.extend_from_slice(&f);
                    unseen_c.push(c[0]);
                    unseen_c.len() - 1
                });
                fold.push((false, k as u32));
            }
        }
    }
    let folded = |(seen, k): (bool, u32)| -> (&[f32], f32) {
        let k = k as usize;
        if seen {
            (&model.folded[k * d..(k + 1) * d], model.folded_bias[k])
        } else {
            (&unseen_f[k * d..(k + 1) * d], unseen_c[k])
        }
    };
    // Pass 2: score, prefetching the rows of pair i + PREFETCH_AHEAD.
    let mut z = vec![0f32; d];
    let mut s = vec![0f32; d];
    let prefetch = |i: usize| {
        if let (Some(&key), Some((_, ip))) = (fold.get(i), pairs.get(i)) {
            linalg::prefetch_slice(folded(key).0);
            let ip = u32::from(*ip);
            for (l, lvl) in enc.levels.iter().enumerate() {
                let r = row_of(*lvl, enc.seed, ip) as usize;
                linalg::prefetch_slice(&net.params.tables[l][r * d..(r + 1) * d]);
            }
        }
    };
    for i in 0..PREFETCH_AHEAD {
        prefetch(i);
    }
    for (i, (o, (_, ip))) in out.iter_mut().zip(pairs).enumerate() {
        prefetch(i + PREFETCH_AHEAD);
        let (f, c) = folded(fold[i]);
        o.entity_seen = fold[i].0;
        o.dot_product = f64::from(net.score_folded_body(f, c, u32::from(*ip), &mut z, &mut s));
    }
}

multiversion! {
    fn score_chunk_dispatch<'a>(model: &Model, net: &Net<'a>, pairs: &[(&str, Ipv4Addr)], out: &mut [Score]) => score_chunk_body
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::train::{TrainOptions, train};

    /// A small trained model with `k` encoder layers.
    pub(crate) fn tiny_model(k: u32) -> Model {
        let pairs: Vec<(String, Ipv4Addr)> = (0..400u32)
            .map(|i| {
                let user = i % 20;
                // Each user lives in its own /16.
                let ip = Ipv4Addr::from((10 << 24) | (user << 16) | (i * 37 % 65536));
                (format!("user_{user}"), ip)
            })
            .collect();
        let data = Dataset::from_pairs(pairs.iter().map(|(e, ip)| (e.as_str(), *ip)));
        let mut hp = Hyperparameters::new(40, 8);
        hp.num_ip_encoder_layers = k;
        hp.epochs = 2;
        hp.mini_batch_size = 100;
        hp.learning_rate = 0.01;
        let opts = TrainOptions {
            seed: 4,
            hashed_ip_rows: Some(256),
            ..Default::default()
        };
        train(&hp, &data, None, &opts, &mut |_| {}).unwrap()
    }

    #[test]
    fn untrained_fine_prefixes_are_left_out() {
        let m = tiny_model(1);
        assert!(
            m.known_prefixes().is_some(),
            "training keeps the trained prefixes"
        );
        // user_3 trained in 10.3.0.0/16 at /24s 10.3.0-57; these two /24s it never saw.
        let (a, b) = (Ipv4Addr::new(10, 3, 200, 7), Ipv4Addr::new(10, 3, 201, 9));
        let with = m.score_pairs(&[("user_3", a), ("user_3", b)]);
        assert_eq!(
            with[0].dot_product, with[1].dot_product,
            "both are judged by their /8 and /16 alone"
        );
        let mut without = m.clone_for_tests();
        without.known = None;
        let raw = without.score_pairs(&[("user_3", a), ("user_3", b)]);
        assert_ne!(
            raw[0].dot_product, raw[1].dot_product,
            "colliding rows differ"
        );
        // A trained address keeps every row.
        let seen = Ipv4Addr::new(10, 3, 0, 111);
        assert_eq!(m.score("user_3", seen), without.score("user_3", seen));
    }

    #[test]
    fn scores_are_dot_products_of_the_embeddings() {
        for k in [0, 1, 2] {
            let m = tiny_model(k);
            for (e, ip) in [
                ("user_3", Ipv4Addr::new(10, 3, 1, 1)),
                ("user_3", Ipv4Addr::new(99, 1, 2, 3)),
                ("stranger", Ipv4Addr::new(10, 3, 1, 1)),
            ] {
                let s = m.score(e, ip);
                assert_eq!(s.entity_seen, e != "stranger");
                let (u, v) = m.embeddings(e, ip);
                assert_eq!(u.len(), 8);
                assert_eq!(v.len(), 8);
                let naive: f64 = u
                    .iter()
                    .zip(&v)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                assert!(
                    (s.dot_product - naive).abs() <= 1e-4 * (1.0 + naive.abs()),
                    "k={k} {e}: {} vs {naive}",
                    s.dot_product
                );
            }
        }
    }

    #[test]
    fn batch_and_single_scoring_agree_and_flag_unseen_entities() {
        let m = tiny_model(1);
        let mut pairs: Vec<(String, Ipv4Addr)> = Vec::new();
        for i in 0..5000u32 {
            let e = if i % 7 == 0 {
                format!("new_{i}")
            } else {
                format!("user_{}", i % 20)
            };
            pairs.push((e, Ipv4Addr::from(i.wrapping_mul(2_654_435_761))));
        }
        let borrowed: Vec<(&str, Ipv4Addr)> =
            pairs.iter().map(|(e, ip)| (e.as_str(), *ip)).collect();
        let all = m.score_pairs(&borrowed);
        for (i, (e, ip)) in borrowed.iter().enumerate().step_by(97) {
            assert_eq!(m.score(e, *ip), all[i]);
            assert_eq!(all[i].entity_seen, !e.starts_with("new_"));
        }
        assert!(m.is_seen("user_0") && !m.is_seen("user_20") && !m.is_seen(""));
        assert_eq!(m.num_seen_entities(), 20);
        assert_eq!(m.seen_entities().next(), Some("user_0"));
        assert!(m.score_pairs(&[]).is_empty());
    }
}
