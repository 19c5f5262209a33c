//! The traps of building batches: EOS once, no double BOS, padding side, truncation.

use candle_core::Device;
use prefer_nn::logprobs::{
    BatchConfig, PaddingSide, PairBatch, PairIds, SeqBatch, SeqIds, Truncation,
};

const BOS: u32 = 1;
const EOS: u32 = 2;
const PAD: u32 = 0;

fn cfg() -> BatchConfig {
    BatchConfig {
        bos_id: Some(BOS),
        eos_id: Some(EOS),
        pad_id: PAD,
        ..Default::default()
    }
}

fn one(prompt: &[u32], completion: &[u32], cfg: &BatchConfig) -> (Vec<u32>, usize) {
    cfg.build(prompt, completion).expect("build")
}

#[test]
fn eos_is_appended_exactly_once() {
    assert_eq!(
        one(&[BOS, 5], &[7, 8], &cfg()),
        (vec![BOS, 5, 7, 8, EOS], 2)
    );
    // Already there (a chat template that ends turns with EOS): not doubled.
    assert_eq!(
        one(&[BOS, 5], &[7, 8, EOS], &cfg()),
        (vec![BOS, 5, 7, 8, EOS], 2)
    );
    // No eos_id: nothing appended.
    let c = BatchConfig {
        eos_id: None,
        ..cfg()
    };
    assert_eq!(one(&[BOS, 5], &[7], &c), (vec![BOS, 5, 7], 2));
}

#[test]
fn double_bos_from_a_chat_template_collapses_to_one() {
    // Template wrote "<s>" and the tokenizer added another.
    assert_eq!(one(&[BOS, BOS, 5], &[7], &cfg()).0, vec![BOS, 5, 7, EOS]);
    assert_eq!(one(&[BOS, BOS, BOS, 5], &[7], &cfg()).1, 2);
    // add_bos prepends only when missing.
    let c = BatchConfig {
        add_bos: true,
        ..cfg()
    };
    assert_eq!(one(&[5], &[7], &c).0, vec![BOS, 5, 7, EOS]);
    assert_eq!(one(&[BOS, 5], &[7], &c).0, vec![BOS, 5, 7, EOS]);
    // add_bos without a bos_id is a configuration error.
    let bad = BatchConfig {
        add_bos: true,
        bos_id: None,
        ..cfg()
    };
    assert!(bad.validate().is_err());
}

#[test]
fn truncation_keep_end_and_keep_start() {
    let prompt: Vec<u32> = std::iter::once(BOS).chain(10..20).collect(); // 11 tokens
    let comp: Vec<u32> = (30..36).collect(); // 6 (+EOS = 7)
    // Prompt limit, keep end: BOS kept, then the prompt's last tokens.
    let c = BatchConfig {
        max_prompt_length: Some(4),
        truncation: Truncation::KeepEnd,
        ..cfg()
    };
    assert_eq!(
        one(&prompt, &comp, &c),
        ([vec![BOS, 17, 18, 19], comp.clone(), vec![EOS]].concat(), 4)
    );
    // Prompt limit, keep start.
    let c = BatchConfig {
        max_prompt_length: Some(4),
        truncation: Truncation::KeepStart,
        ..cfg()
    };
    assert_eq!(one(&prompt, &comp, &c).0[..4], [BOS, 10, 11, 12]);
    // Total limit, keep start: the completion loses its end (EOS included).
    let c = BatchConfig {
        max_prompt_length: Some(4),
        max_length: Some(8),
        truncation: Truncation::KeepStart,
        ..cfg()
    };
    assert_eq!(
        one(&prompt, &comp, &c),
        (vec![BOS, 10, 11, 12, 30, 31, 32, 33], 4)
    );
    // Total limit, keep end: the prompt loses tokens after BOS first.
    let c = BatchConfig {
        max_length: Some(10),
        truncation: Truncation::KeepEnd,
        ..cfg()
    };
    assert_eq!(
        one(&prompt, &comp, &c),
        ([vec![BOS, 18, 19], comp.clone(), vec![EOS]].concat(), 3)
    );
    // ... and when the completion alone is too long, it keeps its end.
    let c = BatchConfig {
        max_length: Some(4),
        truncation: Truncation::KeepEnd,
        ..cfg()
    };
    assert_eq!(one(&prompt, &comp, &c), (vec![BOS, 34, 35, EOS], 1));
    // A prompt that fills max_length under keep-start leaves no completion: an error.
    let c = BatchConfig {
        max_length: Some(5),
        truncation: Truncation::KeepStart,
        ..cfg()
    };
    let err = c.build(&prompt, &comp).expect_err("no room");
    assert!(err.to_string().contains("max_length"), "{err}");
    // max_prompt_length must leave room.
    assert!(
        BatchConfig {
            max_prompt_length: Some(8),
            max_length: Some(8),
            ..cfg()
        }
        .validate()
        .is_err()
    );
}

