"""Hugging Face side of `npm run bench:hf-seq2seq` (bench/hf-seq2seq.bench.ts): reads a JSON job on stdin, answers
JSON on stdout. Never run by npm test.

jobs:
  {"op": "save", "arch": "mbart"|"bart", "dir": D, "config": {...}, "seed": S}
      MBart/BartForConditionalGeneration(config) with random weights, saved by save_pretrained (safetensors).
  {"op": "logprobs", "dir": D, "rows": [{"source": [...], "decoder": [...]}]}
      log-softmax of the last decoder position of each row (one forward each, no padding).
  {"op": "generate", "dir": D, "items": [{"source": [...], "prompt": [...], "root": [...], "sequences": [[...]]}],
   "num_beams": K, "max_new_tokens": N}
      generate() from the decoder prompt with beam search constrained by prefix_allowed_tokens_fn over the trie of
      `sequences` (each starts with `root`, the prompt's last tokens); returns each item's sequences and scores.
  {"op": "tokenize", "file": tokenizer.json, "texts": [...]}
      ids from the `tokenizers` library (no special tokens).
"""
import json
import sys

import torch
import transformers
from transformers import AutoModelForSeq2SeqLM, BartConfig, BartForConditionalGeneration, MBartConfig, MBartForConditionalGeneration

torch.set_num_threads(2)


def load(d):
    model, info = AutoModelForSeq2SeqLM.from_pretrained(d, output_loading_info=True, dtype=torch.float32)
    model.eval()
    return model, {k: sorted(v) if isinstance(v, (list, set)) else str(v) for k, v in info.items()}


def save(job):
    torch.manual_seed(job["seed"])
    cls, cfg = (MBartForConditionalGeneration, MBartConfig) if job["arch"] == "mbart" else (BartForConditionalGeneration, BartConfig)
    model = cls(cfg(**job["config"]))
    with torch.no_grad():
        # Non-trivial final_logits_bias and layer norms, so a converter that drops them is caught.
        model.final_logits_bias.normal_(0, 0.5)
        for name, p in model.named_parameters():
            if "layer_norm" in name or "layernorm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(job["dir"], safe_serialization=True)
    return {"saved": job["dir"], "transformers": transformers.__version__}


def logprobs(job):
    model, info = load(job["dir"])
    out = []
    with torch.no_grad():
        for row in job["rows"]:
            logits = model(input_ids=torch.tensor([row["source"]]), decoder_input_ids=torch.tensor([row["decoder"]])).logits[0, -1]
            out.append(torch.log_softmax(logits.double(), -1).tolist())
    return {"logprobs": out, "loading_info": info}


def generate(job):
    model, info = load(job["dir"])
    results = []
    for item in job["items"]:
        prompt, root = item["prompt"], item["root"]
        trie = {}
        for seq in item["sequences"]:
            node = trie
            for t in seq:
                node = node.setdefault(t, {})
        start = len(prompt) - len(root)

        done = [model.config.eos_token_id, model.config.pad_token_id]

        def allowed(_batch, ids, trie=trie, start=start):
            # After the name's </s> (or off the trie) only </s> and padding, as GENRE's prefix_allowed_tokens_fn.
            node = trie
            for t in ids.tolist()[start:]:
                node = node.get(t)
                if node is None:
                    return done
            return list(node.keys()) or done

        with torch.no_grad():
            gen = model.generate(
                input_ids=torch.tensor([item["source"]]),
                decoder_input_ids=torch.tensor([prompt]),
                num_beams=job["num_beams"],
                num_return_sequences=job["num_beams"],
                max_new_tokens=job["max_new_tokens"],
                prefix_allowed_tokens_fn=allowed,
                output_scores=True,
                return_dict_in_generate=True,
                early_stopping=False,
                length_penalty=1.0,
                do_sample=False,
                forced_bos_token_id=None,
                forced_eos_token_id=None,
            )
        results.append({"sequences": [s[len(prompt):].tolist() for s in gen.sequences], "scores": gen.sequences_scores.tolist()})
    return {"results": results, "loading_info": info}


def tokenize(job):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(job["file"])
    return {"ids": [tok.encode(t, add_special_tokens=False).ids for t in job["texts"]]}


if __name__ == "__main__":
    job = json.load(sys.stdin)
    print(json.dumps({"save": save, "logprobs": logprobs, "generate": generate, "tokenize": tokenize}[job["op"]](job)))
