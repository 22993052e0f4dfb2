"""Test backends reached through `module:Class` kinds in a recipe's own catalog."""

from __future__ import annotations

import numpy as np
from PIL import Image

from aas_dataset.backends.base import Generator, Scorer

CALLS = {"generate": 0, "score": 0}


class FlakyGenerator(Generator):
    """Solid-colour images; raises for any prompt that contains FAIL."""

    exact_batches = False  # each image alone: a rerun needs only the missing ones

    def generate(self, prompts, seeds):
        CALLS["generate"] += 1
        if any("FAIL" in p for p in prompts):
            raise RuntimeError("refused: prompt contains FAIL")
        return [Image.new("RGB", (16, 16), (int(s) % 256, 0, 0)) for s in seeds]


class PromptLengthScorer(Scorer):
    """A scorer whose value is known: prompt length + mean red channel."""

    def score(self, images, prompts):
        CALLS["score"] += 1
        return np.array([len(p) + np.asarray(im)[..., 0].mean() for im, p in zip(images, prompts, strict=False)])


class NotABackend:
    """A class of the right shape that does not declare its role."""

    def generate(self, prompts, seeds):
        return []


class IncompleteGenerator(Generator):
    """A generator that implements neither generate nor generate_pairs."""
