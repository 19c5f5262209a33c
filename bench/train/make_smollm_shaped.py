"""A random Llama of SmolLM-135M's shape (hidden 576, 30 layers, 9 heads / 3 KV heads,
vocab 49152, tied embeddings) as a Hugging Face folder with a word-level tokenizer whose
ids 0/1/2 are <unk>/<s>/</s>, for bench/train/grpo_bench.sh.

Usage: python make_smollm_shaped.py OUT_DIR
"""
import sys

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

out = sys.argv[1]
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                  num_attention_heads=9, num_key_value_heads=3, rms_norm_eps=1e-5,
                  tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                  max_position_embeddings=2048, rope_theta=10000.0)
LlamaForCausalLM(cfg).float().save_pretrained(out)
vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"t{i}": i for i in range(3, cfg.vocab_size)}}
t = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
t.pre_tokenizer = pre_tokenizers.Whitespace()
PreTrainedTokenizerFast(tokenizer_object=t, bos_token="<s>", eos_token="</s>",
                        unk_token="<unk>", pad_token="<unk>").save_pretrained(out)
