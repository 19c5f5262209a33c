//! The readers never panic, whatever the bytes: property tests feed random and mutated
//! inputs through every format and check that each is read to the end with records or
//! errors.

#![allow(clippy::unwrap_used)]

use std::io::Write;

use prefer_data::{Dataset, OpenOptions};
use proptest::prelude::*;

const SEEDS: &[&[u8]] = &[
    b"{\"prompt\":\"q\",\"chosen\":\"a\",\"rejected\":\"b\",\"strength\":0.7}\n",
    b"{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"tie (bothbad)\"}\n",
    b"{\"models\":[\"a\",\"b\",\"c\"],\"ranking\":[2,1,3]}\n",
    b"{\"prompt\":[{\"role\":\"user\",\"content\":\"hi\"}],\"chosen\":[{\"role\":\"assistant\",\"content\":\"yo\"}],\"rejected\":[]}\n",
];

fn read_everything(name: &str, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(bytes).unwrap();
    drop(f);
    if let Ok(ds) = Dataset::open(&path, &OpenOptions::default()) {
        // Every item is a record or an error; the iteration ends.
        let n = ds.take(100_000).count();
        assert!(n <= 100_000);
    }
}

fn mutate(seed: &[u8], edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let mut v = seed.repeat(3);
    for &(i, b) in edits {
        let k = i % v.len();
        v[k] = b;
    }
    v.truncate(cut % (v.len() + 1));
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for name in ["x.jsonl", "x.json", "x.csv", "x.tsv", "x.parquet", "x.jsonl.gz"] {
            read_everything(name, &bytes);
        }
    }

    #[test]
    fn mutated_records_never_panic(
        which in 0..SEEDS.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
    ) {
        let bytes = mutate(SEEDS[which], &edits, cut);
        read_everything("m.jsonl", &bytes);
        let mut arr = b"[".to_vec();
        arr.extend_from_slice(&bytes);
        read_everything("m.json", &arr);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        let z = gz.finish().unwrap();
        read_everything("m.jsonl.gz", &z[..z.len() / 2 + 1]);
    }
}
