//! What a loss may read ([`PairLogps`], [`UnpairedLogps`], [`RankedLogps`], [`RewardPair`])
//! and what it returns ([`LossOutput`], [`UnpairedLossOutput`], [`ListLossOutput`]).
//!
//! Log-probabilities are **sums** over the completion tokens (prompt and padding masked), as
//! TRL computes them; the token counts travel beside them so that length-normalised losses
//! (IPO, `sigmoid_norm`, SimPO, ORPO) divide by them, clamped to at least 1 as TRL does.
//! Tensors may be f32 or f64 (all of one input the same); counts may be any dtype.

use candle_core::{DType, Tensor};

use super::ops::{as_dtype, check_vec};
use crate::error::{Error, Result};

/// Per-sequence log-probabilities of a batch of preference pairs: the input contract of
/// every [`PairLoss`](super::PairLoss).
///
/// Which optional fields a loss needs is stated in its documentation; a loss that needs a
/// field that is `None` returns [`Error::Invalid`] naming the loss and the field.
///
/// # Shapes
/// Every tensor is `[batch]`.
#[derive(Debug, Clone)]
pub struct PairLogps {
    /// log π_θ(y_w | x): the policy's summed completion log-probability of the chosen response.
    pub policy_chosen: Tensor,
    /// log π_θ(y_l | x) for the rejected response.
    pub policy_rejected: Tensor,
    /// log π_ref(y_w | x); needed by every loss with a reference model (DPO family, KTO, ...).
    pub ref_chosen: Option<Tensor>,
    /// log π_ref(y_l | x).
    pub ref_rejected: Option<Tensor>,
    /// |y_w|: number of completion tokens of the chosen response.
    pub chosen_len: Tensor,
    /// |y_l|: number of completion tokens of the rejected response.
    pub rejected_len: Tensor,
    /// The NLL term of ORPO and CPO, per example. TRL uses the token-mean cross-entropy over
    /// the chosen sequences of the whole batch (prompt included for ORPO), broadcast to every
    /// example: build it with [`PairLogps::batch_token_mean_nll`].
    pub chosen_nll: Option<Tensor>,
    /// p ∈ [0, 1]: probability that the chosen response is preferred (preference strength),
    /// read by [`SoftPreference`](super::SoftPreferenceConfig) only.
    pub soft_label: Option<Tensor>,
}

impl PairLogps {
    /// A batch without reference log-probs, NLL term or soft labels.
    pub fn new(
        policy_chosen: Tensor,
        policy_rejected: Tensor,
        chosen_len: Tensor,
        rejected_len: Tensor,
    ) -> Self {
        Self {
            policy_chosen,
            policy_rejected,
            ref_chosen: None,
            ref_rejected: None,
            chosen_len,
            rejected_len,
            chosen_nll: None,
            soft_label: None,
        }
    }

    /// Adds the reference model's log-probs.
    pub fn with_reference(mut self, ref_chosen: Tensor, ref_rejected: Tensor) -> Self {
        self.ref_chosen = Some(ref_chosen);
        self.ref_rejected = Some(ref_rejected);
        self
    }

    /// Adds the per-example NLL term read by ORPO and CPO.
    pub fn with_chosen_nll(mut self, chosen_nll: Tensor) -> Self {
        self.chosen_nll = Some(chosen_nll);
        self
    }

    /// Adds soft preference labels p (probability that chosen is preferred).
    pub fn with_soft_label(mut self, soft_label: Tensor) -> Self {
        self.soft_label = Some(soft_label);
        self
    }

    /// TRL's NLL term: Σ_b nll_sum_b / Σ_b tokens_b (a token-mean over the whole batch),
    /// broadcast to `[batch]` so that the batch mean of a per-example loss equals TRL's.
    ///
    /// `nll_sum` is the summed token NLL of each chosen sequence (negative summed log-probs),
    /// `tokens` the number of tokens it sums over.
    ///
    /// # Shapes
    /// - `nll_sum`, `tokens`: `[batch]` → `[batch]`.
    pub fn batch_token_mean_nll(nll_sum: &Tensor, tokens: &Tensor) -> Result<Tensor> {
        let n = check_vec(nll_sum, "nll_sum", None)?;
        let tokens = as_dtype(tokens, nll_sum.dtype())?;
        check_vec(&tokens, "tokens", Some(n))?;
        let mean = (nll_sum.sum_all()? / tokens.sum_all()?.maximum(1.0)?)?;
        Ok(mean.broadcast_as(n)?)
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.policy_chosen.dims().first().copied().unwrap_or(0)
    }

    /// The floating-point dtype of the log-probs.
    pub fn dtype(&self) -> DType {
        self.policy_chosen.dtype()
    }

