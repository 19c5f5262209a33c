//! The reward-model stage of `prefer demo` (seconds on a CPU), and the LM-backbone path of
//! `prefer train reward --model lm`.
//!
//! The demo trains heads on sentence embeddings of generated question/answer pairs (on-topic
//! answers preferred to off-topic or evasive ones): with all-MiniLM-L6-v2 when
//! `scripts/fetch_minilm.sh` has put it in place, else with a tiny random encoder, and it
//! says which. Then two properties on synthetic embeddings with a known truth (cyclic
//! preferences: BT at chance, GPM not; a minority taste: one BT fails it, PAL does not),
//! and, when stories260K is there, a causal-LM reward model.

use std::path::Path;
use std::time::Instant;

use prefer_data::{Annotations, Pair, Record, RecordWriter, Text, WriteOptions};
use prefer_eval::{EmbedOptions, EvalConfig, TextPair, embed_pairs, evaluate, with_meta};
use prefer_nn::encoder::{EmbeddingCache, SentenceEncoder, default_minilm_dir};
use prefer_nn::logprobs::BatchConfig;
use prefer_nn::model::{CausalLm, LoadOptions};
use prefer_nn::reward::lm::{LmRewardConfig, LmRewardModel};
use prefer_nn::reward::{
    BradleyTerryRm, BradleyTerryRmConfig, FeatureMap, Gpm, GpmConfig, Pal, PalConfig, TrainConfig,
    pairwise_accuracy, synth,
};
use prefer_nn::sample::{SampleConfig, generate};
use prefer_nn::tokenizer::Tokenizer;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOPICS: [(&str, [&str; 6]); 12] = [
    (
        "bake sourdough bread",
        ["flour", "starter", "dough", "knead", "oven", "crust"],
    ),
    (
        "train a new puppy",
        ["treats", "leash", "sit command", "crate", "praise", "walks"],
    ),
    (
        "fix a flat bicycle tire",
        ["inner tube", "tire lever", "patch", "pump", "valve", "rim"],
    ),
    (
        "grow tomatoes on a balcony",
        [
            "pots",
            "soil",
            "sunlight",
            "watering",
            "stakes",
            "seedlings",
        ],
    ),
    (
        "prepare for a job interview",
        [
            "resume",
            "questions",
            "company research",
            "examples",
            "posture",
            "follow-up email",
        ],
    ),
    (
        "learn to play the guitar",
        [
            "chords",
            "strumming",
            "frets",
            "tuner",
            "practice",
            "calluses",
        ],
    ),
    (
        "save money on groceries",
        [
            "shopping list",
            "coupons",
            "bulk buying",
            "meal plan",
            "store brands",
            "budget",
        ],
    ),
    (
        "start running as a beginner",
        [
            "shoes",
            "pace",
            "warm-up",
            "intervals",
            "rest days",
            "stretching",
        ],
    ),
    (
        "write a cover letter",
        [
            "greeting",
            "achievements",
            "job posting",
            "tone",
            "closing",
            "proofreading",
        ],
    ),
    (
        "clean a cast iron pan",
        [
            "hot water",
            "scrubber",
            "salt",
            "drying",
            "oil",
            "seasoning",
        ],
    ),
    (
        "improve sleep quality",
        [
            "bedtime",
            "screens",
            "caffeine",
            "dark room",
            "routine",
            "naps",
        ],
    ),
    (
        "set up a home aquarium",
        ["filter", "heater", "gravel", "water test", "plants", "fish"],
    ),
];

fn answer(topic: usize, rng: &mut ChaCha8Rng) -> String {
    let (task, k) = TOPICS[topic];
    let mut w: Vec<&str> = k.to_vec();
    w.shuffle(rng);
    format!(
        "To {task}, begin with the {}. Then pay attention to the {} and the {}. Many people forget the {}, so check it twice. Finally, the {} makes a real difference.",
        w[0], w[1], w[2], w[3], w[4]
    )
}

