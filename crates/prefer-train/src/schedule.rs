//! Learning-rate schedules: linear warmup, then constant, linear decay or cosine decay
//! (transformers' `get_{constant,linear,cosine}_schedule_with_warmup`).
//!
//! The multiplier of optimizer step `k` (0-based: the first update uses `k = 0`) is
//!
//! ```text
//! warmup (k < W):   k / W
//! constant:         1
//! linear:           max(0, (T − k) / (T − W))
//! cosine:           max(0, ½(1 + cos(π (k − W) / (T − W))))
//! ```
//!
//! with W warmup steps and T total steps. As in transformers, a run with warmup takes its
//! first update with learning rate 0.
//!
//! # Quickstart
//! ```
//! use prefer_train::schedule::{Decay, ScheduleConfig};
//! let s = ScheduleConfig { decay: Decay::Linear, warmup_steps: 2, warmup_ratio: 0.0 };
//! let lrs: Vec<f64> = (0..6).map(|k| s.lr(1.0, k, 6)).collect();
//! assert_eq!(lrs, vec![0.0, 0.5, 1.0, 0.75, 0.5, 0.25]);
//! ```

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The shape after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    /// Stay at the peak.
    Constant,
    /// Decay linearly to 0 at the last step (transformers' default `lr_scheduler_type`).
    #[default]
    Linear,
    /// Half a cosine from the peak to 0.
    Cosine,
}

/// Warmup and decay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Shape after warmup (default `linear`).
    pub decay: Decay,
    /// Warmup steps W (default 0); wins over `warmup_ratio` when non-zero.
    pub warmup_steps: u64,
    /// Warmup as a fraction of the total steps, rounded up (default 0.0; TRL's
    /// `warmup_ratio`).
    pub warmup_ratio: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            decay: Decay::Linear,
            warmup_steps: 0,
            warmup_ratio: 0.0,
        }
    }
}

impl ScheduleConfig {
    /// Checks the ratio.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return Err(Error::Config(format!(
                "schedule.warmup_ratio = {}: must be in [0, 1]",
                self.warmup_ratio
            )));
        }
        Ok(())
    }

    /// Warmup steps for a run of `total` steps.
    pub fn warmup(&self, total: u64) -> u64 {
        if self.warmup_steps > 0 {
            self.warmup_steps
        } else {
            (self.warmup_ratio * total as f64).ceil() as u64
        }
    }

    /// The learning rate of update `k` (0-based) out of `total`, for peak `peak`.
    pub fn lr(&self, peak: f64, k: u64, total: u64) -> f64 {
        let w = self.warmup(total);
        if k < w {
            return peak * k as f64 / w.max(1) as f64;
        }
        let span = total.saturating_sub(w).max(1) as f64;
        let done = (k - w) as f64;
        let mult = match self.decay {
            Decay::Constant => 1.0,
            Decay::Linear => ((total as f64 - k as f64) / span).max(0.0),
            Decay::Cosine => (0.5 * (1.0 + (std::f64::consts::PI * done / span).cos())).max(0.0),
        };
        peak * mult
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of transformers 5.24's schedulers (`LambdaLR` multipliers for
    /// `num_warmup_steps=3, num_training_steps=10`, read off with `scheduler.get_last_lr()`
    /// after each `step()`, peak 1.0), written out here.
    #[test]
    fn matches_transformers_multipliers() {
        let lin = ScheduleConfig {
            decay: Decay::Linear,
            warmup_steps: 3,
            warmup_ratio: 0.0,
        };
        let want_lin = [
            0.0,
            1.0 / 3.0,
            2.0 / 3.0,
            1.0,
            6.0 / 7.0,
            5.0 / 7.0,
            4.0 / 7.0,
            3.0 / 7.0,
            2.0 / 7.0,
            1.0 / 7.0,
        ];
        for (k, w) in want_lin.iter().enumerate() {
            assert!(
                (lin.lr(1.0, k as u64, 10) - w).abs() < 1e-15,
                "linear step {k}"
            );
        }
        let cos = ScheduleConfig {
            decay: Decay::Cosine,
            ..lin
        };
        for k in 3..10u64 {
            let w = 0.5 * (1.0 + (std::f64::consts::PI * (k - 3) as f64 / 7.0).cos());
            assert!((cos.lr(1.0, k, 10) - w).abs() < 1e-15, "cosine step {k}");
        }
        let ratio = ScheduleConfig {
            decay: Decay::Constant,
            warmup_steps: 0,
            warmup_ratio: 0.25,
        };
        assert_eq!(ratio.warmup(10), 3); // ceil(2.5), transformers' get_warmup_steps
        assert_eq!(ratio.lr(2.0, 9, 10), 2.0);
    }
}
