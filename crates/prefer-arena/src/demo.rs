//! Demo outputs: six made-up models answering twelve prompts, of visibly different
//! quality (one is careful, one is terse, one rambles, one is often wrong, ...), so a
//! person voting on the demo sees a leaderboard take shape. Deterministic: no seed.

use crate::catalog::OutputRecord;

const PROMPTS: &[(&str, &str, &str)] = &[
    ("add", "What is 17 + 25?", "42"),
    ("capital", "What is the capital of Australia?", "Canberra"),
    (
        "boil",
        "At what temperature does water boil at sea level, in Celsius?",
        "100 °C",
    ),
    (
        "planet",
        "Which planet is the largest in the solar system?",
        "Jupiter",
    ),
    ("prime", "Is 91 a prime number?", "No: 91 = 7 × 13"),
    (
        "haiku",
        "Write a haiku about autumn.",
        "Red leaves drift and fall / the maple lets go of summer / cold wind keeps the count",
    ),
    (
        "sort",
        "Name a sorting algorithm that runs in O(n log n) in the worst case.",
        "Merge sort (heap sort also works)",
    ),
    ("hex", "What is 255 in hexadecimal?", "0xFF"),
    ("author", "Who wrote 'Pride and Prejudice'?", "Jane Austen"),
    (
        "light",
        "About how long does sunlight take to reach the Earth?",
        "About 8 minutes and 20 seconds",
    ),
    ("mul", "What is 12 × 13?", "156"),
    (
        "rust",
        "In Rust, what does the `?` operator do?",
        "It returns early with the error (converted by From) if the Result is Err, and otherwise unwraps the Ok value",
    ),
];

const WRONG: &[&str] = &[
    "41",
    "Sydney",
    "90 °C",
    "Saturn",
    "Yes, 91 is prime",
    "Autumn is a season.",
    "Bubble sort",
    "0xFE",
    "Charlotte Brontë",
    "About one second",
    "144",
    "It makes the value optional",
];

/// The demo's outputs.
pub fn outputs() -> Vec<OutputRecord> {
    let mut out = Vec::new();
    type Style = fn(usize, &str, &str) -> String;
    let styles: [(&str, Style); 6] = [
        ("careful-7b", |_, q, a| {
            format!(
                "{a}.\n\nTo check: the question was \"{q}\", and the answer above follows directly."
            )
        }),
        ("concise-3b", |_, _, a| a.to_string()),
        ("chatty-13b", |_, q, a| {
            format!(
                "Great question! You asked: \"{q}\". Let me think about this step by step, because it is \
                 worth being thorough here. After considering it carefully, the answer is: {a}. \
                 I hope this helps, and let me know if you have any other questions!"
            )
        }),
        ("sloppy-1b", |i, _, a| {
            if i % 2 == 0 {
                WRONG[i].to_string()
            } else {
                a.to_lowercase()
            }
        }),
        ("wrong-0.5b", |i, _, _| {
            format!("I believe it is {}.", WRONG[i])
        }),
        ("hedging-7b", |i, _, a| {
            if i % 3 == 0 {
                format!("It might be {}, or possibly {a}; I am not sure.", WRONG[i])
            } else {
                format!("Probably {a}, though you may want to double-check.")
            }
        }),
    ];
    for (model, f) in styles {
        for (i, (id, q, a)) in PROMPTS.iter().enumerate() {
            out.push(OutputRecord {
                model: model.to_string(),
                prompt_id: (*id).to_string(),
                prompt: (*q).to_string(),
                response: f(i, q, a),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_model_answers_every_prompt_once() {
        let o = super::outputs();
        assert_eq!(o.len(), 6 * 12);
        let text: String = o
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        assert_eq!(
            crate::catalog::parse_outputs(&text, "demo").unwrap().len(),
            72
        );
    }
}
