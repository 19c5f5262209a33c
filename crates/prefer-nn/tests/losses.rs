//! The loss library against TRL's own loss code (fixtures) and against finite differences.
//!
//! `tests/fixtures/trl/fixtures.json` is written by `tests/fixtures/trl/make_fixtures.py`,
//! which calls TRL's trainer loss methods on the batches stored in the file (see the script
//! and `docs/losses.md` for the command and versions).

// Everything sits in `mod loss` so that `cargo test -p prefer-nn loss` selects it.
mod loss {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use candle_core::{DType, Device, Tensor, Var};
    use prefer_nn::loss::{
        BradleyTerryConfig, Mixture, PairLogps, PairLoss, ProConfig, RankedLogps, RewardPair,
        RunningMoments, UnpairedLogps, UnpairedLoss, bco, bradley_terry, pro,
    };
    use prefer_nn::{Error, Result};
    use serde_json::Value;

    /// Agreement with TRL, relative to max(1, |value|): the issue's 1e-5. Inputs are f64 and
    /// TRL runs in f64 except ORPO (TRL casts to f32) and BCO's running mean (TRL updates it in
    /// f32); the largest deviation observed is printed by the test.
    const TRL_TOL: f64 = 1e-5;

    /// Central differences in f64 with step [`FD_STEP`]: truncation O(h²·f''') and rounding
    /// O(ε·|f|/h) are both ~1e-10 here; 1e-6 relative leaves a wide margin.
    const FD_TOL: f64 = 1e-6;
    /// Finite-difference step.
    const FD_STEP: f64 = 1e-5;

    fn fixtures() -> Result<Value> {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trl/fixtures.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::File(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| Error::File(format!("{}: {e}", path.display())))
    }

