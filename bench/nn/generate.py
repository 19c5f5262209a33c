"""Sampling speed: `prefer generate` vs transformers `generate`, same model, same threads.

Builds a tiny random Llama (hidden 256, 4 layers, 8 heads / 4 KV heads, FFN 688,
vocab 8000) as a Hugging Face folder with a word-level tokenizer, then times, alternating
the two in one run: batch 1 and batch 8, 96 new tokens each, pure sampling (temperature 1,
no top-k/top-p), EOS ignored so every run makes the same number of tokens. Reports the
median tokens/s over the repeats and each process's peak RSS.

Usage (from the repository root, after `cargo build --release -p prefer-cli`):
  CANDLE_NUM_THREADS=1 RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE \
    $PREFER_REFVENV/bin/python bench/nn/generate.py --prefer target/release/prefer
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

NEW_TOKENS = 96
PROMPT = "t5 t17 t301 t42"  # 4 tokens + BOS


def build_model(d):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=8000, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                      num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=512,
                      bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    LlamaForCausalLM(cfg).save_pretrained(d)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocab.update({f"t{i}": i for i in range(3, 8000)})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.save(os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, f)


def run_torch(d, batch):
    """Child process: time transformers generate; print tokens/s and peak RSS."""
    import torch
    from transformers import LlamaForCausalLM

    torch.set_num_threads(1)
    model = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    ids = torch.tensor([[1, 5, 17, 301, 42]] * batch)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.0,
                             top_k=0, top_p=1.0, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                             pad_token_id=0)
    secs = time.perf_counter() - t0
    n = (out.shape[1] - ids.shape[1]) * batch
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"tok_s": n / secs, "rss_mb": rss}))


def run_prefer(exe, d, batch, seed):
    cmd = ["/usr/bin/time", "-f", "RSS_KB %M", exe, "generate", "--model", d, "--prompt", PROMPT,
           "-n", str(batch), "--temperature", "1", "--max-new-tokens", str(NEW_TOKENS),
           "--ignore-eos", "--seed", str(seed), "--timing", "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    line = [l for l in p.stderr.splitlines() if "tokens/s" in l][0]
    tok_s = float(line.split("(")[1].split(" tokens/s")[0])
    rss = int([l for l in p.stderr.splitlines() if l.startswith("RSS_KB")][0].split()[1]) / 1024
    return {"tok_s": tok_s, "rss_mb": rss}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefer", default="target/release/prefer")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child-torch", nargs=2, metavar=("DIR", "BATCH"))
    a = ap.parse_args()
    if a.child_torch:
        run_torch(a.child_torch[0], int(a.child_torch[1]))
        return
    env_keys = ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY"]
    print("threads:", {k: os.environ.get(k) for k in env_keys})
    import torch, transformers
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, cpus {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as d:
        build_model(d)
        for batch in (1, 8):
            res = {"prefer": [], "torch": []}
            for r in range(a.repeats):  # alternate the two so load changes hit both
                res["prefer"].append(run_prefer(a.prefer, d, batch, r))
                p = subprocess.run([sys.executable, __file__, "--child-torch", d, str(batch)],
                                   capture_output=True, text=True, check=True)
                res["torch"].append(json.loads(p.stdout.strip().splitlines()[-1]))
            pm = statistics.median(x["tok_s"] for x in res["prefer"])
            tm = statistics.median(x["tok_s"] for x in res["torch"])
            pr = max(x["rss_mb"] for x in res["prefer"])
            tr = max(x["rss_mb"] for x in res["torch"])
            print(f"batch {batch}: prefer {pm:7.1f} tok/s ({pr:5.0f} MB peak RSS) | "
                  f"transformers {tm:7.1f} tok/s ({tr:5.0f} MB) | speedup {pm / tm:.2f}x")


if __name__ == "__main__":
    main()
