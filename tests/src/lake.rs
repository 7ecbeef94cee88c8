//! A simulated lake in moto with a model trained on its clean days, shared by the end-to-end
//! tests of the handler (in process) and of the built function (through the Runtime API).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use ipinsights::{Dataset, Hyperparameters, Model, TrainOptions};
use seclake::simulate::{Manifest, SimConfig};
use seclake::{ExtractOptions, ReadOptions, Source, extract_local};

use crate::{put_object, s3_client};

pub struct Lake {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub manifest: Manifest,
    pub model: Arc<Model>,
    /// Objects of the anomaly days (bucket, key, local path).
    pub scored_objects: Vec<(String, String, PathBuf)>,
}

/// Simulates a lake, uploads it to moto (once per test process) and trains a small model on
/// the clean days.
pub fn lake(endpoint: &str) -> &'static Lake {
    static LAKE: OnceLock<Lake> = OnceLock::new();
    LAKE.get_or_init(|| {
        let endpoint = endpoint.to_string();
        // A runtime of its own: this may run inside a test's runtime.
        std::thread::spawn(move || build_lake(&endpoint))
            .join()
            .expect("lake set-up")
    })
}

fn build_lake(endpoint: &str) -> Lake {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let cfg = SimConfig {
        seed: 7,
        days: 3,
        accounts: 2,
        instances: 24,
        rows_per_object: 4_000,
        anomalies: 8,
        ..SimConfig::default()
    };
    seclake::simulate::simulate(&cfg, &root).unwrap();
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let first_day = manifest.start_day.clone();
    let last_day = manifest
        .objects
        .iter()
        .map(|o| o.day.clone())
        .max()
        .unwrap();

    let mut train = Dataset::new();
    let mut scored_objects = Vec::new();
    for o in &manifest.objects {
        let path = root.join(&o.path);
        if o.day == first_day {
            let set = extract_local(
                &path,
                &Source::native(&o.source),
                &ExtractOptions::default(),
                &ReadOptions::default(),
            )
            .unwrap();
            // Instances and their groups, as `ipinsights prepare` trains them.
            for p in &set.pairs {
                for _ in 0..p.count.min(20) {
                    train.push(&p.entity, p.ip);
                    if let Some(g) = &p.group {
                        train.push(g, p.ip);
                    }
                }
            }
        }
        if o.day == last_day {
            scored_objects.push((o.bucket.clone(), o.key.clone(), path));
        }
    }
    let mut hp = Hyperparameters::new(2 * train.entities().len() as u64, 16);
    hp.epochs = 4;
    hp.mini_batch_size = 256;
    hp.learning_rate = 0.01;
    let model =
        ipinsights::train::train(&hp, &train, None, &TrainOptions::default(), &mut |_| {}).unwrap();
    let model_bytes = model.to_bytes().unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s3 = s3_client(endpoint);
        for o in &manifest.objects {
            put_object(
                &s3,
                &o.bucket,
                &o.key,
                std::fs::read(root.join(&o.path)).unwrap(),
            )
            .await;
        }
        put_object(
            &s3,
            "ipinsights-models",
            "lambda-e2e/model.safetensors",
            model_bytes.clone(),
        )
        .await;
    });
    Lake {
        _dir: dir,
        root,
        manifest,
        model: Arc::new(model),
        scored_objects,
    }
}

impl Lake {
    /// The anomalies the handler must report for `objects`: scored with the same model here. With
    /// `knows_entities` (an embedded model, or an endpoint given the trained entity list) a pair is
    /// scored as its instance and its group, the higher of the two, or as its group alone for an
    /// instance the model never saw; without it (an endpoint alone), as its instance.
    pub fn expected_anomalies(
        &self,
        objects: &[(String, String, PathBuf)],
        threshold: f64,
        knows_entities: bool,
    ) -> BTreeSet<(String, String, String)> {
        let mut out = BTreeSet::new();
        for (_, key, path) in objects {
            let source = seclake::LakeKey::parse(key).unwrap().source;
            let set = extract_local(
                path,
                &source,
                &ExtractOptions::default(),
                &ReadOptions::default(),
            )
            .unwrap();
            for p in &set.pairs {
                let known = |e: &str| self.model.is_seen(e);
                let mut entities: Vec<&str> = Vec::new();
                if !knows_entities || known(&p.entity) {
                    entities.push(&p.entity);
                }
                if knows_entities && let Some(g) = p.group.as_deref().filter(|g| known(g)) {
                    entities.push(g);
                }
                let Some(score) = entities
                    .iter()
                    .map(|e| self.model.score(e, p.ip).dot_product)
                    .reduce(f64::max)
                else {
                    continue;
                };
                if score < threshold {
                    out.insert((key.clone(), p.entity.to_string(), p.ip.to_string()));
                }
            }
        }
        out
    }
}
