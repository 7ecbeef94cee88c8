//! Training: binary cross-entropy of real pairs against random-IP and shuffled negatives,
//! Adam with coupled L2 weight decay (MXNet's `Adam`, lazy on embedding rows), mini-batches,
//! epochs.
//!
//! # One mini-batch
//!
//! For `B` positive pairs `(e_i, a_i)`:
//!
//! - **Random negatives (rate R).** A pool of `max(B, R)` uniformly random IPv4 addresses
//!   (every octet uniform on 0..=255) is drawn for the batch and every entity is paired with
//!   `R` addresses drawn from it. Sharing the pool within a batch keeps the encoder cost per
//!   batch at `B + pool` addresses instead of `B·(1+R)`; each entity still meets R random
//!   addresses per step and a fresh pool is drawn every step.
//! - **Shuffled negatives (rate S).** For each of S random permutations π of the batch,
//!   `e_i` is paired with `a_π(i)`, skipped when both pairs have the same entity row (it
//!   would be a positive labelled negative).
//! - **Loss.** `L = −(1/N) Σ [y log σ(s) + (1−y) log(1−σ(s))]` over the N pairs, `s = u·v`.
//! - **Gradients** are written by hand (`∂L/∂s = (σ(s) − y)/N`) and checked against finite
//!   differences in the tests.
//! - **Update.** Adam (β₁ 0.9, β₂ 0.999, ε 1e-8) with `g ← g + weight_decay·w`; embedding
//!   rows that received no gradient in a step are left untouched (MXNet's `lazy_update`).
//!
//! # Determinism
//!
//! Everything random comes from ChaCha8 streams derived from [`TrainOptions::seed`], and
//! every parallel reduction adds its terms in a fixed order, so a seed gives bit-identical
//! weights whatever the number of threads (and on any platform, see `linalg`).

use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::auc::roc_auc;
use crate::data::Dataset;
use crate::hash::{entity_row, fnv1a64};
use crate::hyperparams::{HyperparameterError, Hyperparameters};
use crate::ip::PrefixEncoding;
use crate::known::{KnownPrefixes, PrefixHasher};
use crate::linalg::{self, AdamStep, relu};
use crate::model::{Architecture, EntityIndex, Layer, Model, Net, Params, transposes};
use crate::rng::{self, Rng};

/// Options of a training run that are not SageMaker hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// Seed of every random choice (initialisation, shuffling, negatives, hash seeds).
    pub seed: u64,
    /// Rows of each hashed prefix table (/24 and /32). `None` picks
    /// `next_power_of_two(num_entity_vectors) / 4` clamped to 4,096..=1,048,576, so that
    /// `num_entity_vectors` stays the knob for model size, as in SageMaker. (A quarter, not
    /// the whole: on the login-style data 8,192 rows for 20,000 entity vectors gave
    /// AUCs 0.9847 / 0.9845 against 0.9836 / 0.9840 with 32,768 and 0.9816 / 0.9827 with
    /// 131,072; the shared rows generalise better than near-unique ones.)
    pub hashed_ip_rows: Option<u32>,
    /// Learning rate at the end of training, as a fraction of `learning_rate`: the rate
    /// decays linearly over the steps from `learning_rate` to `learning_rate·final_lr_fraction`.
    /// 1 keeps it constant.
    pub final_lr_fraction: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            hashed_ip_rows: None,
            final_lr_fraction: 1.0,
        }
    }
}

/// Statistics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: u32,
    /// Mean binary cross-entropy over the epoch's positive and negative pairs.
    pub loss: f64,
    /// `validation:discriminator_auc` after the epoch, when there is validation data.
    pub validation_auc: Option<f64>,
    /// Wall-clock seconds of the epoch's training steps (validation excluded).
    pub seconds: f64,
    /// Positive training pairs processed per second.
    pub pairs_per_second: f64,
}

/// Statistics recorded in the model file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingStats {
    /// Positive training pairs.
    pub train_pairs: u64,
    /// Distinct training entities.
    pub train_entities: u64,
    /// Validation pairs (0 without a validation channel).
    pub validation_pairs: u64,
    /// The training seed.
    #[serde(with = "crate::model::u64_string")]
    pub seed: u64,
    /// Threads used.
    pub threads: usize,
    /// Per-epoch statistics.
    pub epochs: Vec<EpochStats>,
    /// Total training seconds (steps only).
    pub seconds: f64,
}

