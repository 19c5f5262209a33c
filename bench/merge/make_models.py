"""Random Llama-shaped models for the merge benchmark: a base and N fine-tunes (base plus
small noise), bfloat16 safetensors with config.json, SmolLM-135M's shape by default
(hidden 576, 30 layers, 9 heads / 3 KV heads, vocab 49152, tied embeddings).

    python bench/merge/make_models.py OUT_DIR [--finetunes 3] [--layers 30]
"""

import argparse
import json
import os

import torch
from safetensors.torch import save_file

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--finetunes", type=int, default=3)
p.add_argument("--layers", type=int, default=30)
a = p.parse_args()
H, I, V, HEADS, KV = 576, 1536, 49152, 9, 3
D = H // HEADS
cfg = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H,
    "intermediate_size": I, "num_hidden_layers": a.layers, "num_attention_heads": HEADS,
    "num_key_value_heads": KV, "vocab_size": V, "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    "bos_token_id": 1, "eos_token_id": 2,
}
shapes = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,)}
for i in range(a.layers):
    q = f"model.layers.{i}."
    shapes.update({
        q + "input_layernorm.weight": (H,), q + "post_attention_layernorm.weight": (H,),
        q + "self_attn.q_proj.weight": (H, H), q + "self_attn.k_proj.weight": (KV * D, H),
        q + "self_attn.v_proj.weight": (KV * D, H), q + "self_attn.o_proj.weight": (H, H),
        q + "mlp.gate_proj.weight": (I, H), q + "mlp.up_proj.weight": (I, H),
        q + "mlp.down_proj.weight": (H, I),
    })
g = torch.Generator().manual_seed(0)
base = {k: torch.randn(s, generator=g) * 0.05 for k, s in shapes.items()}
for name in ["base"] + [f"ft{i}" for i in range(a.finetunes)]:
    d = os.path.join(a.out, name)
    os.makedirs(d, exist_ok=True)
    t = base if name == "base" else {k: v + torch.randn(v.shape, generator=g) * 0.005 for k, v in base.items()}
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in t.items()},
              os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    print(d)
