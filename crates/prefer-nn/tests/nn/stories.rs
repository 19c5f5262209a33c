//! The real pretrained stories260K model: generation, tokenizer, padding invariance.

use candle_core::{DType, Tensor};
use prefer_nn::model::{CausalLm, LoadOptions};
use prefer_nn::sample::{SampleConfig, generate};
use prefer_nn::tokenizer::Tokenizer;

use super::common::stories_dir;

/// The greedy sample from BOS quoted in ../shared/data/README.md (Karpathy's llama2.c
/// stories260K).
const KNOWN_SAMPLE: &str = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball";

#[test]
fn greedy_from_bos_reproduces_the_known_sample() -> prefer_nn::Result<()> {
    let Some(dir) = stories_dir() else {
        return Ok(());
    };
    let model = CausalLm::load(&dir, &LoadOptions::frozen())?;
    let tok = Tokenizer::from_dir(&dir)?;
    let bos = tok.bos_id().expect("bos");
    let cfg = SampleConfig {
        temperature: 0.0,
        max_new_tokens: 60,
        ..Default::default()
    };
    let out = generate(&model, &[vec![bos]], &[tok.eos_id().expect("eos")], &cfg)?;
    let text = tok.decode(&out[0].tokens, true)?;
    assert!(
        text.starts_with(KNOWN_SAMPLE),
        "greedy sample differs:\n got: {text}\nwant: {KNOWN_SAMPLE}..."
    );
    Ok(())
}

#[test]
fn trainable_load_greedy_matches_and_batched_generation_matches_single() -> prefer_nn::Result<()> {
    let Some(dir) = stories_dir() else {
        return Ok(());
    };
    let model = CausalLm::load(&dir, &LoadOptions::trainable())?;
    let tok = Tokenizer::from_dir(&dir)?;
    let eos = tok.eos_id().expect("eos");
    let cfg = SampleConfig {
        temperature: 0.0,
        max_new_tokens: 24,
        ..Default::default()
    };
    let prompts = vec![
        tok.encode("Once upon a time", true)?,
        tok.encode("Tom had a dog named Max. One day", true)?,
        vec![1],
    ];
    let batched = generate(&model, &prompts, &[eos], &cfg)?;
    for (p, b) in prompts.iter().zip(&batched) {
        let single = generate(&model, std::slice::from_ref(p), &[eos], &cfg)?;
        assert_eq!(
            (&single[0].tokens, single[0].stopped_at_eos),
            (&b.tokens, b.stopped_at_eos),
            "prompt {p:?}: batched decoding differs from single"
        );
        // Padding changes the f32 summation order only.
        for (x, y) in single[0].logprobs.iter().zip(&b.logprobs) {
            assert!(
                (x - y).abs() < 1e-3,
                "prompt {p:?}: log-prob {x} vs batched {y}"
            );
        }
    }
    let text = tok.decode(&batched[2].tokens, true)?;
    assert!(KNOWN_SAMPLE.starts_with(text.trim()), "{text}");
    Ok(())
}

#[test]
fn kv_cache_logits_equal_full_forward() -> prefer_nn::Result<()> {
    let Some(dir) = stories_dir() else {
        return Ok(());
    };
    let model = CausalLm::load(&dir, &LoadOptions::frozen())?;
    let ids: Vec<u32> = vec![1, 403, 407, 261, 378, 285, 269, 300];
    let full = model.forward(
        &Tensor::new(ids.as_slice(), model.device())?.unsqueeze(0)?,
        None,
    )?;
    let mut cache = prefer_nn::model::KvCache::new(&model, 1);
    let pre = model.step(
        &Tensor::new(&ids[..3], model.device())?.unsqueeze(0)?,
        None,
        &mut cache,
    )?;
    let mut last = vec![pre];
    for &t in &ids[3..] {
        last.push(model.step(
            &Tensor::new(&[t], model.device())?.unsqueeze(0)?,
            None,
            &mut cache,
        )?);
    }
    for (k, l) in last.iter().enumerate() {
        let pos = k + 2;
        let want = full.get(0)?.get(pos)?;
        let diff = (l.squeeze(0)? - want)?
            .abs()?
            .max(0)?
            .to_dtype(DType::F32)?
            .to_scalar::<f32>()?;
        // f32 rounding of a different summation order only.
        assert!(
            diff < 1e-4,
            "position {pos}: cached logits differ by {diff}"
        );
    }
    Ok(())
}

