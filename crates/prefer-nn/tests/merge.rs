//! Merges checked against mergekit itself: tests/fixtures/merge/make_fixture.py wrote tiny
//! Llama-shaped models, one mergekit YAML per case and mergekit 0.1.5's merged tensors;
//! here prefer runs the same YAML files and every tensor must agree within 1e-6.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use prefer_nn::merge::{MergeConfig, MergeOptions, run_merge};
use prefer_nn::model::WeightFiles;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/merge")
}

/// A fixture config; its model paths are relative to the fixture folder, where mergekit
/// ran.
fn case(name: &str) -> MergeConfig {
    let mut c =
        MergeConfig::from_file(&fixture().join("configs").join(format!("{name}.yml"))).unwrap();
    c.dir = Some(fixture());
    c
}

/// Largest |ours − theirs| over every tensor; the name sets and shapes must be equal.
fn max_diff(ours: &Path, theirs: &Path) -> f32 {
    let a = WeightFiles::open_dir(ours).unwrap();
    let b = WeightFiles::open_dir(theirs).unwrap();
    assert_eq!(a.names(), b.names(), "{}", theirs.display());
    let mut worst = 0.0f32;
    for n in a.names() {
        assert_eq!(a.info(&n).unwrap().1, b.info(&n).unwrap().1, "{n}");
        let (x, y) = (a.read_f32(&n).unwrap(), b.read_f32(&n).unwrap());
        for (p, q) in x.iter().zip(&y) {
            worst = worst.max((p - q).abs());
        }
    }
    worst
}

fn layers(dir: &Path) -> u64 {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    v["num_hidden_layers"].as_u64().unwrap()
}