const EVASIVE: [&str; 4] = [
    "I am not sure about that. Maybe search online or ask someone else.",
    "That depends on many things. It is hard to say anything useful here.",
    "Sorry, I cannot help with this question right now.",
    "There are many opinions about this and no single answer.",
];

/// Question/answer pairs: chosen answers the question; rejected answers another question
/// or evades.
pub fn topic_pairs(n: usize, seed: u64) -> Vec<TextPair> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let t = rng.random_range(0..TOPICS.len());
            let style = [
                "How do I",
                "What is the best way to",
                "Can you explain how to",
                "Any tips to",
            ][rng.random_range(0..4)];
            let rejected = if rng.random::<bool>() {
                let mut o = rng.random_range(0..TOPICS.len() - 1);
                if o >= t {
                    o += 1;
                }
                answer(o, &mut rng)
            } else {
                EVASIVE[rng.random_range(0..EVASIVE.len())].to_string()
            };
            TextPair {
                loc: format!("topic-pairs:{}", i + 1),
                prompt: format!("{style} {}?", TOPICS[t].0),
                chosen: answer(t, &mut rng),
                rejected,
                user: None,
                context: None,
                source: Some("topic-pairs".into()),
                subset: None,
                strength: None,
                margin: None,
                score_chosen: None,
                score_rejected: None,
                rating_chosen: None,
                rating_rejected: None,
            }
        })
        .collect()
}

/// Story pairs from a causal LM: chosen is a sampled continuation of a story opening,
/// rejected the same words in a random order (coherence is the preference).
pub fn story_pairs(model_dir: &Path, n: usize, seed: u64) -> anyhow::Result<Vec<TextPair>> {
    let lm = CausalLm::load(model_dir, &LoadOptions::frozen())?;
    let tok = Tokenizer::from_dir(model_dir)?;
    let openings = [
        "Once upon a time",
        "One day, a little girl",
        "Tom had a big",
        "The sun was shining and",
        "Lily wanted to",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let prompts: Vec<String> = (0..n)
        .map(|i| openings[i % openings.len()].to_string())
        .collect();
    let ids: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| tok.encode(p, true))
        .collect::<Result<_, _>>()?;
    let eos: Vec<u32> = tok.eos_id().into_iter().collect();
    let cfg = SampleConfig {
        max_new_tokens: 48,
        temperature: 0.8,
        seed,
        ..Default::default()
    };
    let gens = generate(&lm, &ids, &eos, &cfg)?;
    let mut out = Vec::with_capacity(n);
    for (i, (p, g)) in prompts.iter().zip(gens).enumerate() {
        let text = tok.decode(&g.tokens, true)?;
        let mut words: Vec<&str> = text.split_whitespace().collect();
        if words.len() < 4 {
            continue;
        }
        let original = words.clone();
        while words == original {
            words.shuffle(&mut rng);
        }
        out.push(TextPair {
            loc: format!("story-pairs:{}", i + 1),
            prompt: p.clone(),
            chosen: original.join(" "),
            rejected: words.join(" "),
            user: None,
            context: None,
            source: Some("stories260K".into()),
            subset: None,
            strength: None,
            margin: None,
            score_chosen: None,
            score_rejected: None,
            rating_chosen: None,
            rating_rejected: None,
        });
    }
    Ok(out)
}

/// Writes text pairs as a pair JSONL file.
pub fn write_pairs(path: &Path, pairs: &[TextPair]) -> anyhow::Result<()> {
    let mut w = RecordWriter::create(path, &WriteOptions::default())?;
    for p in pairs {
        w.write(&Record::Pair(Pair {
            prompt: Some(Text::Plain(p.prompt.clone())),
            chosen: Text::Plain(p.chosen.clone()),
            rejected: Text::Plain(p.rejected.clone()),
            ann: Annotations {
                source: p.source.clone(),
                ..Default::default()
            },
        }))?;
    }
    w.finish()?;
    Ok(())
}