/// What the trainer reports while it runs.
#[derive(Debug)]
pub enum Progress<'a> {
    /// After each mini-batch.
    Batch {
        /// 1-based epoch.
        epoch: u32,
        /// Batches done in this epoch.
        batch: u64,
        /// Batches per epoch.
        batches: u64,
        /// Mean loss of the epoch so far.
        loss: f64,
        /// Positive pairs per second so far in this epoch.
        pairs_per_second: f64,
    },
    /// After each epoch, with its validation AUC.
    Epoch(&'a EpochStats),
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Invalid hyperparameters.
    #[error(transparent)]
    Hyperparameters(#[from] HyperparameterError),
    /// No training pairs.
    #[error("the training set is empty")]
    EmptyTrainingSet,
    /// The loss became NaN or infinite (learning rate too high?).
    #[error("training diverged in epoch {epoch} (loss is not finite); try a lower learning_rate")]
    Diverged {
        /// 1-based epoch.
        epoch: u32,
    },
}

/// Trains a model on `train`, reporting `validation:discriminator_auc` on `validation` after
/// every epoch.
pub fn train(
    hp: &Hyperparameters,
    train: &Dataset,
    validation: Option<&Dataset>,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Model, TrainError> {
    hp.validate()?;
    if train.is_empty() {
        return Err(TrainError::EmptyTrainingSet);
    }
    let mut t = Trainer::new(hp, opts);
    let entity_seed = t.arch.entity_hash_seed;
    let rows_of_entity: Vec<u32> = train
        .entities()
        .par_iter()
        .map(|e| entity_row(entity_seed, e, hp.num_entity_vectors) as u32)
        .collect();
    let val = validation.map(|v| ValidationSet::new(v, &t.arch, opts.seed));
    // Validation scores as the finished model will: untrained fine prefixes left out.
    let known = KnownPrefixes::from_addresses(&t.arch.ip_prefixes, train.ips().iter().copied());
    t.positives = train
        .entity_ids()
        .iter()
        .zip(train.ips())
        .map(|(&e, &ip)| u64::from(rows_of_entity[e as usize]) << 32 | u64::from(ip))
        .collect();

    let n = train.len();
    let bsz = (hp.mini_batch_size as usize).min(n);
    let batches = n.div_ceil(bsz) as u64;
    t.total_steps = batches * u64::from(hp.epochs);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut stats = TrainingStats {
        train_pairs: n as u64,
        train_entities: train.entities().len() as u64,
        validation_pairs: validation.map_or(0, |v| v.len() as u64),
        seed: opts.seed,
        threads: rayon::current_num_threads(),
        ..Default::default()
    };
    let mut erows = Vec::with_capacity(bsz);
    let mut ips = Vec::with_capacity(bsz);
    for epoch in 1..=hp.epochs {
        rng::shuffle(&mut t.rng, &mut order);
        let start = Instant::now();
        let (mut loss_sum, mut samples) = (0f64, 0u64);
        for (bi, chunk) in order.chunks(bsz).enumerate() {
            erows.clear();
            ips.clear();
            for &i in chunk {
                erows.push(rows_of_entity[train.entity_ids()[i as usize] as usize]);
                ips.push(train.ips()[i as usize]);
            }
            let (l, s) = t.step(&erows, &ips);
            loss_sum += l;
            samples += s;
            let secs = start.elapsed().as_secs_f64();
            progress(Progress::Batch {
                epoch,
                batch: bi as u64 + 1,
                batches,
                loss: loss_sum / samples.max(1) as f64,
                pairs_per_second: ((bi + 1) * bsz).min(n) as f64 / secs.max(1e-9),
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        let loss = loss_sum / samples.max(1) as f64;
        if !loss.is_finite() {
            return Err(TrainError::Diverged { epoch });
        }
        let validation_auc = val.as_ref().and_then(|v| v.auc(&t.arch, &t.p, &known));
        let es = EpochStats {
            epoch,
            loss,
            validation_auc,
            seconds,
            pairs_per_second: n as f64 / seconds.max(1e-9),
        };
        stats.seconds += seconds;
        progress(Progress::Epoch(&es));
        stats.epochs.push(es);
    }
    let mut names: Vec<String> = train.entities().to_vec();
    names.par_sort_unstable();
    let index = EntityIndex::new(&names, entity_seed);
    Ok(Model::from_parts(hp.clone(), t.arch, t.p, index, stats).with_known_prefixes(known))
}

/// Validation pairs with one fixed uniformly random address per pair, as SageMaker computes
/// `validation:discriminator_auc` (R = 1, S = 0).
struct ValidationSet {
    rows: Vec<u32>,
    ips: Vec<u32>,
    negatives: Vec<u32>,
}

impl ValidationSet {
    fn new(v: &Dataset, arch: &Architecture, seed: u64) -> Self {
        let ent_rows: Vec<u32> = v
            .entities()
            .iter()
            .map(|e| entity_row(arch.entity_hash_seed, e, arch.num_entity_vectors) as u32)
            .collect();
        let rows = v
            .entity_ids()
            .iter()
            .map(|&i| ent_rows[i as usize])
            .collect();
        let mut r = rng::rng(seed, STREAM_VALIDATION);
        let negatives = (0..v.len()).map(|_| rng::u32(&mut r)).collect();
        Self {
            rows,
            ips: v.ips().to_vec(),
            negatives,
        }
    }

    fn auc(&self, arch: &Architecture, params: &Params, known: &KnownPrefixes) -> Option<f64> {
        let (pos, neg) = score_rows(
            arch,
            params,
            Some(known),
            &self.rows,
            &self.ips,
            &self.negatives,
        );
        roc_auc(&pos, &neg)
    }
}

/// Scores `(rows[i], a[i])` and `(rows[i], b[i])` straight from parameters.
pub(crate) fn score_rows(
    arch: &Architecture,
    params: &Params,
    known: Option<&KnownPrefixes>,
    rows: &[u32],
    a: &[u32],
    b: &[u32],
) -> (Vec<f64>, Vec<f64>) {
    let wt = transposes(arch, params);
    let net = Net {
        arch,
        params,
        wt: &wt,
        known,
    };
    let mut uniq = rows.to_vec();
    uniq.par_sort_unstable();
    uniq.dedup();
    let (f, c) = net.fold_rows(&uniq);
    let d = arch.vector_dim;
    let score = |row: u32, ip: u32| {
        let k = uniq.partition_point(|&r| r < row);
        let mut z = vec![0f32; d];
        let mut s = vec![0f32; d];
        f64::from(net.score_folded_body(&f[k * d..(k + 1) * d], c[k], ip, &mut z, &mut s))
    };
    let pa = rows
        .par_iter()
        .zip(a)
        .map(|(&r, &ip)| score(r, ip))
        .collect();
    let pb = rows
        .par_iter()
        .zip(b)
        .map(|(&r, &ip)| score(r, ip))
        .collect();
    (pa, pb)
}

// Independent random streams of a seed.
const STREAM_SHUFFLE: u64 = 1;
const STREAM_VALIDATION: u64 = 2;
const STREAM_INIT: u64 = 1 << 32;

/// Adam moments, shaped like the parameters.
struct Moments {
    m: Params,
    v: Params,
}

struct Trainer<'h> {
    hp: &'h Hyperparameters,
    arch: Architecture,
    p: Params,
    adam: Moments,
    step: u64,
    /// Steps of the whole run (for the learning-rate schedule).
    total_steps: u64,
    final_lr_fraction: f64,
    rng: Rng,
    /// Every training pair as `entity row << 32 | address`: a shuffled negative that is one of
    /// them is no negative (an address every instance reaches, such as the VPC resolver, would
    /// otherwise be pushed away from every entity that uses it) and is skipped.
    positives: PairSet,
}

type PairSet = HashSet<u64, BuildHasherDefault<PrefixHasher>>;

impl<'h> Trainer<'h> {
    fn new(hp: &'h Hyperparameters, opts: &TrainOptions) -> Self {
        let d = hp.vector_dim as usize;
        let hashed = opts.hashed_ip_rows.unwrap_or_else(|| {
            (hp.num_entity_vectors.next_power_of_two() / 4).clamp(1 << 12, 1 << 20) as u32
        });
        let mut seeds = rng::rng(opts.seed, 0);
        let arch = Architecture {
            vector_dim: d,
            num_entity_vectors: hp.num_entity_vectors,
            entity_hash_seed: rand::RngCore::next_u64(&mut seeds),
            ip_prefixes: PrefixEncoding::with_hashed_rows(
                hashed,
                rand::RngCore::next_u64(&mut seeds),
            ),
            num_ip_encoder_layers: hp.num_ip_encoder_layers as usize,
            activation: "relu".into(),
        };
        let k = arch.num_ip_encoder_layers;
        let mut stream = STREAM_INIT;
        let mut init = |len: usize, scale: f32| {
            let v = uniform_init(opts.seed, stream, len, scale);
            stream += 1 << 20;
            v
        };
        // Small uniform embeddings so that initial scores are near zero; layers keep the
        // variance of their input (±sqrt(3/d) has variance 1/d).
        let entity = init(hp.num_entity_vectors as usize * d, 0.1);
        let tables = arch
            .ip_prefixes
            .levels
            .iter()
            .map(|l| init(l.rows as usize * d, 0.1))
            .collect();
        let layers = (0..k)
            .map(|_| Layer {
                w: init(d * d, (3.0 / d as f32).sqrt()),
                b: vec![0.0; d],
            })
            .collect();
        let p = Params {
            entity,
            tables,
            layers,
        };
        let zeros = |p: &Params| Params {
            entity: vec![0.0; p.entity.len()],
            tables: p.tables.iter().map(|t| vec![0.0; t.len()]).collect(),
            layers: p
                .layers
                .iter()
                .map(|l| Layer {
                    w: vec![0.0; l.w.len()],
                    b: vec![0.0; l.b.len()],
                })
                .collect(),
        };
        let adam = Moments {
            m: zeros(&p),
            v: zeros(&p),
        };
        Self {
            hp,
            arch,
            p,
            adam,
            step: 0,
            total_steps: 1,
            final_lr_fraction: opts.final_lr_fraction,
            rng: rng::rng(opts.seed, STREAM_SHUFFLE),
            positives: PairSet::default(),
        }
    }

    /// One mini-batch: `erows[i]` is the entity row and `pos[i]` the address of positive i.
    /// Returns the summed loss and the number of (positive and negative) pairs.
    fn step(&mut self, erows: &[u32], pos: &[u32]) -> (f64, u64) {
        let batch = self.sample(erows, pos);
        let g = self.grads(&batch);
        self.apply(&batch, &g);
        (g.loss, g.n_samples as u64)
    }

    /// Draws the batch's random pool and its negatives.
    fn sample(&mut self, erows: &[u32], pos: &[u32]) -> Batch {
        let b = erows.len();
        let r = self.hp.random_negative_sampling_rate as usize;
        let sr = self.hp.shuffled_negative_sampling_rate as usize;
        let per = 1 + r + sr;

        // Addresses: the batch's own, then the random pool.
        let pool = if r > 0 { b.max(r) } else { 0 };
        let mut ips = Vec::with_capacity(b + pool);
        ips.extend_from_slice(pos);
        for _ in 0..pool {
            ips.push(rng::u32(&mut self.rng));
        }

        let mut partner = vec![NONE; b * per];
        for i in 0..b {
            partner[i * per] = i as u32;
            for t in 0..r {
                let j = b + rng::below(&mut self.rng, pool as u64) as usize;
                partner[i * per + 1 + t] = j as u32;
            }
        }
        if sr > 0 {
            let mut perm: Vec<u32> = (0..b as u32).collect();
            for t in 0..sr {
                rng::shuffle(&mut self.rng, &mut perm);
                for i in 0..b {
                    let j = perm[i] as usize;
                    if erows[j] != erows[i]
                        && !self
                            .positives
                            .contains(&(u64::from(erows[i]) << 32 | u64::from(pos[j])))
                    {
                        partner[i * per + 1 + r + t] = j as u32;
                    }
                }
            }
        }
        Batch {
            erows: erows.to_vec(),
            ips,
            partner,
            per,
        }
    }

    /// Loss and gradients of a batch (no update).
    fn grads(&self, batch: &Batch) -> Grads {
        let d = self.arch.vector_dim;
        let Batch {
            erows,
            ips,
            partner,
            per,
        } = batch;
        let (b, per) = (erows.len(), *per);
        let n_ip = ips.len();
        let k = self.p.layers.len();
        let nl = self.arch.ip_prefixes.levels.len();
        let n_samples = partner.iter().filter(|&&j| j != NONE).count();
        let inv_n = 1.0 / n_samples.max(1) as f32;

        // Entity side: u, and the fold f = W_kᵀu, c = u·b_k.
        let mut u = vec![0f32; b * d];
        u.par_chunks_mut(64 * d)
            .zip(erows.par_chunks(64))
            .for_each(|(dst, rows)| {
                let row = |j: usize| {
                    let r = rows[j] as usize;
                    &self.p.entity[r * d..(r + 1) * d]
                };
                for j in 0..rows.len() {
                    if j + PREFETCH_AHEAD < rows.len() {
                        linalg::prefetch_slice(row(j + PREFETCH_AHEAD));
                    }
                    dst[j * d..(j + 1) * d].copy_from_slice(row(j));
                }
            });
        let (f, c) = match self.p.layers.last() {
            Some(last) => {
                let mut f = vec![0f32; b * d];
                linalg::par_gemm(b, d, d, &u, &last.w, &mut f, false);
                let c: Vec<f32> = u.par_chunks(d).map(|ui| linalg::dot(ui, &last.b)).collect();
                (f, c)
            }
            None => (u.clone(), vec![0f32; b]),
        };

        // Address side: prefix rows, h₀, hidden layers, z.
        let mut iprows = vec![0u32; n_ip * nl];
        {
            let enc = &self.arch.ip_prefixes;
            iprows
                .par_chunks_mut(nl)
                .zip(ips.par_iter())
                .for_each(|(o, &ip)| {
                    for (l, x) in o.iter_mut().enumerate() {
                        *x = enc.row(l, ip);
                    }
                });
        }
        let mut hs: Vec<Vec<f32>> = Vec::with_capacity(k.max(1));
        {
            let mut h0 = vec![0f32; n_ip * d];
            let tables = &self.p.tables;
            const G: usize = 64;
            h0.par_chunks_mut(G * d)
                .zip(iprows.par_chunks(G * nl))
                .for_each(|(dst, rows)| {
                    let row_of = |j: usize, l: usize| {
                        let r = rows[j * nl + l] as usize;
                        &tables[l][r * d..(r + 1) * d]
                    };
                    let n = rows.len() / nl;
                    for j in 0..n {
                        // Rows are scattered over tables larger than the caches.
                        if j + PREFETCH_AHEAD < n {
                            for l in 0..nl {
                                linalg::prefetch_slice(row_of(j + PREFETCH_AHEAD, l));
                            }
                        }
                        let mut refs: [&[f32]; 32] = [&[]; 32];
                        for (l, r) in refs.iter_mut().enumerate().take(nl) {
                            *r = row_of(j, l);
                        }
                        linalg::sum_rows_body(&mut dst[j * d..(j + 1) * d], &refs[..nl]);
                    }
                });
            hs.push(h0);
        }
        let wt = transposes(&self.arch, &self.p);
        for l in 0..k.saturating_sub(1) {
            let a = relu_of(&hs[l]);
            let mut h = vec![0f32; n_ip * d];
            linalg::par_gemm(n_ip, d, d, &a, &wt[l], &mut h, false);
            let bias = &self.p.layers[l].b;
            h.par_chunks_mut(d).for_each(|row| {
                for (x, bb) in row.iter_mut().zip(bias) {
                    *x += bb;
                }
            });
            hs.push(h);
        }
        let z = if k >= 1 {
            relu_of(&hs[k - 1])
        } else {
            hs[0].clone()
        };

        // Forward and ∂L/∂s per slot; ∂L/∂f and ∂L/∂c per entity.
        let mut g = vec![0f32; b * per];
        let mut df = vec![0f32; b * d];
        let mut dc = vec![0f32; b];
        const CHUNK: usize = 64;
        let loss: f64 = g
            .par_chunks_mut(CHUNK * per)
            .zip(df.par_chunks_mut(CHUNK * d))
            .zip(dc.par_chunks_mut(CHUNK))
            .enumerate()
            .map(|(ci, ((g, df), dc))| {
                forward_chunk(ci * CHUNK, g, df, dc, &f, &c, &z, partner, per, d, inv_n)
            })
            .collect::<Vec<f64>>()
            .iter()
            .sum();

        // ∂L/∂z: gather every slot that used address j, in slot order.
        let mut start = vec![0u32; n_ip + 1];
        for &j in partner {
            if j != NONE {
                start[j as usize + 1] += 1;
            }
        }
        for j in 0..n_ip {
            start[j + 1] += start[j];
        }
        let mut fill = start.clone();
        let mut slots = vec![0u32; n_samples];
        for (sidx, &j) in partner.iter().enumerate() {
            if j != NONE {
                slots[fill[j as usize] as usize] = sidx as u32;
                fill[j as usize] += 1;
            }
        }
        let mut dz = vec![0f32; n_ip * d];
        dz.par_chunks_mut(d).enumerate().for_each(|(j, dzj)| {
            for &sidx in &slots[start[j] as usize..start[j + 1] as usize] {
                let i = sidx as usize / per;
                linalg::axpy(g[sidx as usize], &f[i * d..(i + 1) * d], dzj);
            }
        });

        // Back through the address encoder's hidden layers to ∂L/∂h₀.
        let mut dlayers: Vec<(Vec<f32>, Vec<f32>)> = vec![(Vec::new(), Vec::new()); k];
        let dh0 = if k >= 1 {
            let mut dh = mask_relu(dz, &hs[k - 1]);
            for l in (0..k - 1).rev() {
                let a = relu_of(&hs[l]);
                let dht = linalg::transpose(n_ip, d, &dh);
                let mut dw = vec![0f32; d * d];
                linalg::par_gemm(d, d, n_ip, &dht, &a, &mut dw, false);
                let db = column_sums(&dh, d);
                let mut da = vec![0f32; n_ip * d];
                linalg::par_gemm(n_ip, d, d, &dh, &self.p.layers[l].w, &mut da, false);
                dh = mask_relu(da, &hs[l]);
                dlayers[l] = (dw, db);
            }
            dh
        } else {
            dz
        };

        // Back through the fold to ∂L/∂u, ∂L/∂W_k and ∂L/∂b_k.
        let du = if let Some(last) = self.p.layers.last() {
            let ut = linalg::transpose(b, d, &u);
            let mut dw = vec![0f32; d * d];
            linalg::par_gemm(d, d, b, &ut, &df, &mut dw, false);
            let mut db = vec![0f32; d];
            for (ui, &dci) in u.chunks(d).zip(&dc) {
                linalg::axpy(dci, ui, &mut db);
            }
            let mut du = vec![0f32; b * d];
            linalg::par_gemm(b, d, d, &df, &wt[k - 1], &mut du, false);
            du.par_chunks_mut(d)
                .zip(dc.par_iter())
                .for_each(|(dui, &dci)| {
                    linalg::axpy(dci, &last.b, dui);
                });
            dlayers[k - 1] = (dw, db);
            du
        } else {
            df
        };
        Grads {
            loss,
            n_samples,
            du,
            iprows,
            dh0,
            dlayers,
        }
    }

    /// The learning rate of the current step (1-based), after the schedule.
    fn learning_rate(&self) -> f64 {
        let done = (self.step - 1) as f64 / self.total_steps.max(1) as f64;
        self.hp.learning_rate * (1.0 - done.min(1.0) * (1.0 - self.final_lr_fraction))
    }

    /// Adam step with the gradients of `batch`.
    fn apply(&mut self, batch: &Batch, g: &Grads) {
        let d = self.arch.vector_dim;
        let nl = self.arch.ip_prefixes.levels.len();
        self.step += 1;
        let s = AdamStep::new(self.learning_rate(), self.hp.weight_decay, self.step);
        sparse_adam(
            &mut self.p.entity,
            &mut self.adam.m.entity,
            &mut self.adam.v.entity,
            d,
            &batch.erows,
            &g.du,
            s,
        );
        for l in 0..nl {
            let rows: Vec<u32> = g.iprows.iter().skip(l).step_by(nl).copied().collect();
            sparse_adam(
                &mut self.p.tables[l],
                &mut self.adam.m.tables[l],
                &mut self.adam.v.tables[l],
                d,
                &rows,
                &g.dh0,
                s,
            );
        }
        for (l, (dw, db)) in g.dlayers.iter().enumerate() {
            let (p, m, v) = (
                &mut self.p.layers[l],
                &mut self.adam.m.layers[l],
                &mut self.adam.v.layers[l],
            );
            linalg::par_adam(&mut p.w, &mut m.w, &mut v.w, dw, s);
            linalg::adam(&mut p.b, &mut m.b, &mut v.b, db, s);
        }
    }
}

/// How many rows ahead gathers and sparse updates prefetch.
const PREFETCH_AHEAD: usize = 8;

/// Marks a skipped negative slot.
const NONE: u32 = u32::MAX;

/// A sampled mini-batch.
struct Batch {
    /// Entity row of each positive.
    erows: Vec<u32>,
    /// Addresses: the positives' then the random pool.
    ips: Vec<u32>,
    /// For entity `i`, slot `t`: index into `ips` (slot 0 is the positive), or [`NONE`].
    partner: Vec<u32>,
    /// Slots per entity, `1 + R + S`.
    per: usize,
}

/// Loss and gradients of a batch.
struct Grads {
    /// Summed (not averaged) loss.
    loss: f64,
    n_samples: usize,
    /// ∂L/∂u per positive.
    du: Vec<f32>,
    /// Prefix rows of every address (`ips.len() × levels`).
    iprows: Vec<u32>,
    /// ∂L/∂h₀ per address.
    dh0: Vec<f32>,
    /// (∂L/∂W, ∂L/∂b) per layer.
    dlayers: Vec<(Vec<f32>, Vec<f32>)>,
}

/// Forward pass and ∂L/∂s for the entities `i0..` of one chunk.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_chunk_body(
    i0: usize,
    g: &mut [f32],
    df: &mut [f32],
    dc: &mut [f32],
    f: &[f32],
    c: &[f32],
    z: &[f32],
    partner: &[u32],
    per: usize,
    d: usize,
    inv_n: f32,
) -> f64 {
    let mut loss = 0f64;
    for (li, ((gi, dfi), dci)) in g
        .chunks_mut(per)
        .zip(df.chunks_mut(d))
        .zip(dc.iter_mut())
        .enumerate()
    {
        let i = i0 + li;
        let fi = &f[i * d..(i + 1) * d];
        for (t, gt) in gi.iter_mut().enumerate() {
            let j = partner[i * per + t];
            if j == NONE {
                continue;
            }
            let zj = &z[j as usize * d..(j as usize + 1) * d];
            let s = linalg::dot_body(fi, zj) + c[i];
            let positive = t == 0;
            loss += f64::from(softplus(if positive { -s } else { s }));
            let gs = (sigmoid(s) - if positive { 1.0 } else { 0.0 }) * inv_n;
            *gt = gs;
            linalg::axpy_body(gs, zj, dfi);
            *dci += gs;
        }
    }
    loss
}

linalg::multiversion! {
    #[allow(clippy::too_many_arguments)]
    fn forward_chunk(
        i0: usize,
        g: &mut [f32],
        df: &mut [f32],
        dc: &mut [f32],
        f: &[f32],
        c: &[f32],
        z: &[f32],
        partner: &[u32],
        per: usize,
        d: usize,
        inv_n: f32,
    ) -> f64 => forward_chunk_body
}

fn relu_of(h: &[f32]) -> Vec<f32> {
    let mut a = vec![0f32; h.len()];
    a.par_chunks_mut(1 << 12)
        .zip(h.par_chunks(1 << 12))
        .for_each(|(a, h)| {
            for (x, y) in a.iter_mut().zip(h) {
                *x = relu(*y);
            }
        });
    a
}

/// `g ⊙ [h > 0]`, the gradient through a ReLU whose input was `h`.
fn mask_relu(mut g: Vec<f32>, h: &[f32]) -> Vec<f32> {
    g.par_chunks_mut(1 << 12)
        .zip(h.par_chunks(1 << 12))
        .for_each(|(g, h)| {
            for (x, y) in g.iter_mut().zip(h) {
                // A select, not a branch: the sign of `y` is unpredictable.
                *x = if *y > 0.0 { *x } else { 0.0 };
            }
        });
    g
}

fn column_sums(m: &[f32], d: usize) -> Vec<f32> {
    let mut s = vec![0f32; d];
    for row in m.chunks(d) {
        linalg::axpy(1.0, row, &mut s);
    }
    s
}

fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Uniform values in `[-scale, scale)`, filled in parallel from per-block streams.
fn uniform_init(seed: u64, stream: u64, len: usize, scale: f32) -> Vec<f32> {
    const BLOCK: usize = 1 << 16;
    let mut v = vec![0f32; len];
    v.par_chunks_mut(BLOCK).enumerate().for_each(|(bi, chunk)| {
        let mut r = rng::rng(seed, stream + bi as u64);
        for x in chunk {
            let u = (rng::u32(&mut r) >> 8) as f32 * (1.0 / (1u32 << 24) as f32);
            *x = (2.0 * u - 1.0) * scale;
        }
    });
    v
}

/// Lazy Adam over the rows of `table` that received gradient: `rows[i]` gets `grads[i]`.
/// Gradients of the same row are summed in the order of `i`.
fn sparse_adam(
    table: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    d: usize,
    rows: &[u32],
    grads: &[f32],
    s: AdamStep,
) {
    let mut order: Vec<(u32, u32)> = rows
        .iter()
        .enumerate()
        .map(|(i, &r)| (r, i as u32))
        .collect();
    order.sort_unstable();
    let n_rows = table.len() / d;
    let tasks = rayon::current_num_threads() * 8;
    let block = n_rows.div_ceil(tasks).max(16);
    table
        .par_chunks_mut(block * d)
        .zip(m.par_chunks_mut(block * d))
        .zip(v.par_chunks_mut(block * d))
        .enumerate()
        .for_each(|(bi, ((t, m), v))| {
            let lo = (bi * block) as u32;
            let hi = lo + (t.len() / d) as u32;
            let a = order.partition_point(|&(r, _)| r < lo);
            let e = order.partition_point(|&(r, _)| r < hi);
            let mut g = vec![0f32; d];
            let mut x = a;
            while x < e {
                let row = order[x].0;
                if let Some(&(ahead, _)) = order
                    .get(x + PREFETCH_AHEAD)
                    .filter(|_| x + PREFETCH_AHEAD < e)
                {
                    let o = (ahead - lo) as usize * d;
                    linalg::prefetch_slice(&t[o..o + d]);
                    linalg::prefetch_slice(&m[o..o + d]);
                    linalg::prefetch_slice(&v[o..o + d]);
                }
                g.fill(0.0);
                while x < e && order[x].0 == row {
                    let i = order[x].1 as usize;
                    linalg::axpy(1.0, &grads[i * d..(i + 1) * d], &mut g);
                    x += 1;
                }
                let o = (row - lo) as usize * d;
                linalg::adam(&mut t[o..o + d], &mut m[o..o + d], &mut v[o..o + d], &g, s);
            }
        });
}

/// Entity hash of a string under a model's seed (exposed for tests and tools).
pub fn entity_hash(arch: &Architecture, entity: &str) -> u64 {
    fnv1a64(arch.entity_hash_seed, entity.as_bytes())
}

/// Convenience: scores `(entity, ip)` pairs through `score_rows` (for tests).
#[cfg(test)]
pub(crate) fn score_pairs_raw(
    arch: &Architecture,
    params: &Params,
    known: Option<&KnownPrefixes>,
    pairs: &[(&str, std::net::Ipv4Addr)],
) -> Vec<f64> {
    let rows: Vec<u32> = pairs
        .iter()
        .map(|(e, _)| entity_row(arch.entity_hash_seed, e, arch.num_entity_vectors) as u32)
        .collect();
    let ips: Vec<u32> = pairs.iter().map(|(_, ip)| u32::from(*ip)).collect();
    score_rows(arch, params, known, &rows, &ips, &ips).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval;
    use crate::login_data::{self, LoginConfig};

    fn tiny_hp(k: u32) -> Hyperparameters {
        let mut hp = Hyperparameters::new(50, 8);
        hp.num_ip_encoder_layers = k;
        hp.random_negative_sampling_rate = 2;
        hp.shuffled_negative_sampling_rate = 1;
        hp.weight_decay = 0.0;
        hp
    }

    /// Mean loss of `batch` under the trainer's current parameters.
    fn mean_loss(t: &Trainer<'_>, batch: &Batch) -> f64 {
        let g = t.grads(batch);
        g.loss / g.n_samples as f64
    }

    fn check_gradients(k: u32) {
        let hp = tiny_hp(k);
        let opts = TrainOptions {
            seed: 11,
            hashed_ip_rows: Some(64),
            ..Default::default()
        };
        let mut t = Trainer::new(&hp, &opts);
        // Larger weights than the initialisation, so that gradients are not tiny.
        for x in t.p.entity.iter_mut().chain(t.p.tables.iter_mut().flatten()) {
            *x *= 8.0;
        }
        for l in &mut t.p.layers {
            for (i, b) in l.b.iter_mut().enumerate() {
                *b = 0.05 * (i as f32 - 3.0);
            }
        }
        let erows = [1u32, 2, 3, 1, 4, 5];
        let pos = [
            0x0a00_0001u32,
            0x0a00_0102,
            0xc0a8_0001,
            0x0a00_0001,
            0x0808_0808,
            0x0101_0101,
        ];
        let batch = t.sample(&erows, &pos);
        let g = t.grads(&batch);
        let d = t.arch.vector_dim;
        let nl = t.arch.ip_prefixes.levels.len();
        let eps = 3e-3f32;

        // (parameter accessor, analytic gradient) pairs.
        type Accessor = Box<dyn Fn(&mut Params) -> &mut f32>;
        let mut checks: Vec<(Accessor, f64)> = Vec::new();
        for q in [0usize, 3, 7] {
            // Entity row 1 is used by positives 0 and 3: their gradients add up.
            let ana = f64::from(g.du[q] + g.du[3 * d + q]);
            checks.push((Box::new(move |p: &mut Params| &mut p.entity[d + q]), ana));
        }
        for lvl in 0..nl {
            for j in [0usize, 2, 7] {
                let row = g.iprows[j * nl + lvl] as usize;
                let q = (j + lvl) % d;
                let ana: f64 = (0..batch.ips.len())
                    .filter(|&jj| g.iprows[jj * nl + lvl] as usize == row)
                    .map(|jj| f64::from(g.dh0[jj * d + q]))
                    .sum();
                checks.push((
                    Box::new(move |p: &mut Params| &mut p.tables[lvl][row * d + q]),
                    ana,
                ));
            }
        }
        for l in 0..k as usize {
            for idx in [0usize, 9, 63] {
                let ana = f64::from(g.dlayers[l].0[idx]);
                checks.push((Box::new(move |p: &mut Params| &mut p.layers[l].w[idx]), ana));
            }
            for idx in [1usize, 6] {
                let ana = f64::from(g.dlayers[l].1[idx]);
                checks.push((Box::new(move |p: &mut Params| &mut p.layers[l].b[idx]), ana));
            }
        }
        let mut nonzero = 0;
        for (i, (get, ana)) in checks.iter().enumerate() {
            let orig = *get(&mut t.p);
            *get(&mut t.p) = orig + eps;
            let up = mean_loss(&t, &batch);
            *get(&mut t.p) = orig - eps;
            let down = mean_loss(&t, &batch);
            *get(&mut t.p) = orig;
            let num = (up - down) / (2.0 * f64::from(eps));
            assert!(
                (num - ana).abs() <= 2e-4 + 2e-2 * ana.abs(),
                "k={k} check {i}: numeric {num} vs analytic {ana}"
            );
            if ana.abs() > 1e-4 {
                nonzero += 1;
            }
        }
        assert!(
            nonzero > checks.len() / 2,
            "the check must exercise real gradients"
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        check_gradients(0);
        check_gradients(1);
        check_gradients(2);
    }

    fn small_login() -> login_data::LoginData {
        login_data::generate(&LoginConfig {
            num_users: 120,
            max_events_per_user: 400,
            seed: 3,
            ..Default::default()
        })
    }

    fn small_hp() -> Hyperparameters {
        let mut hp = Hyperparameters::new(240, 16);
        hp.epochs = 4;
        hp.mini_batch_size = 500;
        hp.learning_rate = 0.01;
        hp.random_negative_sampling_rate = 5;
        hp
    }

    #[test]
    fn same_seed_same_weights_whatever_the_threads() {
        let data = small_login();
        let mut hp = small_hp();
        hp.epochs = 1;
        let opts = TrainOptions {
            seed: 9,
            hashed_ip_rows: Some(1024),
            ..Default::default()
        };
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| train(&hp, &data.train, None, &opts, &mut |_| {}).unwrap())
        };
        let a = run(1);
        let b = run(3);
        assert_eq!(a.params, b.params);
        let c = train(
            &hp,
            &data.train,
            None,
            &TrainOptions {
                seed: 10,
                ..opts.clone()
            },
            &mut |_| {},
        )
        .unwrap();
        assert_ne!(a.params, c.params);
    }

    #[test]
    fn shuffled_negatives_skip_the_entitys_own_pairs() {
        // Four entities that all call one shared address, and each its own: a shuffle that
        // hands entity i the shared address (or any address of its own) is no negative.
        let mut hp = tiny_hp(1);
        hp.random_negative_sampling_rate = 0;
        hp.shuffled_negative_sampling_rate = 5;
        let mut t = Trainer::new(&hp, &TrainOptions::default());
        let shared = 0xA9FE_A97B;
        let mut erows = Vec::new();
        let mut pos = Vec::new();
        for e in 0..4u32 {
            for ip in [shared, 0x0A00_0000 + e] {
                erows.push(e);
                pos.push(ip);
            }
        }
        t.positives = erows
            .iter()
            .zip(&pos)
            .map(|(&e, &ip)| u64::from(e) << 32 | u64::from(ip))
            .collect();
        let batch = t.sample(&erows, &pos);
        let (mut kept, mut skipped) = (0, 0);
        for i in 0..erows.len() {
            for slot in 1..batch.per {
                match batch.partner[i * batch.per + slot] {
                    NONE => skipped += 1,
                    j => {
                        kept += 1;
                        let j = j as usize;
                        assert_ne!(pos[j], shared, "entity {} got the shared address", erows[i]);
                        assert_ne!(erows[j], erows[i]);
                    }
                }
            }
        }
        assert!(kept > 0 && skipped > 0, "kept {kept}, skipped {skipped}");
    }

    #[test]
    fn learns_login_patterns() {
        let data = small_login();
        let hp = small_hp();
        let val = Dataset::from_pairs(data.test.iter().map(|(e, ip)| (e.as_str(), *ip)));
        let mut epochs = Vec::new();
        let model = train(
            &hp,
            &data.train,
            Some(&val),
            &TrainOptions::default(),
            &mut |p| {
                if let Progress::Epoch(e) = p {
                    epochs.push(e.clone());
                }
            },
        )
        .unwrap();
        assert_eq!(epochs.len(), 4);
        assert!(epochs[3].loss < epochs[0].loss, "{epochs:?}");
        let ev = eval::evaluate(&model, &data.test, 1);
        let a = ev.auc_random_ip.unwrap();
        assert!(a > 0.9, "random-IP AUC {a} ({ev:?})");
        assert!(epochs[3].validation_auc.unwrap() > 0.9, "{epochs:?}");
        // The model's scorer and the trainer's agree bit for bit.
        let pairs: Vec<(&str, std::net::Ipv4Addr)> = data
            .test
            .iter()
            .take(50)
            .map(|(e, ip)| (e.as_str(), *ip))
            .collect();
        let raw = score_pairs_raw(&model.arch, &model.params, model.known.as_ref(), &pairs);
        let scored: Vec<f64> = model
            .score_pairs(&pairs)
            .iter()
            .map(|s| s.dot_product)
            .collect();
        assert_eq!(raw, scored);
    }
}