#[test]
fn every_case_matches_mergekit_within_1e_6() {
    let dir = fixture();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir.join("configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 16, "{} cases", cases.len());
    let tmp = tempfile::tempdir().unwrap();
    for c in &cases {
        let name = c.file_stem().unwrap().to_string_lossy().into_owned();
        let config = case(&name);
        let out = tmp.path().join(&name);
        let report = run_merge(&config, &out, &MergeOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(report.notes.is_empty(), "{name}: {:?}", report.notes);
        let expected = dir.join("expected").join(&name);
        let d = max_diff(&out, &expected);
        println!(
            "{name:<26} {} tensors, {} layers, max |diff| {d:.2e}",
            report.tensors, report.layers
        );
        assert!(d <= 1e-6, "{name}: max |diff| {d}");
        assert_eq!(layers(&out), layers(&expected), "{name}");
    }
}

#[test]
fn a_sharded_merge_equals_the_single_file_one_and_holds_one_tensor_per_input() {
    let dir = fixture();
    let _ = &dir;
    let config = case("ties");
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one");
    let many = tmp.path().join("many");
    let r1 = run_merge(&config, &one, &MergeOptions::default()).unwrap();
    let opts = MergeOptions {
        out_shard_size: 2048,
        ..Default::default()
    };
    let r2 = run_merge(&config, &many, &opts).unwrap();
    assert_eq!(r1.files.len(), 1);
    assert!(r2.files.len() > 3, "{} shards", r2.files.len());
    assert!(many.join("model.safetensors.index.json").exists());
    assert_eq!(max_diff(&one, &many), 0.0);
    // Streaming: at most one tensor per input (4 models) plus the output and its bytes,
    // far below the 4 models' total.
    let largest = 16 * 8 * 4;
    assert!(
        r1.peak_tensor_bytes <= 6 * largest,
        "{}",
        r1.peak_tensor_bytes
    );
    let total: u64 = r1.bytes_written;
    assert!(
        (r1.peak_tensor_bytes as u64) < total,
        "{} vs {total}",
        r1.peak_tensor_bytes
    );
}

#[test]
fn dare_keeps_the_density_share_of_each_task_vector_reproducibly() {
    let dir = fixture();
    let yaml = "merge_method: dare_linear\nbase_model: models/base\nmodels:\n  - model: models/a\n    parameters: {weight: 1.0, density: 0.5}\nparameters: {rescale: false}\ndtype: float32\n";
    let mut config = MergeConfig::from_yaml(yaml).unwrap();
    config.dir = Some(dir.clone());
    let tmp = tempfile::tempdir().unwrap();
    run_merge(&config, &tmp.path().join("x"), &MergeOptions::default()).unwrap();
    run_merge(&config, &tmp.path().join("y"), &MergeOptions::default()).unwrap();
    assert_eq!(max_diff(&tmp.path().join("x"), &tmp.path().join("y")), 0.0);
    let merged = WeightFiles::open_dir(&tmp.path().join("x")).unwrap();
    let base = WeightFiles::open_dir(&dir.join("models/base")).unwrap();
    let a = WeightFiles::open_dir(&dir.join("models/a")).unwrap();
    let (mut kept, mut total) = (0usize, 0usize);
    for n in merged.names() {
        let (m, b, x) = (
            merged.read_f32(&n).unwrap(),
            base.read_f32(&n).unwrap(),
            a.read_f32(&n).unwrap(),
        );
        for ((m, b), x) in m.iter().zip(&b).zip(&x) {
            // Each entry is either the base (dropped) or the fine-tuned value (kept).
            let dropped = (m - b).abs() < 1e-7;
            assert!(
                dropped || (m - x).abs() < 1e-6,
                "{n}: {m} is neither {b} nor {x}"
            );
            kept += usize::from(!dropped);
            total += 1;
        }
    }
    let share = kept as f64 / total as f64;
    let sd = (0.25 / total as f64).sqrt();
    assert!((share - 0.5).abs() < 5.0 * sd, "kept {share} of {total}");
}

#[test]
fn bad_inputs_name_the_tensor_and_the_file() {
    let dir = fixture();
    let tmp = tempfile::tempdir().unwrap();
    // A truncated shard.
    let cut = tmp.path().join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    let bytes = std::fs::read(dir.join("models/b/model.safetensors")).unwrap();
    std::fs::write(cut.join("model.safetensors"), &bytes[..bytes.len() - 100]).unwrap();
    std::fs::copy(dir.join("models/b/config.json"), cut.join("config.json")).unwrap();
    let yaml = format!(
        "merge_method: linear\nmodels:\n  - model: {}\n    parameters: {{weight: 1}}\n  - model: {}\n    parameters: {{weight: 1}}\n",
        dir.join("models/a").display(),
        cut.display()
    );
    let e = run_merge(
        &MergeConfig::from_yaml(&yaml).unwrap(),
        &tmp.path().join("o"),
        &MergeOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("cut/model.safetensors") && e.contains("tensor `"),
        "{e}"
    );
    // Different architectures: a model with a wider embedding.
    let wide = tmp.path().join("wide");
    std::fs::create_dir_all(&wide).unwrap();
    let w = WeightFiles::open_dir(&dir.join("models/a")).unwrap();
    let tensors: Vec<(String, candle_core::Tensor)> = w
        .names()
        .into_iter()
        .map(|n| {
            let (_, shape) = w.info(&n).unwrap();
            let mut shape = shape.to_vec();
            if n == "model.norm.weight" {
                shape[0] += 1;
            }
            let t = candle_core::Tensor::zeros(
                shape,
                candle_core::DType::F32,
                &candle_core::Device::Cpu,
            )
            .unwrap();
            (n, t)
        })
        .collect();
    prefer_nn::model::save_safetensors(&wide.join("model.safetensors"), &tensors).unwrap();
    let yaml = format!(
        "merge_method: linear\nmodels:\n  - model: {}\n    parameters: {{weight: 1}}\n  - model: {}\n    parameters: {{weight: 1}}\n",
        dir.join("models/a").display(),
        wide.display()
    );
    let e = run_merge(
        &MergeConfig::from_yaml(&yaml).unwrap(),
        &tmp.path().join("o2"),
        &MergeOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("model.norm.weight") && e.contains("[9]") && e.contains("[8]"),
        "{e}"
    );
    // A missing required parameter names the model and the tensor.
    let yaml = format!(
        "merge_method: ties\nbase_model: {b}\nmodels:\n  - model: {a}\n    parameters: {{density: 0.5}}\n",
        b = dir.join("models/base").display(),
        a = dir.join("models/a").display()
    );
    let e = run_merge(
        &MergeConfig::from_yaml(&yaml).unwrap(),
        &tmp.path().join("o3"),
        &MergeOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("missing required parameter `weight`") && e.contains("models/a"),
        "{e}"
    );
    // A method without its base, and an unknown method.
    let yaml = format!(
        "merge_method: slerp\nmodels:\n  - model: {a}\n  - model: {a}\nparameters: {{t: 0.5}}\n",
        a = dir.join("models/a").display()
    );
    let e = run_merge(
        &MergeConfig::from_yaml(&yaml).unwrap(),
        &tmp.path().join("o4"),
        &MergeOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("needs `base_model`"), "{e}");
    let yaml = yaml.replace("slerp", "karcher");
    let e = run_merge(
        &MergeConfig::from_yaml(&yaml).unwrap(),
        &tmp.path().join("o5"),
        &MergeOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("`karcher`") && e.contains("ties"), "{e}");
    // Nothing was left behind under a temporary name.
    for o in ["o", "o2", "o3", "o4", "o5"] {
        let d = tmp.path().join(o);
        if d.exists() {
            let left: Vec<_> = std::fs::read_dir(&d)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert!(
                left.iter().all(|f| !f.to_string_lossy().contains(".tmp")),
                "{left:?}"
            );
        }
    }
}
