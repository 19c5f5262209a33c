//! Gradients: every parameter receives one, and they match central finite differences.

use candle_core::{DType, Tensor};
use prefer_nn::logprobs::{BatchConfig, PaddingSide, PairBatch, PairIds, pair_logps};
use prefer_nn::model::{CausalLm, Family, InitConfig, LoadOptions, ModelConfig};

/// Central differences in f64 with step 1e-5: truncation error O(h²·L''') ≈ 1e-10 and
/// rounding error O(ε·L/h) ≈ 1e-11 on losses of order 1, so 1e-6 relative is loose.
const FD_STEP: f64 = 1e-5;
const FD_REL_TOL: f64 = 1e-6;

fn configs() -> Vec<ModelConfig> {
    // Llama: GQA, all biases, untied. Qwen2: q/k/v biases, tied embeddings, 1 KV head.
    let mut llama = ModelConfig::tiny(37, 16, 2, 4, 2);
    llama.attention_bias = true;
    llama.mlp_bias = true;
    let mut qwen = ModelConfig::tiny(29, 12, 2, 3, 1);
    qwen.model_type = Family::Qwen2;
    qwen.tie_word_embeddings = true;
    qwen.intermediate_size = 20;
    vec![llama, qwen]
}

/// A random model whose norm weights and biases are also random (so their gradients
/// are exercised away from the 1/0 initialisation).
fn model(cfg: &ModelConfig, dtype: DType, seed: u64) -> prefer_nn::Result<CausalLm> {
    use rand::SeedableRng;
    use rand_distr::Distribution;
    let m = CausalLm::random(
        cfg,
        &InitConfig { seed, std: 0.3 },
        &LoadOptions::trainable().with_dtype(dtype),
    )?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed + 1);
    let normal = rand_distr::Normal::new(0.0, 0.25).expect("normal");
    for (name, var) in m.vars()? {
        let base = if name.ends_with("norm.weight") {
            1.0
        } else if name.ends_with(".bias") {
            0.0
        } else {
            continue;
        };
        let v: Vec<f64> = (0..var.elem_count())
            .map(|_| base + normal.sample(&mut rng))
            .collect();
        var.set(&Tensor::from_vec(v, var.shape(), var.device())?.to_dtype(dtype)?)?;
    }
    Ok(m)
}

fn batch(m: &CausalLm, side: PaddingSide) -> prefer_nn::Result<PairBatch> {
    let v = m.config().vocab_size as u32;
    let t = |xs: &[u32]| xs.iter().map(|x| x % v).collect::<Vec<_>>();
    let pairs = vec![
        PairIds {
            prompt: t(&[1, 5, 9, 14]),
            chosen: t(&[20, 3, 7]),
            rejected: t(&[11, 4, 8, 19, 22, 6]),
        },
        PairIds {
            prompt: t(&[1, 17]),
            chosen: t(&[25, 26, 27, 12, 9]),
            rejected: t(&[10]),
        },
    ];
    let cfg = BatchConfig {
        bos_id: Some(1),
        eos_id: Some(2),
        padding_side: side,
        ..Default::default()
    };
    PairBatch::new(&pairs, &cfg, m.device())
}

/// A DPO-like scalar: −Σ log σ(chosen − rejected) + 0.1 · chosen NLL.
fn loss(m: &CausalLm, b: &PairBatch) -> prefer_nn::Result<Tensor> {
    let out = pair_logps(m, b)?;
    let margin = (&out.chosen - &out.rejected)?;
    let logsig = candle_nn::ops::sigmoid(&margin)?.log()?;
    Ok((logsig.sum_all()?.neg()? + (out.chosen_nll * 0.1)?)?)
}

#[test]
fn every_parameter_gets_a_finite_nonzero_gradient() -> prefer_nn::Result<()> {
    for cfg in configs() {
        for dtype in [DType::F32, DType::F64] {
            for side in [PaddingSide::Right, PaddingSide::Left] {
                let m = model(&cfg, dtype, 7)?;
                let b = batch(&m, side)?;
                let grads = loss(&m, &b)?.backward()?;
                let vars = m.vars()?;
                assert_eq!(vars.len(), prefer_nn::model::parameter_shapes(&cfg).len());
                for (name, var) in vars {
                    let g = grads.get(&var).unwrap_or_else(|| {
                        panic!("{:?} {dtype:?}: no gradient reaches {name}", cfg.model_type)
                    });
                    let g = g.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
                    assert!(
                        g.iter().all(|x| x.is_finite()),
                        "{name}: non-finite gradient"
                    );
                    let max = g.iter().fold(0f64, |a, x| a.max(x.abs()));
                    assert!(
                        max > 0.0,
                        "{:?} {dtype:?} {side:?}: zero gradient for {name}",
                        cfg.model_type
                    );
                }
            }
        }
    }
    Ok(())
}

