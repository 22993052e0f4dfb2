"""Offline rewriter: p_a = caption + the chosen dimensions' anti-pole phrases (deterministic)."""

from __future__ import annotations

from aas_dataset.backends.base import NegativeWriter, Rewriter
from aas_dataset.spec.taxonomy import dimension

# The conventional look each dimension's anti-pole pushes away from, in a word or two.
GOOD_POLE = {
    "background": "polished background",
    "clarity": "sharp",
    "color aesthetic": "harmonious colors",
    "color brightness": "bright",
    "detail realism": "realistic",
    "detail refinement": "refined details",
    "emotion": "cheerful",
    "lighting distinction": "dramatic lighting",
    "main object": "clear subject",
    "object pairing": "balanced composition",
    "richness": "rich detail",
}


class TemplateRewriter(Rewriter):
    VERSION = 2  # 2: clauses worded as the authors' effect descriptions
    exact_batches = False

    def rewrite(self, caption: str, dims: list[str]) -> str:
        phrases = [dimension(d).phrase for d in dims]
        return f"{caption.strip().rstrip('.')}, " + ", ".join(phrases) + "."

    def effects_text(self, dims: list[str]) -> str:
        return "\n".join(dimension(d).phrase for d in dims)


class TemplateNegativeWriter(NegativeWriter):
    exact_batches = False

    """Offline negative prompt: the conventional look of the chosen dimensions, at most 5 words."""

    def negative(self, prompt: str, dims: list[str]) -> str:
        words: list[str] = []
        for d in dims:
            w = GOOD_POLE[d].split()
            if len(words) + len(w) > 5:
                break
            words += w
        return " ".join(words) or "beautiful"
