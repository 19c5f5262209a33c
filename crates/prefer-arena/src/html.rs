//! The pages: plain HTML built on the server, forms instead of scripts (the page works
//! with JavaScript off; the Content-Security-Policy forbids scripts anyway). Every
//! string that came from a user or an import goes through [`esc`].

use std::fmt::Write;

use crate::battle::LABELS;
use crate::view::{BattleView, BoardView, Health, Receipt};

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:72rem;margin:0 auto;padding:1rem 1.5rem;color:#1d232b;background:#f7f7f4}
header{display:flex;gap:1.5rem;align-items:baseline;border-bottom:1px solid #ccd;margin-bottom:1rem}
header h1{font-size:1.3rem;margin:.5rem 0}
a{color:#2553a3}
.prompt{background:#fff;border:1px solid #ccd;border-radius:6px;padding:.8rem 1rem;white-space:pre-wrap}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(16rem,1fr));gap:1rem;margin:1rem 0}
.resp{background:#fff;border:1px solid #ccd;border-radius:6px;padding:.8rem 1rem}
.resp h3{margin:.1rem 0 .5rem;font-size:1rem}
.resp pre{white-space:pre-wrap;font-family:inherit;margin:0}
form.inline{display:inline}
button{font-size:1rem;padding:.45rem .9rem;margin:.2rem;border-radius:5px;border:1px solid #2553a3;background:#2553a3;color:#fff;cursor:pointer}
button.alt{background:#fff;color:#2553a3}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border-bottom:1px solid #dde;padding:.4rem .6rem;text-align:right}
th:nth-child(2),td:nth-child(2){text-align:left}
.muted{color:#667}
.err{background:#fff3f3;border:1px solid #e2a0a0;border-radius:6px;padding:1rem}
";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} · prefer arena</title><style>{STYLE}</style></head><body>\
         <header><h1>prefer arena</h1><a href=\"/\">Vote</a><a href=\"/leaderboard\">Leaderboard</a></header>\
         {body}</body></html>\n",
        esc(title)
    )
}

/// The start page.
pub fn home(h: &Health) -> String {
    page(
        "Vote",
        &format!(
            "<p>Read a prompt and {k} anonymous answers from different models, then pick the best \
             (or rank them). The models' names are shown after your vote is stored.</p>\
             <p class=\"muted\">{models} models · {prompts} prompts · {votes} votes so far</p>\
             <form method=\"post\" action=\"/battle\"><button id=\"start\" type=\"submit\">Start a battle</button></form>",
            k = h.k,
            models = h.models,
            prompts = h.prompts,
            votes = h.votes
        ),
    )
}

/// A battle: the prompt, the responses, the vote forms.
pub fn battle(b: &BattleView) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<h2>Prompt</h2><div class=\"prompt\" id=\"prompt\">{}</div><div class=\"grid\">",
        esc(&b.prompt)
    );
    for r in &b.responses {
        let _ = write!(
            s,
            "<div class=\"resp\" id=\"resp-{l}\"><h3>Response {l}</h3><pre>{}</pre></div>",
            esc(&r.text),
            l = esc(&r.label)
        );
    }
    s.push_str("</div>");
    let action = format!("/battle/{}/vote", esc(&b.battle_id));
    let _ = write!(s, "<form method=\"post\" action=\"{action}\"><p>");
    for r in &b.responses {
        let _ = write!(
            s,
            "<button type=\"submit\" name=\"winner\" value=\"{l}\" id=\"best-{l}\">{l} is {}</button>",
            if b.k == 2 { "better" } else { "best" },
            l = esc(&r.label)
        );
    }
    let _ = write!(
        s,
        "<button class=\"alt\" type=\"submit\" name=\"winner\" value=\"tie\" id=\"tie\">Tie</button>\
         <button class=\"alt\" type=\"submit\" name=\"winner\" value=\"bothbad\" id=\"bothbad\">{}</button></p></form>",
        if b.k == 2 {
            "Both are bad"
        } else {
            "All are bad"
        }
    );
    if b.k > 2 {
        let _ = write!(
            s,
            "<form method=\"post\" action=\"{action}\"><p>Or rank them (1 = best, each rank once): "
        );
        for (i, r) in b.responses.iter().enumerate() {
            let _ = write!(
                s,
                "<label>{} <select name=\"rank{i}\" id=\"rank-{i}\">",
                esc(&r.label)
            );
            for v in 1..=b.k {
                let _ = write!(
                    s,
                    "<option value=\"{v}\"{}>{v}</option>",
                    if v == i + 1 { " selected" } else { "" }
                );
            }
            s.push_str("</select></label> ");
        }
        s.push_str("<button class=\"alt\" type=\"submit\" id=\"rank-submit\">Submit ranking</button></p></form>");
    }
    page("Battle", &s)
}

/// After a vote: who was who.
pub fn receipt(r: &Receipt) -> String {
    let mut s = String::from(
        "<h2>Thanks, your vote is stored</h2><table id=\"reveal\"><tr><th>Response</th><th>Model</th><th>Your rank</th></tr>",
    );
    for m in &r.models {
        let _ = write!(
            s,
            "<tr><td>{}</td><td class=\"model\">{}</td><td>{}</td></tr>",
            esc(&m.label),
            esc(&m.model),
            m.rank
        );
    }
    let _ = write!(
        s,
        "</table><p class=\"muted\">Vote {} ({})</p>\
         <form method=\"post\" action=\"/battle\" class=\"inline\"><button id=\"next\" type=\"submit\">Next battle</button></form> \
         <a href=\"/leaderboard\" id=\"to-leaderboard\">Leaderboard</a>",
        r.vote_id,
        esc(&r.kind)
    );
    page("Vote stored", &s)
}

fn num(x: f64) -> String {
    format!("{x:.1}")
}

/// The leaderboard.
pub fn leaderboard(b: &BoardView) -> String {
    let mut s = format!("<h2>Leaderboard</h2><p class=\"muted\">{} votes. ", b.votes);
    match &b.refit {
        Some(r) => {
            let _ = write!(
                s,
                "Bradley-Terry refit on {} votes with {} bootstrap rounds ({:.2} s){}; Elo and K-Sort update with every vote.",
                r.votes,
                r.bootstrap_rounds,
                r.seconds,
                r.error
                    .as_ref()
                    .map_or(String::new(), |e| format!(" — refit failed: {}", esc(e)))
            );
        }
        None => s.push_str("No refit yet; Elo and K-Sort update with every vote."),
    }
    s.push_str(
        "</p><table id=\"board\"><thead><tr><th>Rank</th><th>Model</th><th>Rating (BT)</th><th>95% interval</th>\
         <th>K-Sort μ − 3σ</th><th>Elo</th><th>Votes</th></tr></thead><tbody>",
    );
    for r in &b.rows {
        let (rating, ci) = match r.bt {
            Some(c) => (
                num(c.rating),
                match (c.lower, c.upper) {
                    (Some(l), Some(u)) => format!("{} – {}", num(l), num(u)),
                    _ => String::new(),
                },
            ),
            None => ("–".into(), String::new()),
        };
        let _ = write!(
            s,
            "<tr><td>{}</td><td class=\"model\">{}</td><td>{rating}</td><td>{ci}</td><td>{:.2}</td><td>{}</td><td class=\"votes\">{}</td></tr>",
            r.rank,
            esc(&r.model),
            r.ksort.score,
            num(r.elo),
            r.votes
        );
    }
    s.push_str("</tbody></table><p><a href=\"/leaderboard\">Refresh</a> · <a href=\"/api/leaderboard\">JSON</a></p>");
    page("Leaderboard", &s)
}

/// An error page.
pub fn error_page(status: u16, message: &str) -> String {
    page(
        "Error",
        &format!(
            "<div class=\"err\" id=\"error\"><h2>{status}</h2><p>{}</p><p><a href=\"/\">Start again</a></p></div>",
            esc(message)
        ),
    )
}

/// Labels in display order, for callers that need them.
pub fn labels(k: usize) -> &'static [&'static str] {
    &LABELS[..k.min(4)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