#[test]
fn gradients_match_central_finite_differences() -> prefer_nn::Result<()> {
    for cfg in configs() {
        let m = model(&cfg, DType::F64, 3)?;
        let b = batch(&m, PaddingSide::Left)?;
        let l0 = loss(&m, &b)?;
        let grads = l0.backward()?;
        for (name, var) in m.vars()? {
            let g = grads
                .get(&var)
                .expect("gradient")
                .flatten_all()?
                .to_vec1::<f64>()?;
            let n = g.len();
            // Three entries per parameter, spread over the tensor.
            for idx in [0, n / 2, n - 1] {
                let orig = var.as_tensor().flatten_all()?.to_vec1::<f64>()?;
                let eval = |delta: f64| -> prefer_nn::Result<f64> {
                    let mut p = orig.clone();
                    p[idx] += delta;
                    var.set(&Tensor::from_vec(p, var.shape(), var.device())?)?;
                    Ok(loss(&m, &b)?.to_scalar::<f64>()?)
                };
                let fd = (eval(FD_STEP)? - eval(-FD_STEP)?) / (2.0 * FD_STEP);
                var.set(&Tensor::from_vec(orig, var.shape(), var.device())?)?;
                let err = (fd - g[idx]).abs() / fd.abs().max(g[idx].abs()).max(1e-3);
                assert!(
                    err < FD_REL_TOL,
                    "{:?} {name}[{idx}]: autograd {} vs finite differences {fd} (rel {err:e})",
                    cfg.model_type,
                    g[idx]
                );
            }
        }
    }
    Ok(())
}

/// `sequence_logps` runs the LM head on completion positions only; it must give what
/// the full `[n, t, vocab]` logits give, values and gradients (f64, both paddings, tied
/// and untied heads).
#[test]
fn completion_only_head_equals_the_full_logits_path() -> prefer_nn::Result<()> {
    use prefer_nn::logprobs::{logps_from_logits, sequence_logps};
    let close = |a: &Tensor, b: &Tensor, what: &str| -> prefer_nn::Result<()> {
        let a = a.flatten_all()?.to_vec1::<f64>()?;
        let b = b.flatten_all()?.to_vec1::<f64>()?;
        assert_eq!(a.len(), b.len(), "{what}");
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                "{what}: {x} vs {y}"
            );
        }
        Ok(())
    };
    for cfg in configs() {
        for side in [PaddingSide::Right, PaddingSide::Left] {
            let m = model(&cfg, DType::F64, 11)?;
            let b = &batch(&m, side)?.seqs;
            let fast = sequence_logps(&m, b)?;
            let full = logps_from_logits(&m.forward_rows(&b.input_ids, b.real())?, b)?;
            close(&fast.sum, &full.sum, "sum")?;
            close(&fast.count, &full.count, "count")?;
            close(&fast.per_token, &full.per_token, "per_token")?;
            close(&fast.logits_sum, &full.logits_sum, "logits_sum")?;
            // A loss that reads the sums and the per-token values.
            let l = |o: &prefer_nn::logprobs::SeqLogps| -> prefer_nn::Result<Tensor> {
                Ok(((o.sum.sqr()?.sum_all()? * 0.5)? + o.per_token.exp()?.sum_all()?)?)
            };
            let (gf, gs) = (l(&fast)?.backward()?, l(&full)?.backward()?);
            for (name, var) in m.vars()? {
                let (a, b) = (gf.get(&var), gs.get(&var));
                let (Some(a), Some(b)) = (a, b) else {
                    panic!("{name}: gradient on one path only");
                };
                close(a, b, &name)?;
            }
        }
    }
    Ok(())
}

/// Gradient checkpointing: the loss's backward gives the head's gradients, then
/// `backward_checkpointed` rebuilds each layer; together they must equal the plain
/// backward (f64; two forwards before one backward; tied and untied heads).
#[test]
fn checkpointed_backward_equals_the_plain_backward() -> prefer_nn::Result<()> {
    for cfg in configs() {
        for side in [PaddingSide::Right, PaddingSide::Left] {
            let plain = model(&cfg, DType::F64, 5)?;
            let mut ckpt = plain.clone();
            ckpt.set_gradient_checkpointing(true);
            let b = batch(&plain, side)?;
            // Two forwards feed one loss (as KTO's KL batch does).
            let two = |m: &prefer_nn::model::CausalLm| -> prefer_nn::Result<Tensor> {
                Ok((loss(m, &b)? + (loss(m, &b)? * 0.5)?)?)
            };
            let want = two(&plain)?.backward()?;
            let l = two(&ckpt)?;
            let head = l.backward()?;
            let vars = ckpt.vars()?;
            let mut got: Vec<Option<Tensor>> = vec![None; vars.len()];
            let mut add = |g: &candle_core::backprop::GradStore| -> prefer_nn::Result<()> {
                for ((_, v), slot) in vars.iter().zip(got.iter_mut()) {
                    if let Some(x) = g.get(v) {
                        *slot = Some(match slot.take() {
                            None => x.clone(),
                            Some(a) => (a + x)?,
                        });
                    }
                }
                Ok(())
            };
            add(&head)?;
            ckpt.backward_checkpointed(&head, &mut add)?;
            for ((name, v), g) in vars.iter().zip(&got) {
                let w = want.get(v).expect("plain gradient");
                let g = g
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name}: no checkpointed gradient"));
                let (w, g) = (
                    w.flatten_all()?.to_vec1::<f64>()?,
                    g.flatten_all()?.to_vec1::<f64>()?,
                );
                for (a, e) in g.iter().zip(&w) {
                    assert!(
                        (a - e).abs() <= 1e-11 * (1.0 + e.abs()),
                        "{name}: {a} vs {e}"
                    );
                }
            }
            // The pending checkpoints were consumed: a second call adds nothing.
            let mut calls = 0;
            ckpt.backward_checkpointed(&head, |_| -> prefer_nn::Result<()> {
                calls += 1;
                Ok(())
            })?;
            assert_eq!(calls, 0);
        }
    }
    Ok(())
}