/// The demo stage.
pub fn run(
    out: &Path,
    model_dir: &Path,
    seed: u64,
    summary: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let t0 = Instant::now();
    // (a) Heads on sentence embeddings of text.
    let dir = default_minilm_dir();
    let enc = if dir.join("model.safetensors").exists() {
        let e = SentenceEncoder::load(&dir)?;
        println!("    encoder: all-MiniLM-L6-v2 from {}", dir.display());
        e
    } else {
        println!(
            "    encoder: all-MiniLM-L6-v2 not found at {} (run scripts/fetch_minilm.sh);\n    \
             using a TINY RANDOM encoder instead: its embeddings carry no meaning, expect lower accuracy",
            dir.display()
        );
        SentenceEncoder::tiny_random(seed)?
    };
    let pairs = topic_pairs(400, seed);
    let (train, test) = pairs.split_at(300);
    let mut cache = EmbeddingCache::open(&out.join("demo-embeddings.safetensors"), &enc)?;
    let te = Instant::now();
    let eo = EmbedOptions::default();
    let dtrain = embed_pairs(&enc, Some(&mut cache), train, &eo)?;
    let dtest = embed_pairs(&enc, Some(&mut cache), test, &eo)?;
    cache.save()?;
    println!(
        "    embedded {} texts in {:.1} s (cached in {})",
        cache.len(),
        te.elapsed().as_secs_f64(),
        cache.path().display()
    );
    let tc = TrainConfig {
        epochs: 40,
        lr: 3e-3,
        seed,
        ..Default::default()
    };
    let (bt, _) = BradleyTerryRm::fit(
        &dtrain,
        &BradleyTerryRmConfig {
            train: tc.clone(),
            ..Default::default()
        },
    )?;
    let z = bt.pair_logits(&dtest)?;
    let scored: Vec<_> = test
        .iter()
        .zip(&z)
        .map(|(t, &l)| with_meta(t, f64::from(l)))
        .collect();
    let r = evaluate("BT head", &scored, &EvalConfig::default())?;
    let (gpm, _) = Gpm::fit(
        &dtrain,
        &GpmConfig {
            train: tc.clone(),
            ..Default::default()
        },
    )?;
    let gpm_topic = pairwise_accuracy(&gpm.pair_logits(&dtest)?);
    println!(
        "    on-topic vs off-topic answers, 100 held-out pairs: BT head {:.1}% (ECE {:.3}), GPM head {:.1}%",
        100.0 * r.accuracy,
        r.calibration.ece,
        100.0 * gpm_topic
    );

    // (b) Properties on synthetic embeddings with a known truth.
    let cyc_train = synth::cyclic_pairs(3000, 8, 6.0, seed)?;
    let cyc_test = synth::cyclic_pairs(1000, 8, 6.0, seed + 1)?;
    let stc = TrainConfig {
        epochs: 20,
        lr: 0.01,
        seed,
        ..Default::default()
    };
    let (bt_c, _) = BradleyTerryRm::fit(
        &cyc_train,
        &BradleyTerryRmConfig {
            features: FeatureMap::Response,
            hidden: vec![32],
            train: stc.clone(),
            ..Default::default()
        },
    )?;
    let (gpm_c, _) = Gpm::fit(
        &cyc_train,
        &GpmConfig {
            value_dim: 2,
            features: FeatureMap::Response,
            train: stc.clone(),
            ..Default::default()
        },
    )?;
    let (bt_cyclic, gpm_cyclic) = (
        pairwise_accuracy(&bt_c.pair_logits(&cyc_test)?),
        pairwise_accuracy(&gpm_c.pair_logits(&cyc_test)?),
    );
    println!(
        "    cyclic preferences (rock-paper-scissors on a circle): BT {:.1}% (chance is 50%), GPM {:.1}%",
        100.0 * bt_cyclic,
        100.0 * gpm_cyclic
    );
    let per = 50;
    let up = synth::user_pairs(60, per, &[0.7, 0.3], 16, 8.0, seed)?;
    let (mut tr, mut te_idx) = (Vec::new(), Vec::new());
    for u in 0..60 {
        for j in 0..per {
            if j < 35 {
                tr.push(u * per + j)
            } else {
                te_idx.push(u * per + j)
            }
        }
    }
    let (utrain, utest) = (up.data.select(&tr)?, up.data.select(&te_idx)?);
    let (bt_u, _) = BradleyTerryRm::fit(
        &utrain,
        &BradleyTerryRmConfig {
            features: FeatureMap::Response,
            train: stc.clone(),
            ..Default::default()
        },
    )?;
    let (pal, _) = Pal::fit(
        &utrain,
        &PalConfig {
            features: FeatureMap::Response,
            train: TrainConfig { epochs: 40, ..stc },
            ..Default::default()
        },
    )?;
    let minority = |z: &[f32]| -> f64 {
        let m: Vec<f32> = te_idx
            .iter()
            .zip(z)
            .filter(|(i, _)| up.group[**i] == 1)
            .map(|(_, z)| *z)
            .collect();
        pairwise_accuracy(&m)
    };
    let (bt_minority, pal_minority) = (
        minority(&bt_u.pair_logits(&utest)?),
        minority(&pal.pair_logits(&utest)?),
    );
    println!(
        "    users with conflicting tastes (30% minority): minority accuracy, one BT model {:.1}%, PAL {:.1}%",
        100.0 * bt_minority,
        100.0 * pal_minority
    );
    let mut figures = serde_json::json!({
        "encoder_random": !dir.join("model.safetensors").exists(),
        "bt_topic": r.accuracy,
        "gpm_topic": gpm_topic,
        "bt_cyclic": bt_cyclic,
        "gpm_cyclic": gpm_cyclic,
        "bt_minority": bt_minority,
        "pal_minority": pal_minority,
    });

    // (c) A causal-LM reward model on stories260K.
    if model_dir.join("model.safetensors").exists() {
        let stories = story_pairs(model_dir, 160, seed)?;
        let path = out.join("story_pairs.jsonl");
        write_pairs(&path, &stories)?;
        let (s_train, s_test) = stories.split_at(stories.len() * 3 / 4);
        let tok = Tokenizer::from_dir(model_dir)?;
        let lm = CausalLm::load(model_dir, &LoadOptions::trainable())?;
        let rm = LmRewardModel::new(lm, 1, seed)?;
        let cfg = LmRewardConfig {
            epochs: 3,
            lr: 2e-3,
            batch_size: 16,
            seed,
            batch: BatchConfig {
                bos_id: tok.bos_id(),
                eos_id: tok.eos_id(),
                pad_id: 0,
                ..Default::default()
            },
            ..Default::default()
        };
        let lm_ids = |v| super::pair_ids::lm_ids(&tok, v);
        let (tr_ids, te_ids) = (lm_ids(s_train)?, lm_ids(s_test)?);
        let before = pairwise_accuracy(&rm.pair_logits(&te_ids, &cfg.batch, 16)?);
        rm.fit(&tr_ids, &[], &cfg)?;
        let after = pairwise_accuracy(&rm.pair_logits(&te_ids, &cfg.batch, 16)?);
        figures["lm_rm_before"] = before.into();
        figures["lm_rm_after"] = after.into();
        println!(
            "    stories260K + score head on the last real token, sampled story vs shuffled words ({} held out): {:.1}% -> {:.1}% (pairs in {})",
            te_ids.len(),
            100.0 * before,
            100.0 * after,
            path.display()
        );
    } else {
        println!(
            "    stories260K not found at {}: LM reward model skipped",
            model_dir.display()
        );
    }
    summary.insert("reward".into(), figures);
    println!(
        "    reward stage done in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
