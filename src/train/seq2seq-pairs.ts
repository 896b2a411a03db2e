/**
 * Fine-tuning data for encoder-decoder checkpoints (mBART-50, BART) in the SynCABEL authors' seq2seq format:
 * `{"source": marked sentence, "target": "[mention] es name"}` (composite answers: names joined with `<SEP>`), a
 * Seq2SeqTrainingArguments configuration with the authors' settings, and a training script that tokenizes the source
 * with src_lang and the target with tgt_lang, masks `[mention] es ` out of the loss and feeds decoder inputs shifted
 * right after the decoder start (the target language code, as the authors' script; `decoder_start: "config"` keeps
 * the checkpoint's).
 */
import { SEP_TOKEN } from "../constants.js";
import type { KnowledgeBase } from "../kb/types.js";
import { targetNames, type Outcome, type TrainingMention } from "./sft-pairs.js";
import type { TargetNameSelector } from "./target-name.js";

export interface Seq2SeqPair {
  readonly source: string;
  readonly target: string;
}

/** The target text of a mention's names: `[{mention}] {verb} {name}` (names joined with `<SEP>`, no spaces). */
export function seq2seqTarget(mention: string, verb: string, names: readonly string[]): string {
  return `[${mention}] ${verb} ${names.join(SEP_TOKEN)}`;
}

export function buildSeq2SeqPair(m: TrainingMention, kb: KnowledgeBase, selector: TargetNameSelector, verb: string): Outcome<Seq2SeqPair> {
  const t = targetNames(m, kb, selector);
  if ("skipped" in t) return t;
  return { pair: { source: m.marked, target: seq2seqTarget(m.mention, verb, t.names) } };
}

export interface Seq2SeqConfigOptions {
  /** Base checkpoint (hub id or folder), e.g. facebook/mbart-large-50. */
  readonly baseModel: string;
  readonly dataDir: string;
  readonly outputDir: string;
  readonly verb: string;
  /** mBART-50 language code of sources and targets (es_XX...); null for BART. */
  readonly langCode: string | null;
  readonly seed?: number;
  readonly epochs?: number;
}

/** `seq2seq-config.json`: what train_seq2seq.py reads; `training_arguments` go to Seq2SeqTrainingArguments as they are. */
export function seq2seqTrainerConfig(o: Seq2SeqConfigOptions): Record<string, unknown> {
  return {
    model_name_or_path: o.baseModel,
    train_file: `${o.dataDir}/train.jsonl`,
    validation_file: `${o.dataDir}/dev.jsonl`,
    verb: o.verb,
    src_lang: o.langCode,
    tgt_lang: o.langCode,
    decoder_start: "lang",
    max_length: 512,
    training_arguments: {
      output_dir: o.outputDir,
      per_device_train_batch_size: 16,
      per_device_eval_batch_size: 16,
      num_train_epochs: o.epochs ?? 5,
      learning_rate: 3e-5,
      lr_scheduler_type: "linear",
      warmup_ratio: 0.03,
      label_smoothing_factor: 0.1,
      bf16: true,
      predict_with_generate: false,
      eval_strategy: "epoch",
      save_strategy: "epoch",
      save_total_limit: 2,
      load_best_model_at_end: true,
      metric_for_best_model: "eval_loss",
      greater_is_better: false,
      logging_steps: 50,
      seed: o.seed ?? 42,
      report_to: "none",
    },
  };
}

/** The training script written beside the data (Python: transformers + torch + accelerate). */
export const TRAIN_SEQ2SEQ_PY = `"""Fine-tune an mBART / BART checkpoint on \`syncabel sft-data --arch seq2seq\` output (written by syncabel).
usage: python train_seq2seq.py seq2seq-config.json
Adds ${SEP_TOKEN} as sep_token (embeddings resized), tokenizes sources with src_lang and targets with tgt_lang, masks the
"[mention] verb " prefix out of the loss, and feeds decoder inputs = [decoder start] + target[:-1]."""
import json
import sys

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, Seq2SeqTrainer, Seq2SeqTrainingArguments

cfg = json.load(open(sys.argv[1], encoding="utf-8"))
tokenizer = AutoTokenizer.from_pretrained(cfg["model_name_or_path"])
model = AutoModelForSeq2SeqLM.from_pretrained(cfg["model_name_or_path"])
if tokenizer.add_special_tokens({"sep_token": "${SEP_TOKEN}"}) > 0:
    model.resize_token_embeddings(len(tokenizer))
# Language codes only for tokenizers that have them (mBART-50); BART has none.
languages = bool(cfg.get("src_lang")) and tokenizer.convert_tokens_to_ids(cfg["src_lang"]) != tokenizer.unk_token_id
if languages:
    tokenizer.src_lang, tokenizer.tgt_lang = cfg["src_lang"], cfg["tgt_lang"]
if cfg.get("decoder_start") == "lang" and languages:
    start = tokenizer.convert_tokens_to_ids(cfg["tgt_lang"])
else:
    start = model.config.decoder_start_token_id
marker = "] " + cfg["verb"] + " "


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def encode(rows):
    out = []
    for row in rows:
        source = tokenizer(row["source"], truncation=True, max_length=cfg["max_length"])
        target = tokenizer(text_target=row["target"], truncation=True, max_length=cfg["max_length"], return_offsets_mapping=True)
        ids = target["input_ids"]
        cut = row["target"].find(marker)
        prefix_end = cut + len(marker) if cut >= 0 else 0
        # Tokens inside "[mention] verb " (and the leading language code) carry no loss; the closing </s> does.
        labels = [-100 if (i == 0 or (0 < end <= prefix_end)) else t for i, (t, (_, end)) in enumerate(zip(ids, target["offset_mapping"]))]
        out.append({"input_ids": source["input_ids"], "labels": labels, "decoder_input_ids": [start] + ids[:-1]})
    return out


def collate(batch):
    def pad(key, value):
        width = max(len(b[key]) for b in batch)
        return torch.tensor([b[key] + [value] * (width - len(b[key])) for b in batch])
    input_ids = pad("input_ids", tokenizer.pad_token_id)
    return {"input_ids": input_ids, "attention_mask": (input_ids != tokenizer.pad_token_id).long(),
            "decoder_input_ids": pad("decoder_input_ids", tokenizer.pad_token_id), "labels": pad("labels", -100)}


trainer = Seq2SeqTrainer(
    model=model,
    args=Seq2SeqTrainingArguments(**cfg["training_arguments"]),
    train_dataset=encode(read(cfg["train_file"])),
    eval_dataset=encode(read(cfg["validation_file"])) or None,
    data_collator=collate,
)
trainer.train()
trainer.save_model(cfg["training_arguments"]["output_dir"] + "/model_last")
tokenizer.save_pretrained(cfg["training_arguments"]["output_dir"] + "/model_last")
print("decoder start used in training:", start, "- link with --decoder-start", "lang" if cfg.get("decoder_start") == "lang" and languages else "config")
`;
