"""The DPO step in plain PyTorch: policy forward+backward on [chosen; rejected], a frozen
reference forward, sigmoid loss (beta 0.1), clip to norm 1, AdamW (lr 1e-6).

Usage: python peer_torch.py tiny|smollm STEPS
"""
import copy
import sys
import time

import torch
import torch.nn.functional as F

from common import CONFIGS, model_for, report, token_data

name, steps = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(1)
c = CONFIGS[name]
policy = model_for(name)
ref = copy.deepcopy(policy).eval().requires_grad_(False)
opt = torch.optim.AdamW(policy.parameters(), lr=1e-6, weight_decay=0.0)
data = token_data(name, c["pairs"] * (steps + 1))


def seq_logps(model, ids, mask):
    logits = model(input_ids=ids).logits[:, :-1]
    lp = torch.gather(logits.log_softmax(-1), 2, ids[:, 1:, None]).squeeze(2)
    return (lp * mask[:, 1:]).sum(-1)


times, loss_v = [], None
for i in range(steps + 1):
    batch = data[i * c["pairs"]:(i + 1) * c["pairs"]]
    rows = [b["prompt_ids"] + b["chosen_ids"] for b in batch] + [b["prompt_ids"] + b["rejected_ids"] for b in batch]
    ids = torch.tensor(rows)
    half = len(batch[0]["prompt_ids"])
    mask = torch.zeros_like(ids, dtype=torch.float32)
    mask[:, half:] = 1.0
    t = time.perf_counter()
    lp = seq_logps(policy, ids, mask)
    with torch.no_grad():
        rlp = seq_logps(ref, ids, mask)
    b = len(batch)
    h = (lp[:b] - rlp[:b]) - (lp[b:] - rlp[b:])
    loss = -F.logsigmoid(0.1 * h).mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    if i > 0:
        times.append(time.perf_counter() - t)
    loss_v = loss.item()
report("pytorch (plain loop)", name, times, loss_v, sum(p.numel() for p in policy.parameters()))