    fn vec_f64(v: &Value, key: &str) -> Result<Vec<f64>> {
        v.get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Invalid(format!("fixture: missing array {key}")))?
            .iter()
            .map(|x| {
                x.as_f64()
                    .ok_or_else(|| Error::Invalid(format!("fixture: {key}: not a number")))
            })
            .collect()
    }

    fn tensor(v: &Value, key: &str) -> Result<Tensor> {
        Ok(Tensor::new(vec_f64(v, key)?.as_slice(), &Device::Cpu)?)
    }

    fn pair_batch(b: &Value) -> Result<PairLogps> {
        Ok(PairLogps::new(
            tensor(b, "policy_chosen")?,
            tensor(b, "policy_rejected")?,
            tensor(b, "chosen_len")?,
            tensor(b, "rejected_len")?,
        )
        .with_reference(tensor(b, "ref_chosen")?, tensor(b, "ref_rejected")?)
        .with_soft_label(tensor(b, "soft_label")?))
    }

    fn unpaired_batch(b: &Value) -> Result<UnpairedLogps> {
        let desirable = b["desirable"]
            .as_array()
            .ok_or_else(|| Error::Invalid("fixture: desirable".into()))?
            .iter()
            .map(|x| x.as_bool().unwrap_or(false))
            .collect();
        Ok(
            UnpairedLogps::new(tensor(b, "policy")?, tensor(b, "reference")?, desirable)
                .with_kl(tensor(b, "kl_policy")?, tensor(b, "kl_reference")?),
        )
    }

    fn mean(t: &Tensor) -> Result<f64> {
        Ok(t.mean_all()?.to_scalar::<f64>()?)
    }

    fn masked_mean(t: &Tensor, mask: &[bool], want: bool) -> Result<Option<f64>> {
        let v = t.to_vec1::<f64>()?;
        let sel: Vec<f64> = v
            .iter()
            .zip(mask)
            .filter(|(_, m)| **m == want)
            .map(|(x, _)| *x)
            .collect();
        Ok((!sel.is_empty()).then(|| sel.iter().sum::<f64>() / sel.len() as f64))
    }

    /// Records the worst relative deviation while asserting each value.
    struct Checker {
        worst: f64,
        worst_at: String,
        checked: usize,
    }

    impl Checker {
        fn close(&mut self, what: &str, got: f64, want: f64) {
            let err = (got - want).abs() / want.abs().max(1.0);
            assert!(
                err <= TRL_TOL,
                "{what}: got {got}, TRL {want} (relative error {err:e})"
            );
            self.checked += 1;
            if err > self.worst {
                self.worst = err;
                self.worst_at = what.to_string();
            }
        }

        fn opt(&mut self, what: &str, got: Option<f64>, want: &Value) {
            if let Some(w) = want.as_f64() {
                let g = got.unwrap_or(f64::NAN);
                self.close(what, g, w);
            }
        }

        fn per_example(&mut self, what: &str, got: &Tensor, case: &Value) -> Result<()> {
            if case["per_example"].is_array() {
                let want = vec_f64(case, "per_example")?;
                let got = got.to_vec1::<f64>()?;
                assert_eq!(got.len(), want.len(), "{what}: batch size");
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    self.close(&format!("{what}[{i}]"), *g, *w);
                }
            }
            Ok(())
        }
    }

    #[test]
    fn every_loss_matches_trl_fixtures() -> Result<()> {
        let fx = fixtures()?;
        let cases = fx["cases"]
            .as_array()
            .ok_or_else(|| Error::Invalid("fixture: cases".into()))?;
        let mut ck = Checker {
            worst: 0.0,
            worst_at: String::new(),
            checked: 0,
        };
        let mut covered: HashMap<String, usize> = HashMap::new();
        let mut bco_state: HashMap<String, RunningMoments> = HashMap::new();
        for case in cases {
            let family = case["family"].as_str().unwrap_or_default();
            let batch_name = case["batch"].as_str().unwrap_or_default();
            let what = format!("{} [{}] {}", case["source"], batch_name, case["loss"]);
            match family {
                "pair" | "mixture" => {
                    let mut x = pair_batch(&fx["pair_batches"][batch_name])?;
                    if let Some(nll) = case["chosen_nll"].as_f64() {
                        let n = x.batch_size();
                        x = x.with_chosen_nll(Tensor::new(vec![nll; n], &Device::Cpu)?);
                    }
                    let mix: Mixture = if family == "pair" {
                        let loss: PairLoss = serde_json::from_value(case["loss"].clone())
                            .map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
                        *covered.entry(loss.name().to_string()).or_default() += 1;
                        loss.into()
                    } else {
                        *covered.entry("mixture".into()).or_default() += 1;
                        serde_json::from_value(case["loss"].clone())
                            .map_err(|e| Error::Invalid(format!("{what}: {e}")))?
                    };
                    mix.validate()?;
                    let out = mix.forward(&x)?;
                    ck.close(
                        &format!("{what} mean"),
                        mean(&out.loss)?,
                        case["mean"].as_f64().unwrap_or(f64::NAN),
                    );
                    ck.per_example(&what, &out.loss, case)?;
                    ck.opt(
                        &format!("{what} rewards/chosen"),
                        Some(mean(&out.chosen_rewards)?),
                        &case["rewards_chosen_mean"],
                    );
                    ck.opt(
                        &format!("{what} rewards/rejected"),
                        Some(mean(&out.rejected_rewards)?),
                        &case["rewards_rejected_mean"],
                    );
                }
                "unpaired" => {
                    let x = unpaired_batch(&fx["unpaired_batches"][batch_name])?;
                    let loss: UnpairedLoss = serde_json::from_value(case["loss"].clone())
                        .map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
                    loss.validate()?;
                    let name = case["loss"]["type"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    *covered.entry(name.clone()).or_default() += 1;
                    let out = if let UnpairedLoss::Bco(cfg) = &loss {
                        // TRL's BCO state carries over between the two steps of one β.
                        let key = format!("{}", cfg.beta);
                        if case["bco_step"].as_u64() == Some(1) {
                            bco_state.insert(key.clone(), RunningMoments::default());
                        }
                        let running = bco_state
                            .get_mut(&key)
                            .ok_or_else(|| Error::Invalid("bco step 2 before step 1".into()))?;
                        let out = bco(&x, cfg, running, true)?;
                        for k in ["mean", "var", "count"] {
                            let got = match k {
                                "mean" => running.mean,
                                "var" => running.var,
                                _ => running.count,
                            };
                            ck.opt(
                                &format!("{what} running.{k}"),
                                Some(got),
                                &case["running"][k],
                            );
                        }
                        out
                    } else {
                        loss.forward(&x, &mut RunningMoments::default())?
                    };
                    ck.close(
                        &format!("{what} mean"),
                        mean(&out.loss)?,
                        case["mean"].as_f64().unwrap_or(f64::NAN),
                    );
                    ck.per_example(&what, &out.loss, case)?;
                    ck.opt(
                        &format!("{what} reference point"),
                        Some(out.reference_point),
                        &case["reference_point"],
                    );
                    ck.opt(
                        &format!("{what} rewards/chosen"),
                        masked_mean(&out.rewards, &x.desirable, true)?,
                        &case["rewards_chosen_mean"],
                    );
                    ck.opt(
                        &format!("{what} rewards/rejected"),
                        masked_mean(&out.rewards, &x.desirable, false)?,
                        &case["rewards_rejected_mean"],
                    );
                }
                "reward" => {
                    *covered.entry("reward_model".into()).or_default() += 1;
                    let b = &fx["reward_batches"][batch_name];
                    let x = RewardPair {
                        chosen: tensor(b, "chosen")?,
                        rejected: tensor(b, "rejected")?,
                        margin: if case["use_margin"].as_bool() == Some(true) {
                            Some(tensor(b, "margin")?)
                        } else {
                            None
                        },
                    };
                    let cfg: BradleyTerryConfig = serde_json::from_value(case["loss"].clone())
                        .map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
                    let out = bradley_terry(&x, &cfg)?;
                    ck.close(
                        &format!("{what} mean"),
                        mean(&out.loss)?,
                        case["mean"].as_f64().unwrap_or(f64::NAN),
                    );
                    ck.per_example(&what, &out.loss, case)?;
                }
                "listwise" => {
                    *covered.entry("pro".into()).or_default() += 1;
                    let b = &fx["ranked_batch"];
                    let mat = |key: &str| -> Result<Tensor> {
                        let rows: Vec<Vec<f64>> = serde_json::from_value(b[key].clone())
                            .map_err(|e| Error::Invalid(format!("fixture: {key}: {e}")))?;
                        let k = rows.first().map_or(0, Vec::len);
                        let flat: Vec<f64> = rows.concat();
                        Ok(Tensor::from_vec(flat, (rows.len(), k), &Device::Cpu)?)
                    };
                    let x = RankedLogps {
                        policy: mat("policy")?,
                        len: mat("len")?,
                        rewards: Some(mat("rewards")?),
                    };
                    let cfg: ProConfig = serde_json::from_value(case["loss"].clone())
                        .map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
                    cfg.validate()?;
                    let out = pro(&x, &cfg)?;
                    ck.close(
                        &format!("{what} mean"),
                        mean(&out.loss)?,
                        case["mean"].as_f64().unwrap_or(f64::NAN),
                    );
                    ck.per_example(&what, &out.loss, case)?;
                }
                other => panic!("unknown fixture family {other}"),
            }
        }
        // Every loss the issue names has TRL (or independent) reference values.
        for name in [
            "sigmoid",
            "hinge",
            "ipo",
            "exo_pair",
            "nca_pair",
            "robust",
            "bco_pair",
            "sppo_hard",
            "aot",
            "aot_unpaired",
            "apo_zero",
            "apo_down",
            "discopop",
            "sft",
            "sigmoid_norm",
            "simpo",
            "cpo",
            "orpo",
            "soft_preference",
            "mixture",
            "kto",
            "apo_zero_unpaired",
            "bco",
            "reward_model",
            "pro",
        ] {
            assert!(covered.contains_key(name), "no fixture for {name}");
        }
        println!(
            "TRL {}: {} values from {} cases agree; worst relative deviation {:e} at {}",
            fx["versions"]["trl"],
            ck.checked,
            cases.len(),
            ck.worst,
            ck.worst_at
        );
        Ok(())
    }

    // ------------------------------------------------------------------ gradient checks

    /// Checks autograd gradients of Σ_i w_i·f(inputs)_i against central differences, for every
    /// element of every input. `f` builds the loss vector from the input tensors.
    fn grad_check(
        what: &str,
        inputs: &[Vec<f64>],
        shapes: &[(usize, usize)],
        f: &dyn Fn(&[Tensor]) -> Result<Tensor>,
    ) -> Result<()> {
        let dev = Device::Cpu;
        let make = |vals: &[Vec<f64>]| -> Result<Vec<Tensor>> {
            vals.iter()
                .zip(shapes)
                .map(|(v, &(r, c))| {
                    let t = Tensor::from_vec(v.clone(), r * c, &dev)?;
                    Ok(if c == 1 { t } else { t.reshape((r, c))? })
                })
                .collect()
        };
        // Distinct weights so per-example gradient errors cannot cancel in the sum.
        let objective = |ts: &[Tensor]| -> Result<Tensor> {
            let l = f(ts)?;
            let n = l.dims()[0];
            let w: Vec<f64> = (0..n).map(|i| 0.5 + 0.37 * i as f64).collect();
            Ok((l * Tensor::new(w.as_slice(), &dev)?)?.sum_all()?)
        };
        let vars: Vec<Var> = make(inputs)?
            .into_iter()
            .map(|t| Var::from_tensor(&t))
            .collect::<candle_core::Result<_>>()?;
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let grads = objective(&ts)?.backward()?;
        for (j, v) in vars.iter().enumerate() {
            // An input the loss does not read gets no gradient: its finite differences must be 0.
            let g = match grads.get(v.as_tensor()) {
                Some(g) => g.flatten_all()?.to_vec1::<f64>()?,
                None => vec![0.0; inputs[j].len()],
            };
            for k in 0..inputs[j].len() {
                let mut plus = inputs.to_vec();
                let mut minus = inputs.to_vec();
                plus[j][k] += FD_STEP;
                minus[j][k] -= FD_STEP;
                let lp = objective(&make(&plus)?)?.to_scalar::<f64>()?;
                let lm = objective(&make(&minus)?)?.to_scalar::<f64>()?;
                let fd = (lp - lm) / (2.0 * FD_STEP);
                let err = (g[k] - fd).abs() / fd.abs().max(1.0);
                assert!(
                    err <= FD_TOL,
                    "{what}: d/d input{j}[{k}]: autograd {} vs finite difference {fd} ({err:e})",
                    g[k]
                );
                assert!(g[k].is_finite(), "{what}: non-finite gradient");
            }
        }
        Ok(())
    }

    /// A pair batch for gradient checks: distinct margins and log-ratios (AOT sorts them; at
    /// ties a sort has no derivative), one exact tie with the reference (row 2: policy =
    /// reference, every DPO loss at step 0), log-probs < 0 with per-token means away from 0.
    fn grad_batch() -> Vec<Vec<f64>> {
        vec![
            vec![-10.0, -20.0, -5.0, -30.0, -8.0], // policy chosen
            vec![-12.0, -19.0, -6.0, -60.0, -7.2], // policy rejected
            vec![-11.0, -18.0, -5.0, -31.7, -9.3], // reference chosen
            vec![-11.5, -20.0, -6.0, -35.0, -7.0], // reference rejected
            vec![5.0, 8.0, 3.0, 12.0, 4.0],        // |y_w|
            vec![6.0, 7.0, 3.0, 20.0, 3.0],        // |y_l|
            vec![1.5, 2.5, 0.5, 3.0, 1.0],         // chosen NLL term
            vec![1.0, 0.8, 0.5, 0.1, 0.65],        // soft labels
        ]
    }

    fn all_pair_losses() -> Vec<PairLoss> {
        use prefer_nn::loss::*;
        vec![
            PairLoss::Sigmoid(SigmoidConfig {
                beta: 0.5,
                label_smoothing: 0.1,
            }),
            PairLoss::Hinge(HingeConfig { beta: 0.3 }),
            PairLoss::Ipo(IpoConfig {
                tau: 0.5,
                normalize_length: true,
            }),
            PairLoss::Ipo(IpoConfig {
                tau: 0.5,
                normalize_length: false,
            }),
            PairLoss::ExoPair(ExoPairConfig {
                beta: 0.5,
                epsilon: 0.01,
            }),
            PairLoss::NcaPair(NcaPairConfig { beta: 0.5 }),
            PairLoss::Robust(RobustConfig {
                beta: 0.5,
                label_smoothing: 0.2,
            }),
            PairLoss::BcoPair(BcoPairConfig { beta: 0.5 }),
            PairLoss::SppoHard(SppoHardConfig { beta: 0.5 }),
            PairLoss::Aot(AotConfig {
                beta: 0.5,
                label_smoothing: 0.1,
            }),
            PairLoss::AotUnpaired(AotUnpairedConfig {
                beta: 0.5,
                label_smoothing: 0.1,
            }),
            PairLoss::ApoZero(ApoZeroConfig { beta: 0.5 }),
            PairLoss::ApoDown(ApoDownConfig { beta: 0.5 }),
            PairLoss::Discopop(DiscopopConfig {
                beta: 0.5,
                tau: 0.5,
            }),
            PairLoss::Sft(SftConfig {}),
            PairLoss::SigmoidNorm(SigmoidNormConfig { beta: 1.0 }),
            PairLoss::Simpo(SimpoConfig {
                beta: 2.0,
                gamma: 0.5,
                label_smoothing: 0.1,
                nll_weight: 0.3,
                alpha: 0.0,
            }),
            PairLoss::Simpo(SimpoConfig {
                alpha: 0.25,
                ..SimpoConfig::default()
            }),
            PairLoss::Cpo(CpoConfig {
                beta: 0.2,
                label_smoothing: 0.1,
                nll_weight: 0.7,
                alpha: 0.0,
            }),
            PairLoss::Cpo(CpoConfig {
                alpha: 0.02,
                ..CpoConfig::default()
            }),
            PairLoss::Orpo(OrpoConfig { beta: 0.5 }),
            PairLoss::SoftPreference(SoftPreferenceConfig { beta: 0.5 }),
        ]
    }

    #[test]
    fn every_pair_loss_gradient_matches_finite_differences() -> Result<()> {
        let b = grad_batch();
        let n = b[0].len();
        let fixed: Vec<Tensor> = b[2..]
            .iter()
            .map(|v| Tensor::new(v.as_slice(), &Device::Cpu))
            .collect::<candle_core::Result<_>>()?;
        let losses = all_pair_losses();
        for loss in &losses {
            loss.validate()?;
            let build = |ts: &[Tensor]| -> Result<PairLogps> {
                Ok(PairLogps::new(
                    ts[0].clone(),
                    ts[1].clone(),
                    fixed[2].clone(),
                    fixed[3].clone(),
                )
                .with_reference(fixed[0].clone(), fixed[1].clone())
                .with_chosen_nll(ts[2].clone())
                .with_soft_label(fixed[5].clone()))
            };
            // Differentiate w.r.t. the policy log-probs and the NLL term (ORPO, CPO, SimPO).
            grad_check(
                loss.name(),
                &[b[0].clone(), b[1].clone(), b[6].clone()],
                &[(n, 1), (n, 1), (n, 1)],
                &|ts| Ok(loss.forward(&build(ts)?)?.loss),
            )?;
        }
        // Every variant is exercised.
        let names: std::collections::HashSet<&str> = losses.iter().map(PairLoss::name).collect();
        assert_eq!(names.len(), 19, "one gradient check per PairLoss variant");
        Ok(())
    }

    #[test]
    fn mixture_gradient_matches_finite_differences() -> Result<()> {
        use prefer_nn::loss::{BcoPairConfig, SftConfig, SigmoidConfig};
        let b = grad_batch();
        let n = b[0].len();
        let mix = Mixture::new(vec![
            (PairLoss::Sigmoid(SigmoidConfig::default()), 0.8),
            (PairLoss::BcoPair(BcoPairConfig::default()), 0.2),
            (PairLoss::Sft(SftConfig {}), 1.0),
        ]);
        let t = |v: &Vec<f64>| Tensor::new(v.as_slice(), &Device::Cpu);
        let (rc, rr, lc, lr) = (t(&b[2])?, t(&b[3])?, t(&b[4])?, t(&b[5])?);
        grad_check(
            "mpo",
            &[b[0].clone(), b[1].clone()],
            &[(n, 1), (n, 1)],
            &|ts| {
                let x = PairLogps::new(ts[0].clone(), ts[1].clone(), lc.clone(), lr.clone())
                    .with_reference(rc.clone(), rr.clone());
                Ok(mix.forward(&x)?.loss)
            },
        )
    }

    #[test]
    fn unpaired_gradients_match_finite_differences() -> Result<()> {
        use prefer_nn::loss::{ApoZeroUnpairedConfig, BcoConfig, KtoConfig};
        let dev = Device::Cpu;
        let policy = vec![-10.0, -20.0, -5.0, -30.0, -12.0];
        let reference = Tensor::new(&[-11.0f64, -18.0, -5.0, -31.0, -12.5], &dev)?;
        let desirable = vec![true, false, true, false, false];
        let (klp, klr) = (
            Tensor::new(&[-12.0f64, -15.0, -8.0], &dev)?,
            Tensor::new(&[-13.0f64, -15.5, -8.0], &dev)?,
        );
        let running = RunningMoments {
            mean: 0.2,
            var: 1.0,
            count: 10.0,
        };
        let losses = [
            UnpairedLoss::Kto(KtoConfig {
                beta: 0.5,
                desirable_weight: 1.3,
                undesirable_weight: 0.7,
            }),
            UnpairedLoss::ApoZeroUnpaired(ApoZeroUnpairedConfig {
                beta: 0.5,
                ..Default::default()
            }),
            UnpairedLoss::Bco(BcoConfig { beta: 0.5 }),
        ];
        for loss in &losses {
            grad_check(
                &format!("{loss:?}"),
                std::slice::from_ref(&policy),
                &[(5, 1)],
                &|ts| {
                    let x = UnpairedLogps::new(ts[0].clone(), reference.clone(), desirable.clone())
                        .with_kl(klp.clone(), klr.clone());
                    // Evaluation mode: δ (BCO) and z₀ (KTO) are constants of the step, as in TRL.
                    Ok(loss.evaluate(&x, &running)?.loss)
                },
            )?;
        }
        Ok(())
    }

    #[test]
    fn pro_and_reward_model_gradients_match_finite_differences() -> Result<()> {
        use prefer_nn::loss::ProTemperature;
        let dev = Device::Cpu;
        let policy = vec![-4.0, -9.0, -6.0, -7.0, -10.0, -3.0, -20.0, -8.0];
        let len = Tensor::new(&[[4.0f64, 3.0, 2.0, 5.0], [5.0, 3.0, 10.0, 2.0]], &dev)?;
        let rewards = Tensor::new(&[[2.0f64, 1.0, -1.0, -1.5], [0.5, 0.0, 0.0, -0.25]], &dev)?;
        for temperature in [
            ProTemperature::RewardGap,
            ProTemperature::Constant { tau: 0.7 },
        ] {
            let cfg = ProConfig {
                sft_weight: 0.05,
                temperature,
            };
            grad_check("pro", std::slice::from_ref(&policy), &[(2, 4)], &|ts| {
                let x = RankedLogps {
                    policy: ts[0].clone(),
                    len: len.clone(),
                    rewards: Some(rewards.clone()),
                };
                Ok(pro(&x, &cfg)?.loss)
            })?;
        }
        let margin = Tensor::new(&[0.5f64, 0.0, 1.0, 0.2], &dev)?;
        let cfg = BradleyTerryConfig {
            center_rewards_coefficient: Some(0.01),
        };
        grad_check(
            "bradley_terry",
            &[vec![1.0, -0.5, 3.0, 0.0], vec![0.0, 0.5, -2.0, 0.0]],
            &[(4, 1), (4, 1)],
            &|ts| {
                let x = RewardPair {
                    chosen: ts[0].clone(),
                    rejected: ts[1].clone(),
                    margin: Some(margin.clone()),
                };
                Ok(bradley_terry(&x, &cfg)?.loss)
            },
        )
    }

    #[test]
    fn f32_inputs_agree_with_f64() -> Result<()> {
        // The losses run in the inputs' dtype; f32 agrees with f64 to f32 rounding.
        const F32_TOL: f64 = 1e-5;
        let b = grad_batch();
        let mk = |dt: DType| -> Result<PairLogps> {
            let t = |v: &Vec<f64>| -> Result<Tensor> {
                Ok(Tensor::new(v.as_slice(), &Device::Cpu)?.to_dtype(dt)?)
            };
            Ok(PairLogps::new(t(&b[0])?, t(&b[1])?, t(&b[4])?, t(&b[5])?)
                .with_reference(t(&b[2])?, t(&b[3])?)
                .with_chosen_nll(t(&b[6])?)
                .with_soft_label(t(&b[7])?))
        };
        let (x64, x32) = (mk(DType::F64)?, mk(DType::F32)?);
        for loss in all_pair_losses() {
            let a = loss.forward(&x64)?.loss.to_vec1::<f64>()?;
            let c = loss
                .forward(&x32)?
                .loss
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()?;
            for (i, (p, q)) in a.iter().zip(&c).enumerate() {
                assert!(
                    (p - q).abs() <= F32_TOL * p.abs().max(1.0),
                    "{} [{i}]: f64 {p} vs f32 {q}",
                    loss.name()
                );
            }
        }
        Ok(())
    }

    #[test]
    fn serde_round_trips_every_variant_and_rejects_unknown_fields() -> Result<()> {
        for loss in all_pair_losses() {
            let s = serde_json::to_string(&loss).map_err(|e| Error::Invalid(e.to_string()))?;
            let back: PairLoss =
                serde_json::from_str(&s).map_err(|e| Error::Invalid(e.to_string()))?;
            assert_eq!(back, loss, "{s}");
            assert!(s.contains(&format!("\"type\":\"{}\"", loss.name())), "{s}");
        }
        let bad = serde_json::from_str::<PairLoss>(r#"{"type": "sigmoid", "beta": 0.1, "tau": 1}"#);
        assert!(bad.is_err(), "unknown field accepted");
        let defaults: PairLoss = serde_json::from_str(r#"{"type": "exo_pair"}"#)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        defaults.validate()?;
        Ok(())
    }

    fn matrix(v: &Value, key: &str) -> Result<Tensor> {
        let rows = v
            .get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Invalid(format!("fixture: missing matrix {key}")))?;
        let data: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| {
                r.as_array()
                    .map(|xs| xs.iter().filter_map(Value::as_f64).collect())
                    .ok_or_else(|| Error::Invalid(format!("fixture: {key}: not rows")))
            })
            .collect::<Result<_>>()?;
        Ok(Tensor::new(data, &Device::Cpu)?)
    }

    /// TRL 1.16's `GRPOTrainer._compute_loss` (fixture by `make_grpo_loss.py`): loss, its
    /// gradient with respect to the per-token log-probs, the KL and clip metrics, for every
    /// loss type of the clipped family, both importance-sampling levels, with and without
    /// the KL term and clip-higher; and TRL's group and batch advantages.
    #[test]
    fn grpo_loss_matches_trl() -> Result<()> {
        use prefer_nn::loss::{
            ClipConfig, IsLevel, PgLossType, ScaleRewards, TokenLogps, clipped_surrogate,
            group_advantages,
        };
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trl/grpo_loss.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::File(format!("{}: {e}", path.display())))?;
        let f: Value = serde_json::from_str(&text)
            .map_err(|e| Error::File(format!("{}: {e}", path.display())))?;
        let rewards = vec_f64(&f, "rewards")?;
        let group = f["group"].as_u64().unwrap_or(0) as usize;
        for (scale, key) in [
            (ScaleRewards::Group, "advantages_group"),
            (ScaleRewards::Batch, "advantages_batch"),
        ] {
            let ours = group_advantages(&rewards, group, scale);
            for (a, b) in ours.iter().zip(vec_f64(&f, key)?) {
                // TRL's nanstd computes Bessel's n/(n−1) in f32 (count is an integer
                // tensor): 6/5 is off by 4e-8 relative, so 1e-9 would fail on the batch.
                assert!((a - b).abs() < 1e-7, "{key}: {a} vs TRL {b}");
            }
        }
        let adv = tensor(&f, "advantages_group")?;
        let mask = matrix(&f, "mask")?;
        let tokens = mask.sum_all()?.to_scalar::<f64>()?;
        let maxlen = f["max_completion_length"].as_u64().unwrap_or(0) as usize;
        let mut worst = 0f64;
        let cases = f["cases"].as_array().cloned().unwrap_or_default();
        assert_eq!(cases.len(), 20);
        for c in &cases {
            let name = format!(
                "{} {} beta={} old={}",
                c["loss_type"], c["importance_sampling_level"], c["beta"], c["use_old"]
            );
            let cfg = ClipConfig {
                loss_type: serde_json::from_value::<PgLossType>(c["loss_type"].clone())
                    .map_err(|e| Error::Invalid(e.to_string()))?,
                importance_sampling_level: serde_json::from_value::<IsLevel>(
                    c["importance_sampling_level"].clone(),
                )
                .map_err(|e| Error::Invalid(e.to_string()))?,
                beta: c["beta"].as_f64().unwrap_or(f64::NAN),
                epsilon: c["epsilon"].as_f64().unwrap_or(f64::NAN),
                epsilon_high: c["epsilon_high"].as_f64(),
            };
            cfg.validate()?;
            let lp = Var::from_tensor(&matrix(&f, "logps")?)?;
            let x = TokenLogps {
                logps: lp.as_tensor().clone(),
                old: if c["use_old"].as_bool() == Some(true) {
                    Some(matrix(&f, "old")?)
                } else {
                    None
                },
                reference: Some(matrix(&f, "ref")?),
                advantages: adv.clone(),
                mask: mask.clone(),
            };
            let out = clipped_surrogate(&x, &cfg, tokens, maxlen)?;
            let loss = out.loss.to_scalar::<f64>()?;
            let want = c["loss"].as_f64().unwrap_or(f64::NAN);
            assert!(
                (loss - want).abs() < TRL_TOL,
                "{name}: loss {loss} vs TRL {want}"
            );
            worst = worst.max((loss - want).abs());
            let g = out.loss.backward()?;
            let grad = g
                .get(lp.as_tensor())
                .ok_or_else(|| Error::Invalid("no gradient".into()))?
                .to_vec2::<f64>()?;
            let want_g = c["grad"].as_array().cloned().unwrap_or_default();
            for (i, (row, wrow)) in grad.iter().zip(&want_g).enumerate() {
                for (j, (a, b)) in row
                    .iter()
                    .zip(wrow.as_array().into_iter().flatten())
                    .enumerate()
                {
                    let b = b.as_f64().unwrap_or(f64::NAN);
                    assert!(
                        (a - b).abs() < TRL_TOL,
                        "{name}: grad[{i}][{j}] {a} vs TRL {b}"
                    );
                    worst = worst.max((a - b).abs());
                }
            }
            if let Some(k) = c["kl"].as_f64() {
                let (s, n) = out.kl.ok_or_else(|| Error::Invalid("no kl".into()))?;
                assert!(
                    (s / n - k).abs() < TRL_TOL,
                    "{name}: kl {} vs TRL {k}",
                    s / n
                );
            }
            for (i, key) in ["low_mean", "high_mean", "region_mean"].iter().enumerate() {
                let want = c[&format!("clip_ratio/{key}")].as_f64().unwrap_or(f64::NAN);
                let (s, n) = out.clip[i];
                assert!(
                    (s / n - want).abs() < 1e-6,
                    "{name}: clip {key} {} vs {want}",
                    s / n
                );
            }
        }
        println!(
            "GRPO family vs TRL: largest deviation {worst:.2e} over {} cases",
            cases.len()
        );
        Ok(())
    }

    /// TRL 1.16's `RLOOTrainer._compute_loss` (fixture by `make_grpo_loss.py`): the
    /// sequence-level clipped loss and its gradient, with old log-probs that clip, and the
    /// leave-one-out advantages.
    #[test]
    fn rloo_loss_matches_trl() -> Result<()> {
        use prefer_nn::loss::{rloo_advantages, sequence_surrogate};
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trl");
        let read = |name: &str| -> Result<Value> {
            let p = dir.join(name);
            let text = std::fs::read_to_string(&p)
                .map_err(|e| Error::File(format!("{}: {e}", p.display())))?;
            serde_json::from_str(&text).map_err(|e| Error::File(format!("{}: {e}", p.display())))
        };
        let (g, f) = (read("grpo_loss.json")?, read("rloo_loss.json")?);
        let group = f["group"].as_u64().unwrap_or(0) as usize;
        let adv = rloo_advantages(&vec_f64(&g, "rewards")?, group);
        for (a, b) in adv.iter().zip(vec_f64(&f, "advantages")?) {
            assert!((a - b).abs() < 1e-12, "RLOO advantage {a} vs TRL {b}");
        }
        let mask = matrix(&g, "mask")?;
        let old = tensor(&f, "old_logps")?;
        let adv_t = tensor(&f, "advantages")?;
        let cases = f["cases"].as_array().cloned().unwrap_or_default();
        assert_eq!(cases.len(), 3);
        for c in &cases {
            let (el, eh) = (
                c["epsilon"].as_f64().unwrap_or(f64::NAN),
                c["epsilon_high"].as_f64().unwrap_or(f64::NAN),
            );
            let lp = Var::from_tensor(&matrix(&g, "logps")?)?;
            let (loss, clip) =
                sequence_surrogate(lp.as_tensor(), &mask, Some(&old), &adv_t, el, eh)?;
            let v = loss.to_scalar::<f64>()?;
            let want = c["loss"].as_f64().unwrap_or(f64::NAN);
            assert!(
                (v - want).abs() < TRL_TOL,
                "eps {el}/{eh}: loss {v} vs TRL {want}"
            );
            let grads = loss.backward()?;
            let grad = grads
                .get(lp.as_tensor())
                .ok_or_else(|| Error::Invalid("no gradient".into()))?
                .to_vec2::<f64>()?;
            for (row, wrow) in grad.iter().zip(c["grad"].as_array().into_iter().flatten()) {
                for (a, b) in row.iter().zip(wrow.as_array().into_iter().flatten()) {
                    let b = b.as_f64().unwrap_or(f64::NAN);
                    assert!(
                        (a - b).abs() < TRL_TOL,
                        "eps {el}/{eh}: grad {a} vs TRL {b}"
                    );
                }
            }
            for (i, key) in ["low_mean", "high_mean", "region_mean"].iter().enumerate() {
                let want = c[&format!("clip_ratio/{key}")].as_f64().unwrap_or(f64::NAN);
                let got = clip[i].0 / clip[i].1;
                assert!((got - want).abs() < 1e-6, "clip {key} {got} vs {want}");
            }
        }
        Ok(())
    }
}
