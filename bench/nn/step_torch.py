"""PyTorch peer of tests/nn/step_timing.rs: one forward + backward of the summed
completion log-probs over 4 + 4 sequences of 128 tokens, tiny Llama (hidden 256,
4 layers, 8/4 heads, FFN 688, vocab 8000), 1 thread, median of 5.

  OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE $PREFER_REFVENV/bin/python bench/nn/step_torch.py
"""
import statistics
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

torch.set_num_threads(1)
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=8000, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                  num_attention_heads=8, num_key_value_heads=4, attn_implementation="sdpa")
model = LlamaForCausalLM(cfg)
ids = torch.randint(3, 8000, (8, 128))
mask = torch.zeros(8, 127)
mask[:, 31:] = 1.0
times = []
for _ in range(5):
    t0 = time.perf_counter()
    logits = model(input_ids=ids).logits
    lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(2, ids[:, 1:, None]).squeeze(2)
    s = (lp * mask).sum(1)
    loss = s[:4].sum() - s[4:].sum()
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    model.zero_grad(set_to_none=True)
    times.append((t1 - t0, t2 - t1))
times.sort(key=lambda t: t[0] + t[1])
f, b = times[len(times) // 2]
print(f"torch {torch.__version__} tiny 4+4 x 128: forward {f:.3f} s, backward {b:.3f} s, total {f + b:.3f} s (median of 5)")
