#!/usr/bin/env python3
"""PyTorch peer of prefer's Bradley-Terry reward head: the same head on the same
embeddings, the same optimizer and schedule, timed per epoch.

Input: the training embeddings prefer used (`prefer train reward ... --dump-embeddings
emb.safetensors`: tensors `prompt`, `chosen`, `rejected`, [n, 384] f32). The head is
prefer's default: linear on phi = [e(y), e(x) * e(y)] (768 -> 1), TRL's loss
-log sigmoid(r_w - r_l), AdamW (lr 1e-3, weight decay 1e-4, betas 0.9/0.999, eps 1e-8),
batch 64, shuffled each epoch, 30 epochs. Pass --hidden 128 for a one-hidden-layer head.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE $PREFER_REFVENV/bin/python bench/eval/peer_head.py \
        --emb emb.safetensors --threads 1
"""

import argparse
import json
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--emb", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=0)
    args = ap.parse_args()
    import torch
    from safetensors.torch import load_file

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t = load_file(args.emb)
    p, c, r = t["prompt"], t["chosen"], t["rejected"]
    n, d = c.shape
    layers = [torch.nn.Linear(2 * d, args.hidden), torch.nn.ReLU(), torch.nn.Linear(args.hidden, 1)] if args.hidden else [torch.nn.Linear(2 * d, 1)]
    head = torch.nn.Sequential(*layers)
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=1e-4)
    times, losses = [], []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, args.batch_size):
            idx = perm[i : i + args.batch_size]
            pp = p[idx]
            rc = head(torch.cat([c[idx], pp * c[idx]], 1)).squeeze(1)
            rr = head(torch.cat([r[idx], pp * r[idx]], 1)).squeeze(1)
            loss = -torch.nn.functional.logsigmoid(rc - rr).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        times.append(time.perf_counter() - t0)
        losses.append(total / n)
    med = statistics.median(times)
    print(
        f"  torch {torch.__version__}, {args.threads} thread(s): {n} pairs, {args.epochs} epochs, "
        f"median {1000 * med:.1f} ms/epoch, loss {losses[0]:.4f} -> {losses[-1]:.4f}",
        file=sys.stderr,
    )
    print(json.dumps({"pairs": n, "median_epoch_s": med, "epoch_s": times, "loss": losses}))


if __name__ == "__main__":
    main()
