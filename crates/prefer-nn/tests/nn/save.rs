//! Saving and loading: round trips, sharded checkpoints, errors that name file and key.

use candle_core::{DType, Tensor};
use prefer_nn::model::{CausalLm, InitConfig, LoadOptions, ModelConfig, save_safetensors};

use super::common::{fixture, stories_dir};

fn logits(m: &CausalLm) -> prefer_nn::Result<Vec<f32>> {
    let ids = Tensor::new(&[[1u32, 5, 9, 14, 3, 7]], m.device())?;
    Ok(m.forward(&ids, None)?
        .flatten_all()?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?)
}

#[test]
fn save_pretrained_round_trips_and_keeps_config_and_tokenizer() -> prefer_nn::Result<()> {
    let Some(dir) = stories_dir() else {
        return Ok(());
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let m = CausalLm::load(&dir, &LoadOptions::trainable())?;
    // For the by-hand check that transformers loads what we write (make_logps.py
    // --check-saved DIR): PREFER_NN_SAVE_TO=DIR cargo test ... save_pretrained_round_trips
    if let Ok(out) = std::env::var("PREFER_NN_SAVE_TO") {
        m.save_pretrained(out.as_ref())?;
    }
    // Change a weight through its Var, as an optimizer would, then save.
    let (_, var) = m
        .vars()?
        .into_iter()
        .find(|(n, _)| n == "model.norm.weight")
        .expect("var");
    var.set(&(var.as_tensor() * 1.5)?)?;
    m.save_pretrained(tmp.path())?;
    let back = CausalLm::load(tmp.path(), &LoadOptions::frozen())?;
    assert_eq!(
        logits(&m)?,
        logits(&back)?,
        "bit-identical after a round trip"
    );
    assert_ne!(
        logits(&back)?,
        logits(&CausalLm::load(&dir, &LoadOptions::frozen())?)?
    );
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        assert!(tmp.path().join(f).exists(), "{f} copied");
    }
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("config.json")).expect("config"),
    )
    .expect("json");
    assert_eq!(cfg["architectures"][0], "LlamaForCausalLM");
    assert_eq!(cfg["intermediate_size"], 172);
    Ok(())
}

#[test]
fn sharded_checkpoint_with_index_loads_like_one_file() -> prefer_nn::Result<()> {
    let src = fixture("hf/tiny_llama");
    let m = CausalLm::load(&src, &LoadOptions::frozen())?;
    let tmp = tempfile::tempdir().expect("tempdir");
    let params = m.state_dict();
    let (a, b) = params.split_at(params.len() / 2);
    save_safetensors(&tmp.path().join("model-00001-of-00002.safetensors"), a)?;
    save_safetensors(&tmp.path().join("model-00002-of-00002.safetensors"), b)?;
    let mut map = serde_json::Map::new();
    for (name, part) in a
        .iter()
        .map(|p| (&p.0, 1))
        .chain(b.iter().map(|p| (&p.0, 2)))
    {
        map.insert(
            name.clone(),
            format!("model-0000{part}-of-00002.safetensors").into(),
        );
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(
        tmp.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .expect("index");
    std::fs::copy(src.join("config.json"), tmp.path().join("config.json")).expect("config");
    let back = CausalLm::load(tmp.path(), &LoadOptions::trainable())?;
    assert_eq!(logits(&m)?, logits(&back)?);
    // Tied embeddings: no lm_head.weight stored.
    assert!(m.config().tie_word_embeddings && !params.iter().any(|(n, _)| n == "lm_head.weight"));
    Ok(())
}

#[test]
fn errors_name_the_file_and_the_key() -> prefer_nn::Result<()> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = tmp.path();
    // A config without hidden_size.
    std::fs::write(
        p.join("config.json"),
        r#"{"model_type": "llama", "vocab_size": 10}"#,
    )
    .expect("w");
    let err = CausalLm::load(p, &LoadOptions::frozen())
        .expect_err("missing field")
        .to_string();
    assert!(
        err.contains("config.json") && err.contains("hidden_size"),
        "{err}"
    );
    // An unsupported activation names the key.
    let mut cfg = ModelConfig::tiny(11, 8, 1, 2, 1);
    cfg.hidden_act = "gelu".into();
    let err = cfg.validate().expect_err("gelu").to_string();
    assert!(err.contains("hidden_act"), "{err}");
    // A checkpoint missing one tensor.
    let cfg = ModelConfig::tiny(11, 8, 1, 2, 1);
    let m = CausalLm::random(&cfg, &InitConfig::default(), &LoadOptions::frozen())?;
    let params: Vec<_> = m
        .state_dict()
        .into_iter()
        .filter(|(n, _)| !n.contains("0.mlp.up_proj"))
        .collect();
    save_safetensors(&p.join("model.safetensors"), &params)?;
    std::fs::write(
        p.join("config.json"),
        serde_json::to_string(&cfg).expect("json"),
    )
    .expect("w");
    let err = CausalLm::load(p, &LoadOptions::frozen())
        .expect_err("missing tensor")
        .to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("model.layers.0.mlp.up_proj.weight"),
        "{err}"
    );
    // A tensor of the wrong shape.
    let mut cfg2 = cfg.clone();
    cfg2.intermediate_size += 1;
    std::fs::write(
        p.join("config.json"),
        serde_json::to_string(&cfg2).expect("json"),
    )
    .expect("w");
    let err = CausalLm::load(p, &LoadOptions::frozen())
        .expect_err("shape")
        .to_string();
    assert!(err.contains("shape"), "{err}");
    Ok(())
}
