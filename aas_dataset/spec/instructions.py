"""What the LLM-backed steps send: the authors' texts by default, or our offline wording.

Every instruction that defines the paper's benchmark has two sources:

- `official`: the authors' text, read at load time from their repository at the pinned commit
  (or from a local copy of it), found by its place in the code, never by its wording, and
  checked against the recorded length and SHA-256 prefix (`official_texts.AuthorsText`);
- `ours`: our own wording of the same instruction, for local or tiny models and offline runs.
  It asks for exactly what the authors' text asks for, nothing added and nothing dropped;
  docs/paper_fidelity.md sets the two side by side, point by point.

The replacement fields are named here (`{prompt}`, `{caption}`, ...); the authors' own field
expressions are renamed to these when their text is read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aas_dataset.spec.official_texts import (
    AuthorsText,
    OfficialTextError,
    authors_file,
    extract_authors_text,
    load_authors_text,
)
from aas_dataset.spec.taxonomy import DIMENSION_KEYS, dimension

TextsMode = Literal["official", "ours"]

# --- where the authors' texts are (weathon/AAS at official_texts.AUTHORS_COMMIT) ---------

_JUDGE_FILE = "rater_training/llm_select.py"  # the pairwise judge of all three verifier runs
_GRADER_FILE = "eval_later.ipynb"  # the 0-100 judge that filled llm_judge
_REWRITER_FILE = "ds.py"  # the rewrite of each caption into p_a
_IMAGE_API_FILE = "benchmark.py"  # the generation driver (Nano Banana's message)

OFFICIAL: dict[str, dict[str, AuthorsText]] = {
    "pairwise_judge": {
        "system": AuthorsText("pairwise judge system message", _JUDGE_FILE, 93, "a4fdfd389bc59a18",
                              "llm_select_preference", "system"),
        "user": AuthorsText("pairwise judge instruction", _JUDGE_FILE, 324, "b89577024bf10601",
                            "llm_select_preference", "user", (("sample['prompt_distorted']", "prompt"),)),
    },
    "absolute_judge": {
        "system": AuthorsText("0-100 judge system message", _GRADER_FILE, 88, "debe27f3a9f18b19", "judge", "system"),
        "user": AuthorsText("0-100 judge instruction", _GRADER_FILE, 959, "5191021cbb4ae05f", "judge", "user",
                            (("original_prompt", "p_o"), ("distorted_prompt", "p_a"))),
    },
    "rewriter": {
        "system": AuthorsText("rewriter system message", _REWRITER_FILE, 28, "75357d685f238b6a",
                              "get_prompt", "system"),
        "user": AuthorsText("rewriting instruction", _REWRITER_FILE, 567, "f3de8838d18f9a63", "get_prompt", "user",
                            (("original_prompt", "caption"), ("artifacts", "effects"))),
    },
    "image_api": {
        "user": AuthorsText("Nano Banana request message", _IMAGE_API_FILE, 76, "919b9f7c4ab4bb4e",
                            "nano_banana_generate", "user", (("prompt", "prompt"),)),
    },
}  # fmt: skip
# The effect description of each dimension given to the rewriter (eval/benchmarks/prompts.json
# in weathon/icml2026_position holds the same file).
EFFECTS = AuthorsText("effect descriptions", "prompts.json", 1920, "034fa21e1dcc4324")

# --- our wording of the same instructions ------------------------------------------------

OURS: dict[str, dict[str, str]] = {
    "pairwise_judge": {
        "system": "You judge image preferences. Reply with a JSON object that follows the schema provided.",
        "user": (
            "You are shown two images and one prompt. Choose the image that matches the prompt better. "
            'Reply with a JSON object exactly of the form {"selection": <int>}, where selection is 0 for the '
            "first image, 1 for the second image and -1 for a tie. Add no other keys and no other text.\n\n"
            "Prompt:\n{prompt}"
        ),
    },
    "absolute_judge": {
        "system": "You judge images strictly. Reply with a JSON object that follows the schema provided.",
        "user": (
            "Original prompt:\n{p_o}\n\nDistorted prompt:\n{p_a}\n\n"
            "Score the image by these rules, each as an integer from 0 to 100 inclusive:\n\n"
            "1. Main concept (0-100): how clearly the main subjects or scenes of the original prompt appear in "
            "the distorted image. Do not lower this score when visual effects or distortions make them harder "
            "to see while they remain recognisable.\n\n"
            "2. Special effects (0-100): how accurately the image shows the effects the distorted prompt "
            "describes. The score is continuous, not binary: 100 means every effect is clearly present, 0 means "
            "none is visible.\n\n"
            "Procedure (carry it out in the reasoning field):\n"
            "- List the main visual effects the distorted prompt mentions.\n"
            "- Check how visible each of them is in the image.\n"
            "- Compute a smooth score from the share of the effects that appear.\n\n"
            "Keep the reasoning short: only list and check the effects."
        ),
    },
    "rewriter": {
        "system": "You are an assistant who helps the user.",
        "user": (
            "Write a description of an image, starting from {caption}. The picture has these effects: {effects}. "
            "The effects take priority over the original subject. Make them concrete by describing exactly what "
            "makes the image look that way. Give one long description (under 70 words; shorter is fine if "
            "needed). Apply only the effects you are given and add no other effects alongside them. Add no "
            "details unrelated to the effects or to the original prompt. The description should be a statement "
            "that is used to generate the image."
        ),
    },
    "image_api": {
        "user": "Generate an image from the following prompt and return the image directly: {prompt}",
    },
}


@dataclass(frozen=True)
class Instruction:
    """The texts of one chat request: a system message (or none) and a user template."""

    system: str | None
    user: str


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def instruction(role: str, mode: TextsMode, official_dir: str | None = None, cache_dir: Path | None = None):
    """The texts `role` sends: the authors' (read, hash-checked) or ours."""
    if mode == "ours":
        texts = OURS[role]
        return Instruction(texts.get("system"), texts["user"])
    parts = {part: load_authors_text(t, official_dir, cache_dir) for part, t in OFFICIAL[role].items()}
    return Instruction(parts.get("system"), parts["user"])


def describe(role: str, mode: TextsMode) -> list[dict]:
    """Where `role`'s texts come from, without reading them: for unit keys, the card, `aas models`."""
    if mode == "ours":
        return [{"text": f"{role} {part}", "source": "ours", "sha256": _sha(t)} for part, t in OURS[role].items()]
    return [{"text": t.name, **t.describe()} for t in OFFICIAL[role].values()]


# --- the effect descriptions given to the rewriter ---------------------------------------


def effects(mode: TextsMode, official_dir: str | None = None, cache_dir: Path | None = None) -> dict[str, str]:
    """Dimension key -> the description of its anti-aesthetic pole that the rewriter is given."""
    if mode == "ours":
        return {k: dimension(k).anti_pole for k in DIMENSION_KEYS}
    text, where = authors_file(EFFECTS.path, official_dir, cache_dir, EFFECTS)
    mapping = json.loads(extract_authors_text(EFFECTS, text, where))
    if sorted(mapping) != sorted(DIMENSION_KEYS):
        raise OfficialTextError(f"{where}: dimensions {sorted(mapping)} are not the 11 of the taxonomy")
    return mapping


def describe_effects(mode: TextsMode) -> dict:
    if mode == "ours":
        ours = "\n".join(dimension(k).anti_pole for k in DIMENSION_KEYS)
        return {"text": "effect descriptions", "source": "ours", "sha256": _sha(ours)}
    return {"text": EFFECTS.name, **EFFECTS.describe()}
