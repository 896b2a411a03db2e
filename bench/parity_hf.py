"""Hugging Face side of `npm run parity` (bench/parity.ts): transformers' own generate() on a random checkpoint.

Everything here is written from ../shared/design/syncabel-conventions.md and docs/decoding.md, not from the
SynCABEL authors' code: the prompt, the per-group prefix trie and its prefix_allowed_tokens_fn (sections 2-3), and
the authors' output strings as docs/decoding.md states them (decode with special tokens and clean-up, declared
special tokens removed except <SEP>, the text after "] {verb}", each <SEP> part's code joined with "+").

Usage: python bench/parity_hf.py SPEC.json OUT.json
SPEC: {"model": DIR, "verb": "es", "kb": [[code, name, group], ...], "sentences": [...],
       "runs": [{"name", "constrained", "multiple_answers", "num_beams", "batch_size", "early_stopping"?}]}
"""

import hashlib
import importlib.metadata as _metadata
import json
import os
import re
import sys

# transformers 4.57 refuses to import beside huggingface-hub >= 1.0 (the only hub wheels on this machine); it does not
# use the hub to load a local folder, so its version check is answered with a compatible version.
_version = _metadata.version
_metadata.version = lambda name: "0.36.0" if name.replace("_", "-").lower() == "huggingface-hub" else _version(name)

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoTokenizer, LlamaForCausalLM  # noqa: E402

SEP = "<SEP>"
FILLER = -1.0e6  # transformers' filler beams score about -1e9 / length


def main(spec_path, out_path):
    spec_text = open(spec_path, encoding="utf-8").read()
    spec = json.loads(spec_text)
    torch.manual_seed(0)
    # One thread: the model is tiny, and spinning thread pools only lose time on a shared machine.
    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(spec["model"])
    tok.padding_side = "left"
    model = LlamaForCausalLM.from_pretrained(spec["model"], dtype=torch.float32).eval()
    verb = spec["verb"]
    tries, codes = build_kb(tok, verb, spec["kb"])
    digest = hashlib.sha256(spec_text.encode("utf-8")).hexdigest()
    out = {"transformers": transformers.__version__, "torch": torch.__version__, "spec": digest, "runs": {}}
    # Runs already done for this very spec are kept (the bench resumes after an interruption).
    if os.path.exists(out_path):
        previous = json.load(open(out_path, encoding="utf-8"))
        if previous.get("spec") == digest:
            out["runs"] = previous["runs"]
    for run in spec["runs"]:
        if run["name"] in out["runs"]:
            continue
        results = []
        sentences = spec["sentences"]
        for start in range(0, len(sentences), run["batch_size"]):
            results.extend(link_batch(model, tok, verb, tries, codes, sentences[start : start + run["batch_size"]], run))
        out["runs"][run["name"]] = results
        json.dump(out, open(out_path + ".tmp", "w", encoding="utf-8"), ensure_ascii=False)
        os.replace(out_path + ".tmp", out_path)
        print(f"parity_hf: {run['name']} done", file=sys.stderr, flush=True)


def build_kb(tok, verb, rows):
    """Per group: a dict trie over the ids of " {verb} {name}" (no BOS) + EOS, and name -> code."""
    tries, codes = {}, {}
    for code, name, group in rows:
        ids = tok.encode(f" {verb} {name}", add_special_tokens=False) + [tok.eos_token_id]
        node = tries.setdefault(group, {})
        for t in ids:
            node = node.setdefault(t, {})
        codes.setdefault(group, {})[name] = code
    return tries, codes


def mention_and_group(sentence):
    mention = re.search(r"\[(.*?)\]", sentence).group(1).strip()
    group = re.search(r"\{(.*?)\}", sentence).group(1).strip()
    return mention, group


def allowed_fn(tok, verb, tries, groups, prompt_len, multiple):
    """prefix_allowed_tokens_fn (conventions, section 3): the trie of the mention's group, rooted at the verb token(s)
    that end the prompt; <SEP> wherever EOS is allowed in multiple-answers mode, restarting after the verb; after
    EOS only EOS/padding."""
    eos, sep = tok.eos_token_id, tok.sep_token_id
    pad = tok.pad_token_id if tok.pad_token_id is not None else eos
    verb_ids = tok.encode(f" {verb}", add_special_tokens=False)

    def fn(batch_id, input_ids):
        generated = input_ids[prompt_len:].tolist()
        if generated and generated[-1] in (eos, pad):
            return [pad, eos]
        root = tries[groups[batch_id]]
        for t in verb_ids:
            root = root.get(t, {})
        node = root
        for t in generated:
            if multiple and t == sep and eos in node:
                node = root
            else:
                node = node.get(t, {})
        allowed = list(node.keys())
        if multiple and eos in node:
            allowed.append(sep)
        return allowed if allowed else [eos]

    return fn


def authors_strings(tok, verb, codes, text, multiple):
    """The authors' output strings as docs/decoding.md states them."""
    declared = tok.all_special_tokens
    if any("tag" in t for t in declared):
        declared = declared[:-3]
    elif any("{" in t for t in declared):
        declared = declared[:-4]
    for t in declared:
        if t != tok.sep_token:
            text = text.replace(t, "")
    if tok.sep_token:
        text = re.sub(rf"({re.escape(tok.sep_token)})\s+", r"\1", text)
    parts = text.strip().split(f"] {verb}")
    answer = parts[1].strip() if len(parts) > 1 else ""
    if not answer:
        return "NO_PREDICTION", "NO_CODE"
    if multiple:
        return answer, "+".join(codes.get(p.strip(), "NO_CODE") for p in answer.split(SEP))
    return answer, codes.get(answer, "NO_CODE")


def link_batch(model, tok, verb, tries, codes, sentences, run):
    prompts, groups = [], []
    for s in sentences:
        mention, group = mention_and_group(s)
        prompts.append(f"{s}{SEP}[{mention}] {verb}")
        groups.append(group)
    enc = tok(prompts, return_tensors="pt", padding="longest")
    prompt_len = enc["input_ids"].shape[1]
    n = run["num_beams"]
    kwargs = dict(max_new_tokens=128, num_beams=n, num_return_sequences=n, do_sample=False, output_scores=True, return_dict_in_generate=True)
    if "early_stopping" in run:
        kwargs["early_stopping"] = run["early_stopping"]
    if run["constrained"]:
        kwargs["prefix_allowed_tokens_fn"] = allowed_fn(tok, verb, tries, groups, prompt_len, run["multiple_answers"])
    with torch.no_grad():
        out = model.generate(**enc, **kwargs)
    texts = tok.batch_decode(out.sequences, skip_special_tokens=False, clean_up_tokenization_spaces=True)
    results = []
    for i, group in enumerate(groups):
        beams = []
        for j in range(i * n, (i + 1) * n):
            score = float(out.sequences_scores[j])
            name, code = authors_strings(tok, verb, codes[group], texts[j], run["multiple_answers"])
            generated = out.sequences[j][prompt_len:].tolist()
            beams.append({"name": name, "code": code, "score": score, "tokens": generated, "filler": score < FILLER})
        results.append(beams)
    return results


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    else:
        main(sys.argv[1], sys.argv[2])
