"""The per-dimension rater J (`weathon/smolvlm2_anti_aesthetics_7b`, a Qwen3-VL fine-tune):
for each image, the expected class E[k] in [0, 2] and the predicted class on each of the 11
dimensions (the authors' rater_training/infer.py; docs/paper_fidelity.md). Written to
`rater_<name>` / `rater_<name>_pred`.

Per dimension, one user turn: a text (the official template, with the dimension's key and its
guideline inserted) and then the image, resized to 512x512 (PIL bicubic). The score reads the
last position's logits over the tokens "0", "1", "2": softmax, E = sum k p_k, pred = argmax.
Batches are left-padded so the last position is each row's own (the official code did not
set the side; per-item scoring is the reference, tested equal).

The template and the guidelines come from the official repository files at run time
(`rater_training/infer.py`, parsed with `ast`, never executed; `rater_training/rules.csv`):
give their paths, or let the loader fetch them at the pinned commit. The template must match
the recorded length and hash. The dimensions are VisionReward's, grouped by the key inside
the first parentheses, sorted, minus the seven the authors excluded: the 11 of the taxonomy.
"""

from __future__ import annotations

import ast
import csv
import io
import math
from pathlib import Path

import numpy as np
from pydantic import Field

from aas_dataset.backends.base import Rater, TextDefinedSettings, TorchScorer
from aas_dataset.backends.scorers.qwen_vl import QWEN_SPECIALS, TINY_CHAT_TEMPLATE, expand_image_pads, vl_token_ids
from aas_dataset.backends.tiny_parts import byte_level_qwen_tokenizer, seeded_init
from aas_dataset.spec.official_texts import OfficialTextError, Recorded, check, fetch_text, official_cache
from aas_dataset.spec.taxonomy import DIMENSION_KEYS, dimension

RATER_COMMIT = "1485e28"
RATER_REPO_RAW = "https://raw.githubusercontent.com/weathon/AAS/{commit}/rater_training/{file}"
TEMPLATE = Recorded("rater prompt f-string", 104, "8dc880fbe86eea6b")
EXCLUDED = {"unsafe type", "hands", "face", "body", "safety", "lighting aesthetic", "symmetry"}
# Stand-ins for tiny random weights (`texts: ours`): the template's two fields and one guide per dimension.
STAND_IN_TEMPLATE = "Rate the {dim} of this picture with one digit. Guide: {guide[dim]}"


def stand_in_guidelines() -> dict[str, tuple[str, str]]:
    return {
        k: (k, repr({"as asked: 0": ": " + dimension(k).anti_pole, "neutral: 1": ": neither", "opposite: 2": ": no"}))
        for k in DIMENSION_KEYS
    }


def template_from_source(source: str, where: str) -> str:
    """The one f-string in `source` that names both {dim} and {guide[dim]}, with its
    replacement fields left as written."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            seg = ast.get_source_segment(source, node) or ""
            if "{dim}" in seg and "{guide[dim]}" in seg:
                body = seg[1:]  # drop the f prefix
                q = body[:3] if body[:3] in ('"""', "'''") else body[0]
                found.append(body[len(q) : -len(q)])
    if len(found) != 1:
        raise OfficialTextError(f"{where}: expected one prompt f-string, found {len(found)}")
    return check(found[0], TEMPLATE, where)