#[test]
fn tokenizer_round_trip_and_bos() -> prefer_nn::Result<()> {
    let Some(dir) = stories_dir() else {
        return Ok(());
    };
    let tok = Tokenizer::from_dir(&dir)?;
    assert_eq!(tok.bos_id(), Some(1));
    assert_eq!(tok.eos_id(), Some(2));
    let text = "Lily saw a big, red ball.";
    let ids = tok.encode(text, true)?;
    assert_eq!(ids[0], 1);
    assert_eq!(tok.encode(text, false)?, ids[1..].to_vec());
    assert_eq!(tok.decode(&ids, true)?, text);
    Ok(())
}

#[test]
fn pair_logps_equal_single_sequence_logps_on_either_padding_side() -> prefer_nn::Result<()> {
    use prefer_nn::logprobs::{
        BatchConfig, PaddingSide, PairBatch, PairIds, SeqBatch, SeqIds, pair_logps, sequence_logps,
    };
    let Some(dir) = stories_dir() else {
        return Ok(());
    };
    let model = CausalLm::load(&dir, &LoadOptions::trainable())?;
    let tok = Tokenizer::from_dir(&dir)?;
    let pairs = vec![
        PairIds {
            prompt: tok.encode("Once upon a time", true)?,
            chosen: tok.encode("there was a little girl", false)?,
            rejected: tok.encode("the ball flew away into the big sky", false)?,
        },
        PairIds {
            prompt: tok.encode("Tom and his dog went to the park to play", true)?,
            chosen: tok.encode("They had fun.", false)?,
            rejected: tok.encode("Sad", false)?,
        },
    ];
    for side in [PaddingSide::Right, PaddingSide::Left] {
        let cfg = BatchConfig {
            bos_id: Some(1),
            eos_id: Some(2),
            padding_side: side,
            ..Default::default()
        };
        let batch = PairBatch::new(&pairs, &cfg, model.device())?;
        let out = pair_logps(&model, &batch)?;
        let chosen = out.chosen.to_vec1::<f32>()?;
        let rejected = out.rejected.to_vec1::<f32>()?;
        for (i, p) in pairs.iter().enumerate() {
            for (comp, got) in [(&p.chosen, chosen[i]), (&p.rejected, rejected[i])] {
                let one = SeqBatch::new(
                    &[SeqIds {
                        prompt: p.prompt.clone(),
                        completion: comp.clone(),
                    }],
                    &cfg,
                    model.device(),
                )?;
                let want = sequence_logps(&model, &one)?.sum.to_vec1::<f32>()?[0];
                // Same math, a different batch shape: f32 rounding only.
                assert!(
                    (got - want).abs() < 1e-4,
                    "{side:?} pair {i}: {got} vs alone {want}"
                );
                assert!(got < 0.0);
            }
        }
        let lens = out.chosen_len.to_vec1::<f32>()?;
        assert_eq!(
            lens,
            vec![
                (pairs[0].chosen.len() + 1) as f32,
                (pairs[1].chosen.len() + 1) as f32
            ]
        );
    }
    Ok(())
}

/// The sampling log-probs that `generate` returns are the log-probs a full forward of the
/// prompt + completion gives the same tokens (KV-cached, left-padded batch vs one
/// unpadded forward per row), at temperature 1.
#[test]
fn generation_logprobs_equal_a_full_forward() -> prefer_nn::Result<()> {
    use prefer_nn::logprobs::{BatchConfig, SeqBatch, SeqIds, sequence_logps};
    let Some(dir) = stories_dir() else {
        return Ok(());
    };
    let model = CausalLm::load(&dir, &LoadOptions::frozen())?;
    let tok = Tokenizer::from_dir(&dir)?;
    let eos = tok.eos_id().expect("eos");
    let cfg = SampleConfig {
        temperature: 1.0,
        max_new_tokens: 20,
        seed: 3,
        ..Default::default()
    };
    let prompts = vec![
        tok.encode("Once upon a time", true)?,
        tok.encode("Tom had a dog named Max. One day", true)?,
        vec![1],
    ];
    let out = generate(&model, &prompts, &[eos], &cfg)?;
    let bc = BatchConfig::default();
    for (p, g) in prompts.iter().zip(&out) {
        assert_eq!(g.tokens.len(), g.logprobs.len());
        let seq = SeqIds {
            prompt: p.clone(),
            completion: g.tokens.clone(),
        };
        let batch = SeqBatch::new(&[seq], &bc, model.device())?;
        let lp = sequence_logps(&model, &batch)?;
        let row = lp
            .per_token
            .to_dtype(DType::F64)?
            .to_vec2::<f64>()?
            .remove(0);
        let full: Vec<f64> = row[p.len() - 1..p.len() - 1 + g.tokens.len()].to_vec();
        for (i, (a, b)) in g.logprobs.iter().zip(&full).enumerate() {
            assert!(
                (*a as f64 - b).abs() < 1e-3,
                "token {i}: sampled log-prob {a} vs full forward {b}"
            );
        }
    }
    Ok(())
}
