"""Shared settings of the DPO-step benchmark peers (bench/train/run.sh)."""
import json
import resource
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

CONFIGS = {
    # hidden 256, 4 layers, vocab 8000; 4 pairs of 128 tokens (64 prompt + 64 completion)
    "tiny": dict(cfg=dict(vocab_size=8000, hidden_size=256, intermediate_size=688,
                          num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=8,
                          rms_norm_eps=1e-5, tie_word_embeddings=False),
                 pairs=4, seq_len=128),
    # SmolLM-135M's shape; 2 pairs of 256 tokens
    "smollm": dict(cfg=dict(vocab_size=49152, hidden_size=576, intermediate_size=1536,
                            num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                            rms_norm_eps=1e-5, tie_word_embeddings=True),
                   pairs=2, seq_len=256),
}


def model_for(name, seed=0):
    torch.manual_seed(seed)
    cfg = LlamaConfig(**CONFIGS[name]["cfg"], bos_token_id=1, eos_token_id=2, pad_token_id=0,
                      max_position_embeddings=2048)
    return LlamaForCausalLM(cfg).float()


def token_data(name, n_pairs, seed=0):
    c = CONFIGS[name]
    g = torch.Generator().manual_seed(seed)
    half = c["seq_len"] // 2
    v = c["cfg"]["vocab_size"]
    out = []
    for _ in range(n_pairs):
        p, ch, rj = (torch.randint(3, v, (half,), generator=g).tolist() for _ in range(3))
        out.append({"prompt_ids": p, "chosen_ids": ch, "rejected_ids": rj})
    return out


def matmul_gflops(n=1024):
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        (a @ b).sum().item()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(impl, name, times, loss, params):
    c = CONFIGS[name]
    times = sorted(times)
    med = times[len(times) // 2]
    print(json.dumps({
        "impl": impl, "config": name, "params": params, "pairs": c["pairs"], "seq_len": c["seq_len"],
        "step_s_median": med, "step_s_all": times, "peak_rss_mb": peak_rss_mb(),
        "tokens_per_s": 2 * c["pairs"] * c["seq_len"] / med, "matmul_gflops": matmul_gflops(),
        "last_loss": loss, "torch": torch.__version__, "threads": torch.get_num_threads(),
    }))


class StepTimer:
    """A transformers TrainerCallback body: the wall time of each optimizer step."""

    def __init__(self):
        self.times, self.t = [], None

    def on_step_begin(self, args, state, control, **kw):
        self.t = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.times.append(time.perf_counter() - self.t)