def guidelines(rules_csv: str) -> dict[str, str]:
    """{taxonomy key: guideline string} from VisionReward's rules.csv."""
    rows = list(csv.reader(io.StringIO(rules_csv.removeprefix("\ufeff"))))  # the released file starts with a BOM
    head = [h.strip() for h in rows[0]]
    idx = {h: head.index(h) for h in ("Dimension", "Score", "Option", "Description")}
    groups: dict[str, dict] = {}
    dim = ""
    for r in rows[1:]:
        if not any(c.strip() for c in r):
            continue
        dim = r[idx["Dimension"]].strip() or dim  # forward fill
        key = dim[dim.index("(") + 1 : dim.index(")")] if "(" in dim and ")" in dim else dim
        score = float(r[idx["Score"]])
        k = int(math.copysign(1, score)) + 1 if score != 0 else 1
        groups.setdefault(key, {})[f"{r[idx['Option']]}: {k}"] = ": " + r[idx["Description"]].strip()
    out = {}
    for key in sorted(groups):
        if key.strip().lower() in EXCLUDED:
            continue
        if key.strip().lower() not in DIMENSION_KEYS:
            raise OfficialTextError(f"rules.csv: unknown dimension {key!r}")
        out[key.strip().lower()] = (key, repr(groups[key]))
    if sorted(out) != sorted(DIMENSION_KEYS):
        raise OfficialTextError(f"rules.csv: dimensions {sorted(out)} are not the 11 of the taxonomy")
    return out


def _read(path_or_none: str | None, file: str, cache: Path, commit: str) -> tuple[str, str]:
    """(text, where) of an official repository file: the given path, or fetched at the commit."""
    if path_or_none:
        return Path(path_or_none).read_text(), path_or_none
    target = cache / commit / file
    url = RATER_REPO_RAW.format(commit=commit, file=file)
    return fetch_text(url, target, f"give settings.{file.split('.')[0]}_path"), str(target)


class Settings(TextDefinedSettings):
    processor_id: str = "Qwen/Qwen3-VL-4B-Instruct"  # tokenizer / chat template / image processor
    # the official rater_training/infer.py and rules.csv; default: fetched at the pinned commit
    # (where a text is read from is not part of the unit key: the text is hash-checked)
    infer_path: str | None = Field(default=None, exclude=True)
    rules_path: str | None = Field(default=None, exclude=True)
    commit: str = RATER_COMMIT
    image_size: int = 512
    dtype: str = "bfloat16"