    /// Checks shapes and dtypes: every present tensor is `[batch]`, log-probs share one
    /// floating-point dtype.
    pub fn validate(&self) -> Result<()> {
        let n = check_vec(&self.policy_chosen, "policy_chosen", None)?;
        let dtype = self.dtype();
        let same = |t: &Tensor, name: &str| -> Result<()> {
            check_vec(t, name, Some(n))?;
            if t.dtype() != dtype {
                return Err(Error::Invalid(format!(
                    "{name}: dtype {:?} differs from policy_chosen's {dtype:?}",
                    t.dtype()
                )));
            }
            Ok(())
        };
        same(&self.policy_rejected, "policy_rejected")?;
        if let Some(t) = &self.ref_chosen {
            same(t, "ref_chosen")?;
        }
        if let Some(t) = &self.ref_rejected {
            same(t, "ref_rejected")?;
        }
        if self.ref_chosen.is_some() != self.ref_rejected.is_some() {
            return Err(Error::Invalid(
                "ref_chosen and ref_rejected must be given together".into(),
            ));
        }
        if let Some(t) = &self.chosen_nll {
            same(t, "chosen_nll")?;
        }
        if let Some(t) = &self.soft_label {
            same(t, "soft_label")?;
            let v = t.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            if let Some((i, p)) = v
                .iter()
                .enumerate()
                .find(|(_, p)| !(0.0..=1.0).contains(*p))
            {
                return Err(Error::Invalid(format!(
                    "soft_label[{i}] = {p}: a probability must lie in [0, 1]"
                )));
            }
        }
        check_vec(&as_dtype(&self.chosen_len, dtype)?, "chosen_len", Some(n))?;
        check_vec(
            &as_dtype(&self.rejected_len, dtype)?,
            "rejected_len",
            Some(n),
        )?;
        Ok(())
    }

    /// (ref_chosen, ref_rejected), or an error naming `loss`.
    pub(crate) fn reference(&self, loss: &str) -> Result<(&Tensor, &Tensor)> {
        match (&self.ref_chosen, &self.ref_rejected) {
            (Some(c), Some(r)) => Ok((c, r)),
            _ => Err(Error::Invalid(format!(
                "the {loss} loss needs reference log-probs (PairLogps::ref_chosen / ref_rejected)"
            ))),
        }
    }

    /// (log π_θ(y_w)/π_ref(y_w), log π_θ(y_l)/π_ref(y_l)).
    pub(crate) fn logratios(&self, loss: &str) -> Result<(Tensor, Tensor)> {
        let (rc, rr) = self.reference(loss)?;
        Ok(((&self.policy_chosen - rc)?, (&self.policy_rejected - rr)?))
    }

    /// (max(|y_w|, 1), max(|y_l|, 1)) in the log-probs' dtype.
    pub(crate) fn lengths(&self) -> Result<(Tensor, Tensor)> {
        let dtype = self.dtype();
        Ok((
            as_dtype(&self.chosen_len, dtype)?.maximum(1.0)?,
            as_dtype(&self.rejected_len, dtype)?.maximum(1.0)?,
        ))
    }

    /// The NLL term, or an error naming `loss`.
    pub(crate) fn nll(&self, loss: &str) -> Result<&Tensor> {
        self.chosen_nll.as_ref().ok_or_else(|| {
            Error::Invalid(format!(
                "the {loss} loss needs its NLL term (PairLogps::chosen_nll; see \
                 PairLogps::batch_token_mean_nll)"
            ))
        })
    }
}

/// What every pair loss returns; the trainer reduces (TRL: the batch mean) and logs.
///
/// # Shapes
/// Every tensor is `[batch]`.
#[derive(Debug, Clone)]
pub struct LossOutput {
    /// Per-example loss, unreduced, differentiable.
    pub loss: Tensor,
    /// Implicit reward of the chosen response (detached), TRL's `rewards/chosen`: β·(log π_θ −
    /// log π_ref) for the DPO family, β·(length-normalised) log π_θ for reference-free losses.
    pub chosen_rewards: Tensor,
    /// Implicit reward of the rejected response (detached), TRL's `rewards/rejected`.
    pub rejected_rewards: Tensor,
}

/// Per-sequence log-probabilities of unpaired completions (KTO, BCO): each completion is
/// labelled desirable or undesirable.
///
/// # Shapes
/// `policy`, `reference`: `[n]`; `kl_policy`, `kl_reference`: `[m]`.
#[derive(Debug, Clone)]
pub struct UnpairedLogps {
    /// log π_θ(y | x), summed over completion tokens.
    pub policy: Tensor,
    /// log π_ref(y | x).
    pub reference: Tensor,
    /// true = desirable (TRL `label=True`), false = undesirable.
    pub desirable: Vec<bool>,
    /// log π_θ(y' | x) of mismatched completions y' (KTO's KL estimate; TRL shifts the batch's
    /// completions by one position to build them).
    pub kl_policy: Option<Tensor>,
    /// log π_ref(y' | x) of the same mismatched completions.
    pub kl_reference: Option<Tensor>,
}

impl UnpairedLogps {
    /// A batch without the KL estimate inputs.
    pub fn new(policy: Tensor, reference: Tensor, desirable: Vec<bool>) -> Self {
        Self {
            policy,
            reference,
            desirable,
            kl_policy: None,
            kl_reference: None,
        }
    }

    /// Adds the mismatched-completion log-probs from which KTO estimates its KL term.
    pub fn with_kl(mut self, kl_policy: Tensor, kl_reference: Tensor) -> Self {
        self.kl_policy = Some(kl_policy);
        self.kl_reference = Some(kl_reference);
        self
    }

