"""One GRPO step through TRL's GRPOTrainer on CPU (group of 8, 64 new tokens, dapo loss,
beta 0, one prompt per step, a word-count reward): the peer of
crates/prefer-train/examples/bench_grpo_step.rs in bench/train/grpo_bench.sh. Step times
from a callback; generation (with scoring) timed apart by wrapping `_generate`.

Usage: python peer_trl_grpo.py MODEL_DIR STEPS
"""
import json
import os
import resource
import sys
import tempfile
import time

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, TrainerCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from common import StepTimer  # noqa: E402

model_dir, steps = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(1)
tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(model_dir, "tokenizer.json"),
                              bos_token="<s>", eos_token="</s>", pad_token="<unk>")
if tok.bos_token_id is None or tok.convert_tokens_to_ids("<s>") is None:
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(model_dir, "tokenizer.json"),
                                  bos_token="t1", eos_token="t2", pad_token="t0")
model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)


class Timer(StepTimer, TrainerCallback):
    """Step times."""


gen_times, lengths = [], []


class Timed(GRPOTrainer):
    def _generate(self, prompts):
        t = time.perf_counter()
        out = super()._generate(prompts)
        gen_times.append(time.perf_counter() - t)
        return out


def words(completions, **kw):
    lengths.extend(len(tok(c)["input_ids"]) for c in completions)
    return [float(len(c.split())) for c in completions]


prompts = [{"prompt": f"Once upon a time, there was a little girl named Amy{i}."} for i in range(steps + 1)]
timer = Timer()
with tempfile.TemporaryDirectory() as out:
    args = GRPOConfig(output_dir=out, per_device_train_batch_size=8, num_generations=8,
                      max_completion_length=64, max_steps=steps + 1, learning_rate=1e-6,
                      beta=0.0, logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
                      dataloader_num_workers=0, temperature=1.0, lr_scheduler_type="constant",
                      weight_decay=0.0, seed=0, shuffle_dataset=False)
    trainer = Timed(model=model, reward_funcs=words, args=args, train_dataset=Dataset.from_list(prompts),
                    processing_class=tok, callbacks=[timer])
    trainer.train()
step = sorted(timer.times[1:])
gen = sorted(gen_times[1:])
print(json.dumps({
    "impl": "trl GRPOTrainer", "step_s_median": step[len(step) // 2],
    "gen_s_median": gen[len(gen) // 2] if gen else None,
    "mean_completion_tokens": sum(lengths) / max(len(lengths), 1),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "step_s_all": timer.times[1:],
}))
