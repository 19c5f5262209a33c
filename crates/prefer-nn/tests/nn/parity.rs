//! Parity with transformers: fixtures from tests/fixtures/hf/make_logps.py
//! (transformers and torch versions recorded in the fixture).

use candle_core::{DType, Tensor};
use prefer_nn::logprobs::{BatchConfig, SeqBatch, logps_from_logits, sequence_logps};
use prefer_nn::model::{CausalLm, LoadOptions};
use prefer_nn::tokenizer::{ChatMessage, Tokenizer, render_chat};
use serde_json::Value;

use super::common::{fixture, stories_dir};

/// Per-token log-probs: both sides compute in f32 with different summation orders
/// (candle's gemm vs MKL/oneDNN), so values agree to a few f32 rounding steps of the
/// logits (|logit| < 20, ulp ≈ 2e-6).
const LOGP_TOL: f32 = 1e-5;
/// Gradients: same, relative to the largest entry of the tensor.
const GRAD_REL_TOL: f32 = 2e-5;

fn load_fixture() -> Value {
    let text = std::fs::read_to_string(fixture("hf/logps.json")).expect("fixture hf/logps.json");
    serde_json::from_str(&text).expect("fixture JSON")
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("ids")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("floats")
        .iter()
        .map(|x| x.as_f64().expect("float") as f32)
        .collect()
}

/// Unmasked per-token log-probs of one unpadded sequence: position i scores token i+1.
fn token_logps(model: &CausalLm, seq: &[u32]) -> prefer_nn::Result<Vec<f32>> {
    let batch = SeqBatch::from_built(
        vec![(seq.to_vec(), 0)],
        &BatchConfig::default(),
        model.device(),
    )?;
    let logits = model.forward(&batch.input_ids, None)?;
    let lp = logps_from_logits(&logits, &batch)?
        .per_token
        .to_dtype(DType::F32)?
        .to_vec2::<f32>()?;
    Ok(lp[0][..seq.len() - 1].to_vec())
}

fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!("{what}: max |diff| {worst:.2e} (tolerance {tol:.1e})");
    assert!(worst <= tol, "{what}: max |diff| {worst} > {tol}");
}

#[test]
fn stories260k_token_logps_and_tokens_match_transformers() -> prefer_nn::Result<()> {
    let Some(dir) = stories_dir() else {
        return Ok(());
    };
    let fx = load_fixture();
    let st = &fx["stories260K"];
    let tok = Tokenizer::from_dir(&dir)?;
    for load in [LoadOptions::frozen(), LoadOptions::trainable()] {
        let model = CausalLm::load(&dir, &load)?;
        for (i, (text, seq)) in st["texts"]
            .as_array()
            .expect("texts")
            .iter()
            .zip(st["sequences"].as_array().expect("sequences"))
            .enumerate()
        {
            let seq = ids(seq);
            assert_eq!(
                tok.encode(text.as_str().expect("text"), true)?,
                seq,
                "text {i}: token ids"
            );
            let got = token_logps(&model, &seq)?;
            assert_close(
                &got,
                &floats(&st["token_logps"][i]),
                LOGP_TOL,
                &format!("sequence {i}"),
            );
        }
    }
    Ok(())
}

#[test]
fn tiny_random_models_match_transformers_logps_and_gradients() -> prefer_nn::Result<()> {
    let fx = load_fixture();
    for case in fx["tiny"].as_array().expect("tiny") {
        let name = case["dir"].as_str().expect("dir");
        let dir = fixture(&format!("hf/{name}"));
        let model = CausalLm::load(&dir, &LoadOptions::trainable())?;
        let seqs: Vec<Vec<u32>> = case["sequences"]
            .as_array()
            .expect("seqs")
            .iter()
            .map(ids)
            .collect();
        let pls: Vec<usize> = case["prompt_lens"]
            .as_array()
            .expect("pl")
            .iter()
            .map(|v| v.as_u64().expect("pl") as usize)
            .collect();
        for (i, s) in seqs.iter().enumerate() {
            let got = token_logps(&model, s)?;
            assert_close(
                &got,
                &floats(&case["token_logps"][i]),
                LOGP_TOL,
                &format!("{name} sequence {i}"),
            );
        }
        // The padded batch with completion masks, as the loss sees it.
        let built = seqs.iter().cloned().zip(pls.iter().copied()).collect();
        let batch = SeqBatch::from_built(built, &BatchConfig::default(), model.device())?;
        let out = sequence_logps(&model, &batch)?;
        let sums = out.sum.to_vec1::<f32>()?;
        assert_close(
            &sums,
            &floats(&case["completion_logps"]),
            LOGP_TOL * 4.0,
            &format!("{name} sums"),
        );
        let w = Tensor::new(floats(&case["row_weights"]).as_slice(), model.device())?;
        let loss = (&out.sum * &w)?.sum_all()?;
        let want_loss = case["loss"].as_f64().expect("loss") as f32;
        assert!(
            (loss.to_scalar::<f32>()? - want_loss).abs() < 1e-4,
            "{name} loss"
        );
        let grads = loss.backward()?;
        let vars = model.vars()?;
        for (pname, g) in case["grads"].as_object().expect("grads") {
            let var = &vars
                .iter()
                .find(|(n, _)| n == pname)
                .unwrap_or_else(|| panic!("{name}: no {pname}"))
                .1;
            let got = grads
                .get(var)
                .unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
            let want = floats(&g["data"]);
            let got = got.flatten_all()?.to_vec1::<f32>()?;
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            assert_close(
                &got,
                &want,
                GRAD_REL_TOL * scale,
                &format!("{name} grad {pname}"),
            );
        }
    }
    Ok(())
}

#[test]
fn chat_templates_render_as_transformers() -> prefer_nn::Result<()> {
    let fx = load_fixture();
    let ct = &fx["chat_templates"];
    let messages: Vec<ChatMessage> =
        serde_json::from_value(ct["messages"].clone()).expect("messages");
    let specials = [
        ("bos_token", Some("<s>".to_string())),
        ("eos_token", Some("</s>".to_string())),
    ];
    for (key, want) in ct["rendered"].as_object().expect("rendered") {
        let (name, add_gen) = key.split_once('/').expect("key");
        let tmpl = ct["templates"][name].as_str().expect("template");
        let got = render_chat(tmpl, &messages, add_gen == "1", &specials)?;
        assert_eq!(got, want.as_str().expect("text"), "template {key}");
    }
    Ok(())
}