class DimensionRater(Rater, TorchScorer):
    Settings = Settings
    VERSION = 1
    # first the 11 expected scores, then the 11 predictions, in taxonomy order
    outputs = tuple(f"score_{d.replace(' ', '_')}" for d in DIMENSION_KEYS) + tuple(
        f"pred_{d.replace(' ', '_')}" for d in DIMENSION_KEYS
    )

    @classmethod
    def text_sources(cls, settings) -> list[dict]:
        if stand_in := settings.stand_in_sources("J prompt template and guidelines"):
            return stand_in
        where = f"weathon/AAS@{settings.commit[:7]}:rater_training/"
        return [
            {"text": "J prompt template", "source": where + "infer.py", "length": TEMPLATE.length,
             "sha256": TEMPLATE.sha256_prefix},
            {"text": "J guidelines (VisionReward rules)", "source": where + "rules.csv", "sha256": "-"},
        ]  # fmt: skip

    def load_model(self) -> None:
        import torch

        s = self.settings
        if s.texts == "ours":
            self.template, self.guides = STAND_IN_TEMPLATE, stand_in_guidelines()
        else:
            cache = official_cache(self.cache_dir) / "rater"
            src, where = _read(s.infer_path, "infer.py", cache, s.commit)
            self.template = template_from_source(src, where)
            rules, _ = _read(s.rules_path, "rules.csv", cache, s.commit)
            self.guides = guidelines(rules)
        if s.tiny:
            self.tokenizer, self.model, self.image_processor = self._tiny()
        else:
            from transformers import AutoTokenizer, Qwen2VLImageProcessorPil, Qwen3VLForConditionalGeneration

            kw = {"revision": self.revision} if self.revision else {}
            self.model = Qwen3VLForConditionalGeneration.from_pretrained(
                self.model_id, dtype=getattr(torch, s.dtype), **kw
            )
            self.tokenizer = AutoTokenizer.from_pretrained(s.processor_id)
            self.image_processor = Qwen2VLImageProcessorPil.from_pretrained(s.processor_id)
        self.tokenizer.padding_side = "left"
        self.digits = [self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(c))[0] for c in "012"]
        self.model.eval().to(self.device)
        self.dim_texts = [self._turn(dim) for dim in DIMENSION_KEYS]

    def _turn(self, dim: str) -> str:
        """The chat text of one dimension's question: the official template, then the image."""
        key, guide = self.guides[dim]
        text = self.template.replace("{dim}", key).replace("{guide[dim]}", guide)
        msg = [{"role": "user", "content": [{"type": "text", "text": text}, {"type": "image"}]}]
        return self.tokenizer.apply_chat_template(msg, tokenize=False, add_generation_prompt=True)

    def _tiny(self):
        from transformers import Qwen2VLImageProcessorPil, Qwen3VLConfig, Qwen3VLForConditionalGeneration

        tok = byte_level_qwen_tokenizer(QWEN_SPECIALS, TINY_CHAT_TEMPLATE)
        cfg = Qwen3VLConfig(
            text_config={
                "vocab_size": len(tok),
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "head_dim": 16,
                "max_position_embeddings": 8192,
                "rope_parameters": {
                    "rope_type": "default",
                    "rope_theta": 10000.0,
                    "mrope_section": [2, 3, 3],
                    "mrope_interleaved": True,
                },
                "pad_token_id": tok.pad_token_id,
            },
            vision_config={
                "depth": 2,
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_heads": 4,
                "patch_size": 16,
                "spatial_merge_size": 2,
                "temporal_patch_size": 2,
                "in_channels": 3,
                "out_hidden_size": 64,
                "num_position_embeddings": 64,
                "deepstack_visual_indexes": [0, 1],
            },
            **vl_token_ids(tok),
        )
        with seeded_init(self.settings.weights_seed):
            model = Qwen3VLForConditionalGeneration(cfg)
        proc = Qwen2VLImageProcessorPil(
            patch_size=16,
            merge_size=2,
            temporal_patch_size=2,
            image_mean=[0.5] * 3,
            image_std=[0.5] * 3,
            size={"shortest_edge": 64 * 64, "longest_edge": 512 * 512},
        )
        return tok, model, proc

    def _inputs(self, images):
        from PIL import Image

        n = self.settings.image_size
        resized = [im.convert("RGB").resize((n, n), Image.BICUBIC) for im in images]
        texts = self.dim_texts * len(resized)  # the 11 turns are the same for every image
        vis = self.image_processor(images=[im for im in resized for _ in DIMENSION_KEYS], return_tensors="pt")
        texts = expand_image_pads(texts, vis["image_grid_thw"], self.model.config.vision_config.spatial_merge_size)
        enc = self.tokenizer(texts, padding=True, return_tensors="pt")
        image_id = self.model.config.image_token_id
        enc["mm_token_type_ids"] = (enc["input_ids"] == image_id).int()
        return enc, vis

    def score(self, images, prompts) -> np.ndarray:
        import torch

        enc, vis = self._inputs(images)
        with torch.inference_mode():
            logits = self.model(
                input_ids=enc["input_ids"].to(self.device),
                attention_mask=enc["attention_mask"].to(self.device),
                mm_token_type_ids=enc["mm_token_type_ids"].to(self.device),
                pixel_values=vis["pixel_values"].to(self.device, self.model.dtype),
                image_grid_thw=vis["image_grid_thw"].to(self.device),
                logits_to_keep=1,
            ).logits[:, -1]
            p = torch.softmax(logits[:, self.digits], dim=-1)
            # E[k] in the model's dtype, as the official code computed it (bf16 on real weights)
            expected = (p * torch.tensor([0.0, 1.0, 2.0], dtype=p.dtype, device=p.device)).sum(-1)
            pred = p.argmax(-1)
        k = len(DIMENSION_KEYS)
        e = expected.float().view(len(images), k).cpu().numpy()
        pr = pred.view(len(images), k).cpu().numpy().astype(np.float64)
        return np.concatenate([e, pr], axis=1).astype(np.float64)
