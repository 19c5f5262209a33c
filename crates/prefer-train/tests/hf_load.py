"""Loads a prefer-train checkpoint with transformers as-is and prints its logits.

Usage: python hf_load.py CHECKPOINT_DIR '[[1, 5, 7, ...]]'
Prints JSON: {"logits": [[[...]]], "versions": {...}}. Run by tests/tests.rs
(`checkpoints_load_in_transformers`) with the reference venv (bench/setup_venv.sh).
"""
import json
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM

ckpt, ids = sys.argv[1], json.loads(sys.argv[2])
model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32)
model.eval()
with torch.no_grad():
    logits = model(torch.tensor(ids)).logits
print(json.dumps({
    "logits": logits.tolist(),
    "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
}))
