"""The same DPO step through TRL's DPOTrainer (sigmoid loss, beta 0.1, live reference
model, clip 1, AdamW lr 1e-6), on pre-tokenized pairs. Step times from a callback.

Usage: python peer_trl.py tiny|smollm STEPS
"""
import copy
import os
import sys
import tempfile

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import PreTrainedTokenizerFast, TrainerCallback  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

from common import CONFIGS, StepTimer, model_for, report, token_data  # noqa: E402

name, steps = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(1)
c = CONFIGS[name]


class Pretokenized(DPOTrainer):
    """The rows already hold prompt_ids / chosen_ids / rejected_ids."""

    def _prepare_dataset(self, dataset, *args, **kwargs):
        return dataset


class Timer(StepTimer, TrainerCallback):
    """Step times."""


from tokenizers import Tokenizer, models  # noqa: E402

vocab = {f"t{i}": i for i in range(c["cfg"]["vocab_size"])}
tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="t0")),
                              pad_token="t0", eos_token="t2", bos_token="t1")
policy = model_for(name)
ds = Dataset.from_list(token_data(name, c["pairs"] * (steps + 1)))
timer = Timer()
with tempfile.TemporaryDirectory() as out:
    args = DPOConfig(output_dir=out, per_device_train_batch_size=c["pairs"], max_steps=steps + 1,
                     learning_rate=1e-6, max_grad_norm=1.0, beta=0.1, logging_steps=1,
                     save_strategy="no", report_to=[], use_cpu=True, dataloader_num_workers=0,
                     max_length=None, gradient_checkpointing=False, lr_scheduler_type="constant", weight_decay=0.0, seed=0)
    trainer = Pretokenized(model=policy, ref_model=copy.deepcopy(policy), args=args, train_dataset=ds, processing_class=tok,
                           callbacks=[timer])
    trainer.train()
    loss = next((h["loss"] for h in reversed(trainer.state.log_history) if "loss" in h), None)
report("trl DPOTrainer", name, timer.times[1:], loss, sum(p.numel() for p in policy.parameters()))