    /// Checks shapes and dtypes.
    pub fn validate(&self) -> Result<()> {
        let n = check_vec(&self.policy, "policy", None)?;
        check_vec(&self.reference, "reference", Some(n))?;
        if self.reference.dtype() != self.policy.dtype() {
            return Err(Error::Invalid(
                "reference: dtype differs from policy's".into(),
            ));
        }
        if self.desirable.len() != n {
            return Err(Error::Invalid(format!(
                "desirable: expected {n} labels (the batch size), got {}",
                self.desirable.len()
            )));
        }
        match (&self.kl_policy, &self.kl_reference) {
            (Some(p), Some(r)) => {
                let m = check_vec(p, "kl_policy", None)?;
                check_vec(r, "kl_reference", Some(m))?;
                if m == 0 {
                    return Err(Error::Invalid("kl_policy: empty".into()));
                }
            }
            (None, None) => {}
            _ => {
                return Err(Error::Invalid(
                    "kl_policy and kl_reference must be given together".into(),
                ));
            }
        }
        Ok(())
    }

    /// The labels as a `[n]` u8 mask on the policy's device.
    pub(crate) fn desirable_mask(&self) -> Result<Tensor> {
        let v: Vec<u8> = self.desirable.iter().map(|&d| u8::from(d)).collect();
        Ok(Tensor::from_vec(
            v,
            self.desirable.len(),
            self.policy.device(),
        )?)
    }
}

/// What the unpaired losses return.
///
/// # Shapes
/// `loss`, `rewards`: `[n]`, in the input's order (TRL concatenates desirable then
/// undesirable; the mean is the same).
#[derive(Debug, Clone)]
pub struct UnpairedLossOutput {
    /// Per-example loss (weighted), unreduced, differentiable.
    pub loss: Tensor,
    /// β·(log π_θ − log π_ref), detached; TRL logs its mean over desirable examples as
    /// `rewards/chosen` and over undesirable ones as `rewards/rejected`.
    pub rewards: Tensor,
    /// The reference point the rewards are compared with: KTO's KL estimate z₀ (TRL's `kl`),
    /// BCO's running reward mean δ (TRL's `delta`), 0 for APO-zero-unpaired.
    pub reference_point: f64,
}

/// Per-sequence log-probabilities of K responses per prompt, ranked best first (PRO).
///
/// # Shapes
/// Every tensor is `[batch, K]`, K ≥ 2; column 0 is the most preferred response.
#[derive(Debug, Clone)]
pub struct RankedLogps {
    /// log π_θ(y_k | x), summed over completion tokens.
    pub policy: Tensor,
    /// |y_k|: completion token counts.
    pub len: Tensor,
    /// Scores r(y_k) of an external reward model (PRO's dynamic temperature); must be
    /// non-increasing along each row.
    pub rewards: Option<Tensor>,
}

impl RankedLogps {
    /// Checks shapes: `[batch, K]` with K ≥ 2, all tensors alike.
    pub fn validate(&self) -> Result<(usize, usize)> {
        let dims = self.policy.dims();
        if dims.len() != 2 || dims[1] < 2 || !self.policy.dtype().is_float() {
            return Err(Error::Invalid(format!(
                "policy: expected a floating-point [batch, K] tensor with K >= 2, got {dims:?} {:?}",
                self.policy.dtype()
            )));
        }
        if self.len.dims() != dims {
            return Err(Error::Invalid(format!(
                "len: expected shape {dims:?}, got {:?}",
                self.len.dims()
            )));
        }
        if let Some(r) = &self.rewards
            && r.dims() != dims
        {
            return Err(Error::Invalid(format!(
                "rewards: expected shape {dims:?}, got {:?}",
                r.dims()
            )));
        }
        Ok((dims[0], dims[1]))
    }
}

/// What listwise losses return.
///
/// # Shapes
/// `loss`: `[batch]`; `scores`: `[batch, K]`.
#[derive(Debug, Clone)]
pub struct ListLossOutput {
    /// Per-example loss, unreduced, differentiable.
    pub loss: Tensor,
    /// The scores the ranking is fitted on (length-normalised log-probs), detached.
    pub scores: Tensor,
}

/// Scalar rewards of a reward model on a batch of pairs.
///
/// # Shapes
/// Every tensor is `[batch]`.
#[derive(Debug, Clone)]
pub struct RewardPair {
    /// r(x, y_w).
    pub chosen: Tensor,
    /// r(x, y_l).
    pub rejected: Tensor,
    /// Optional per-pair margin m (TRL's `margin` column, Llama 2's preference-strength margin).
    pub margin: Option<Tensor>,
}

impl RewardPair {
    /// Checks shapes and dtypes.
    pub fn validate(&self) -> Result<usize> {
        let n = check_vec(&self.chosen, "chosen", None)?;
        check_vec(&self.rejected, "rejected", Some(n))?;
        if let Some(m) = &self.margin {
            check_vec(&as_dtype(m, self.chosen.dtype())?, "margin", Some(n))?;
        }
        Ok(n)
    }
}
