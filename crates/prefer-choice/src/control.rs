//! Utility control (paper 70, §6): move a model's utilities toward a target's (the
//! paper's citizen assembly) by training on the target's choices. The target utilities
//! become preference pairs over the same forced-choice questions the model is elicited
//! with ([`crate::ask::render_pair`]): for outcomes i, j with μ_target(i) > μ_target(j),
//! the question with i as option A has chosen " A" and rejected " B", and the question
//! with the order reversed has chosen " B" and rejected " A", so no letter is favoured.
//! The pairs are TRL's `{prompt, chosen, rejected}` records for `prefer train dpo`;
//! agreement with the target before and after is [`order_agreement`] (and the Pearson
//! correlation) of the elicited utilities.

use serde::Serialize;

use crate::ask::render_pair;
use crate::error::{Error, Result};

/// One training record, in TRL's standard preference format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlPair {
    /// The forced-choice question.
    pub prompt: String,
    /// The target's answer (" A" or " B").
    pub chosen: String,
    /// The other letter.
    pub rejected: String,
}

/// The training pairs that state `target`'s preferences over `items`: both orders of
/// every pair whose target utilities differ by more than `min_gap`.
///
/// # Errors
/// A target that is not one utility per item, or not finite.
pub fn target_pairs(items: &[String], target: &[f64], min_gap: f64) -> Result<Vec<ControlPair>> {
    if items.len() != target.len() {
        return Err(Error::Invalid(format!(
            "{} items but {} target utilities",
            items.len(),
            target.len()
        )));
    }
    if let Some(i) = target.iter().position(|t| !t.is_finite()) {
        return Err(Error::Invalid(format!(
            "target utility of `{}` is not finite",
            items[i]
        )));
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        for j in 0..items.len() {
            if i != j && target[i] - target[j] > min_gap {
                out.push(ControlPair {
                    prompt: render_pair(&items[i], &items[j]),
                    chosen: " A".into(),
                    rejected: " B".into(),
                });
                out.push(ControlPair {
                    prompt: render_pair(&items[j], &items[i]),
                    chosen: " B".into(),
                    rejected: " A".into(),
                });
            }
        }
    }
    Ok(out)
}

/// Share of item pairs (with distinct target utilities) that `u` orders as `target`
/// does: 1 for full agreement, ½ for chance, 0 for a reversed order.
pub fn order_agreement(u: &[f64], target: &[f64]) -> f64 {
    let (mut agree, mut total) = (0.0, 0.0);
    for i in 0..u.len().min(target.len()) {
        for j in i + 1..u.len().min(target.len()) {
            let t = target[i] - target[j];
            if t == 0.0 {
                continue;
            }
            total += 1.0;
            let d = u[i] - u[j];
            if d == 0.0 {
                agree += 0.5;
            } else if (d > 0.0) == (t > 0.0) {
                agree += 1.0;
            }
        }
    }
    if total > 0.0 { agree / total } else { f64::NAN }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_state_the_target_in_both_orders_and_agreement_counts_pairs() {
        let items: Vec<String> = ["x", "y", "z"].iter().map(|s| s.to_string()).collect();
        let p = target_pairs(&items, &[1.0, 3.0, 2.0], 0.0).unwrap();
        // Three ordered pairs, two questions each.
        assert_eq!(p.len(), 6);
        let first = &p[0];
        // y ≻ x: y as A chosen " A"; then x as A chosen " B".
        assert!(
            p.iter()
                .any(|q| q.prompt == render_pair("y", "x") && q.chosen == " A")
        );
        assert!(
            p.iter()
                .any(|q| q.prompt == render_pair("x", "y") && q.chosen == " B")
        );
        assert_eq!(p.iter().filter(|q| q.chosen == " A").count(), 3);
        assert!(first.rejected != first.chosen);
        assert_eq!(order_agreement(&[1.0, 3.0, 2.0], &[1.0, 3.0, 2.0]), 1.0);
        assert_eq!(order_agreement(&[3.0, 1.0, 2.0], &[1.0, 3.0, 2.0]), 0.0);
        assert_eq!(order_agreement(&[0.0, 0.0, 0.0], &[1.0, 3.0, 2.0]), 0.5);
        assert!(target_pairs(&items, &[1.0], 0.0).is_err());
    }
}
