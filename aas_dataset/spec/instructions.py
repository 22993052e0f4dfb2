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
# The real-photo curation step (filter + clean and anti-aesthetic captions) and the taxonomy it
# is given, from weathon/icml2026_position (the AVA pipeline is not in weathon/AAS).
REFERENCES_REPO = "weathon/icml2026_position"
REFERENCES_COMMIT = "f605a4f89e16613e3a1097b7a346fa9dc769b1b9"
OFFICIAL["curator"] = {
    "system": AuthorsText("curation instruction", "anti_aesthetics_agent/recaption.py", 2684, "5d7469a28a4cfeba",
                          variable="prompt", fields=(("classes", "taxonomy"),),
                          repo=REFERENCES_REPO, commit=REFERENCES_COMMIT),
}  # fmt: skip
# The emotion-bias set: the happy image's request, the three edit requests (in the order the
# authors' gen_images() made them) and the shared caption with its [emotion] placeholder.
_EMOTION_FILE = "eval/studies/emotion_bias/main.ipynb"
OFFICIAL["emotion_images"] = {
    part: AuthorsText(f"emotion-set {part} request", _EMOTION_FILE, n, sha, function="gen_images",
                      call="generate_image", nth=i, repo=REFERENCES_REPO, commit=REFERENCES_COMMIT)
    for i, (part, n, sha) in enumerate((("happy", 96, "3cd509bd57e7acc9"), ("sad", 68, "133738de34d30f30"),
                                         ("angry", 70, "ab6695f1cc0a592f"), ("fearful", 72, "c49572a79b56bd9a")))
}  # fmt: skip
OFFICIAL["emotion_caption"] = {
    "user": AuthorsText("emotion-set caption request", _EMOTION_FILE, 119, "a7d75cd4db70cfd3", function="caption",
                        role="user", repo=REFERENCES_REPO, commit=REFERENCES_COMMIT),
}  # fmt: skip
TAXONOMY = AuthorsText(
    "taxonomy descriptions", "anti_aesthetics_agent/classes_new.json", 5857, "3c0c133926930035",
    repo=REFERENCES_REPO, commit=REFERENCES_COMMIT,
)  # fmt: skip
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
    "curator": {
        "system": (
            "<role>\nYou are an expert in visual analysis who identifies anti-aesthetic elements in images and "
            "writes high-quality captions for curating a dataset.\n</role>\n\n<task>\nFor the image given, take "
            "three steps:\n\n"
            "0. Decide whether the image shows clear, strong anti-aesthetic elements of the kinds described in "
            "<anti_aesthetics_taxonomy>. They must be strong enough that the image is clearly NOT a normal image. "
            "For a normal image return an empty list and null captions; otherwise go on to step 1. Many images "
            "should be filtered out here: go on only when the image is clearly anti-aesthetic.\n"
            "1. Name the anti-aesthetic elements present, taken from <anti_aesthetics_taxonomy>, by their full "
            "names (e.g. `clarity_and_focus.intentional_blur`). If the image has no strong anti-aesthetic "
            "element, return an empty list and skip step 2. Give at most one tag per major category (not, "
            "e.g., both clarity_and_focus.digital_artifacts and clarity_and_focus.intentional_blur).\n\n"
            "2. If you named at least one element, write two captions:\n"
            "   - `clean_caption`: one simple sentence of the image's basic content that never mentions the "
            'anti-aesthetic elements or the style, such as "a bike on the ground" or "a flower in a vase", '
            "with no adjectives and no descriptive phrases at all. **Fewer than 5 words**.\n"
            "   - `anti_aesthetic_caption`: a description of BOTH the image's content AND the anti-aesthetic "
            "elements present (any anti-aesthetic element, not only the categories of "
            "<anti_aesthetics_taxonomy>).\n   Keep both captions concise (2-3 sentences).\n\n"
            "<anti_aesthetics_taxonomy>\n{taxonomy}\n</anti_aesthetics_taxonomy>\n\n<output_format>\n"
            "Exactly one JSON object of this shape, with no other text or formatting:\n"
            '{{"thinking": "your reasoning, step by step", "anti_aesthetic_elements": ["category.element_name", ...], '
            '"clean_caption": "..." | null, "anti_aesthetic_caption": "..." | null}}\n\n'
            "When `anti_aesthetic_elements` is empty, both captions must be `null`.\n</output_format>\n\n"
            "<constraints>\n- Use only element names found in <anti_aesthetics_taxonomy>; invent no categories.\n"
            '- The clean caption must not let anti-aesthetic descriptors through (no "blurry", "poorly lit", '
            '"cluttered", "abstract photo" and the like). It must have NO descriptors at all, only a simple '
            "sentence. Check this again before you answer; draft it in your thinking first.\n"
            "- Be specific and concrete; avoid vague descriptors.\n</constraints>"
        ),
    },
    "emotion_images": {
        "happy": "make an image of a very happy person, the face near the camera, but showing more than the face alone",
        "sad": "leave most of the image as it is, but make the emotion look very sad",
        "angry": "leave most of the image as it is, but make the emotion look very angry",
        "fearful": "leave most of the image as it is, but make the emotion look very fearful",
    },
    "emotion_caption": {
        "user": (
            "Write one prompt that describes all of these images, with [emotion] standing in for the emotion "
            "on the person's face."
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
    """The texts `role` sends: the authors' (read, hash-checked) or ours. A role without a user
    text (the curator: its user message is the image alone) gets an empty one."""
    if mode == "ours":
        texts = OURS[role]
        return Instruction(texts.get("system"), texts.get("user", ""))
    parts = {part: load_authors_text(t, official_dir, cache_dir) for part, t in OFFICIAL[role].items()}
    return Instruction(parts.get("system"), parts.get("user", ""))


def texts_of(role: str, mode: TextsMode, official_dir: str | None = None, cache_dir: Path | None = None) -> dict:
    """Every part of `role`'s texts by name: the authors' (read, hash-checked) or ours."""
    if mode == "ours":
        return dict(OURS[role])
    return {part: load_authors_text(t, official_dir, cache_dir) for part, t in OFFICIAL[role].items()}


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


# --- the real-photo taxonomy given to the curator ----------------------------------------


def taxonomy_text(mode: TextsMode, official_dir: str | None = None, cache_dir: Path | None = None) -> str:
    """What fills the curation instruction's taxonomy: the authors' classes_new.json (their
    descriptions), or ours (the same classes and sub-classes, our one-line meanings), as JSON."""
    from aas_dataset.spec.taxonomy import AVA_CLASSES

    if mode == "ours":
        return json.dumps({"anti_aesthetics": AVA_CLASSES}, indent=4)
    text, where = authors_file(TAXONOMY.path, official_dir, cache_dir, TAXONOMY)
    found = extract_authors_text(TAXONOMY, text, where)
    classes = json.loads(found).get("anti_aesthetics", {})
    if {c: sorted(s) for c, s in classes.items()} != {c: sorted(s) for c, s in AVA_CLASSES.items()}:
        raise OfficialTextError(f"{where}: classes are not the 5 classes / 28 sub-classes of the taxonomy")
    return found


def describe_taxonomy(mode: TextsMode) -> dict:
    if mode == "ours":
        return {"text": "taxonomy descriptions", "source": "ours", "sha256": _sha(taxonomy_text("ours"))}
    return {"text": TAXONOMY.name, **TAXONOMY.describe()}
