//! Times the parts of a bootstrap on a battle log: `cargo run --release --example
//! profile_bootstrap -- FILE`.
use std::time::Instant;

use prefer_rank::bt::{BtConfig, fit_with};
use prefer_rank::intervals::resample;
use prefer_rank::load::{OnBad, load};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: profile_bootstrap FILE")?;
    let t = Instant::now();
    let l = load(path.as_ref(), &Default::default(), OnBad::Stop, &[])?;
    println!("load {:.3}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let c = l.data.pairs.pair_counts();
    println!(
        "aggregate {:.3}s ({} cells)",
        t.elapsed().as_secs_f64(),
        c.cells.len()
    );
    let t = Instant::now();
    let f = fit_with(&c, l.data.items(), &BtConfig::default(), false)?;
    println!(
        "fit {:.4}s ({} iterations)",
        t.elapsed().as_secs_f64(),
        f.iterations
    );
    let t = Instant::now();
    let f = fit_with(&c, l.data.items(), &BtConfig::default(), true)?;
    println!(
        "fit+se {:.4}s ({} iterations)",
        t.elapsed().as_secs_f64(),
        f.iterations
    );
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let t = Instant::now();
    let mut rs = Vec::new();
    for _ in 0..20 {
        rs.push(resample(&c, &mut rng));
    }
    println!("resample x20 {:.4}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    for r in &rs {
        fit_with(r, l.data.items(), &BtConfig::default(), false)?;
    }
    println!("fit x20 {:.4}s", t.elapsed().as_secs_f64());
    Ok(())
}
