import { SEP_TOKEN } from "../markup/prompt.js";

export interface TrlConfigOptions {
  /** Model folder or hub id whose tokenizer already has `<SEP>` as sep_token (see add_sep_token.py). */
  readonly model: string;
  /** The base checkpoint (hub id or folder) that add_sep_token.py starts from. */
  readonly baseModel: string;
  /** Folder holding train.jsonl and dev.jsonl (loaded with `datasets`: "dev" is its validation split). */
  readonly dataDir: string;
  readonly outputDir: string;
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly gradientAccumulation?: number;
  readonly maxLength?: number;
  readonly seed?: number;
}

const q = (s: string): string => JSON.stringify(s); // a JSON string is a valid YAML scalar

/**
 * A `trl sft --config` file: prompt-completion data with the loss on the completion only, packing,
 * lr 3e-5 with a linear schedule and 3 % warm-up, bf16. Runs with `accelerate launch` on one GPU or many.
 */
export function trlSftConfigYaml(o: TrlConfigOptions): string {
  return `# TRL supervised fine-tuning configuration written by \`syncabel sft-data\`.
# Before training, add ${SEP_TOKEN} to the base model's tokenizer as its sep_token and resize the embeddings:
#   python add_sep_token.py ${o.baseModel} ${o.model}
# Then: accelerate launch -m trl.cli sft --config sft-config.yaml   (or: trl sft --config sft-config.yaml)
model_name_or_path: ${q(o.model)}
torch_dtype: bfloat16
dataset_name: ${q(o.dataDir)}
dataset_train_split: train
dataset_test_split: validation
output_dir: ${q(o.outputDir)}
completion_only_loss: true
packing: true
max_length: ${o.maxLength ?? 512}
learning_rate: 3.0e-5
lr_scheduler_type: linear
warmup_ratio: 0.03
bf16: true
num_train_epochs: ${o.epochs ?? 1}
per_device_train_batch_size: ${o.batchSize ?? 8}
gradient_accumulation_steps: ${o.gradientAccumulation ?? 4}
gradient_checkpointing: true
eval_strategy: epoch
save_strategy: epoch
logging_steps: 50
seed: ${o.seed ?? 0}
report_to: none
`;
}

/** The one-off tokenizer step: `<SEP>` as a new special token (the first free id) and resized embeddings. */
export const ADD_SEP_TOKEN_PY = `"""Add ${SEP_TOKEN} to a causal LM's tokenizer as sep_token and resize its embeddings (written by syncabel sft-data).
usage: python add_sep_token.py BASE_MODEL OUT_DIR"""
import sys

from transformers import AutoModelForCausalLM, AutoTokenizer

base, out = sys.argv[1], sys.argv[2]
tokenizer = AutoTokenizer.from_pretrained(base)
tokenizer.add_special_tokens({"sep_token": "${SEP_TOKEN}"})
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token
model = AutoModelForCausalLM.from_pretrained(base, torch_dtype="bfloat16")
model.resize_token_embeddings(len(tokenizer))
tokenizer.save_pretrained(out)
model.save_pretrained(out)
print(f"sep_token {tokenizer.sep_token!r} id {tokenizer.sep_token_id}; saved to {out}")
`;