#[test]
fn pair_batch_layout_masks_and_padding_sides() -> prefer_nn::Result<()> {
    let pairs = vec![
        PairIds {
            prompt: vec![BOS, 5, 6],
            chosen: vec![7],
            rejected: vec![8, 9, 10],
        },
        PairIds {
            prompt: vec![BOS, BOS, 5],
            chosen: vec![11, 12, EOS],
            rejected: vec![13],
        },
    ];
    for side in [PaddingSide::Right, PaddingSide::Left] {
        let c = BatchConfig {
            padding_side: side,
            ..cfg()
        };
        let b = PairBatch::new(&pairs, &c, &Device::Cpu)?;
        assert_eq!(b.n_pairs, 2);
        let s = &b.seqs;
        assert_eq!(s.len(), 4);
        // Rows: [chosen_0, chosen_1, rejected_0, rejected_1].
        assert_eq!(s.tokens(0), vec![BOS, 5, 6, 7, EOS]);
        assert_eq!(s.tokens(1), vec![BOS, 5, 11, 12, EOS]);
        assert_eq!(s.tokens(2), vec![BOS, 5, 6, 8, 9, 10, EOS]);
        assert_eq!(s.tokens(3), vec![BOS, 5, 13, EOS]);
        assert_eq!(s.completion_tokens(2), vec![8, 9, 10, EOS]);
        assert_eq!(s.seq_len(), 7);
        let ids = s.input_ids.to_vec2::<u32>()?;
        let att = s.attention_mask.to_vec2::<u8>()?;
        let comp = s.completion_mask.to_vec2::<u8>()?;
        match side {
            PaddingSide::Right => {
                assert_eq!(ids[3], vec![BOS, 5, 13, EOS, PAD, PAD, PAD]);
                assert_eq!(att[3], vec![1, 1, 1, 1, 0, 0, 0]);
                assert_eq!(comp[3], vec![0, 0, 1, 1, 0, 0, 0]);
            }
            PaddingSide::Left => {
                assert_eq!(ids[3], vec![PAD, PAD, PAD, BOS, 5, 13, EOS]);
                assert_eq!(att[3], vec![0, 0, 0, 1, 1, 1, 1]);
                assert_eq!(comp[3], vec![0, 0, 0, 0, 0, 1, 1]);
            }
        }
    }
    Ok(())
}

#[test]
fn errors_name_the_pair_and_side() {
    let pairs = vec![
        PairIds {
            prompt: vec![BOS, 5],
            chosen: vec![7],
            rejected: vec![8],
        },
        PairIds {
            prompt: vec![BOS; 1].into_iter().chain(3..40).collect(),
            chosen: vec![7],
            rejected: vec![8],
        },
    ];
    let c = BatchConfig {
        max_length: Some(10),
        truncation: Truncation::KeepStart,
        ..cfg()
    };
    let err = PairBatch::new(&pairs, &c, &Device::Cpu).expect_err("too long");
    assert!(err.to_string().starts_with("pair 1 (chosen)"), "{err}");
    let err = SeqBatch::new(&[SeqIds::default()], &BatchConfig::default(), &Device::Cpu)
        .expect_err("empty");
    assert!(err.to_string().contains("sequence 0"), "{err}");
}
