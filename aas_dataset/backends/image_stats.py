"""Weight-free pixel statistics, as a scorer and as an offline judge.

The judge is a labelled heuristic, not an LLM, with two rules:
- `dimensions`: for each selected dimension whose anti-pole is measurable from pixels (see
  `taxonomy.Dimension.stat`), a vote for the image whose statistic moved in the asked direction.
  Majority wins; no measurable dimension or a split vote is a tie (-1).
- `dullness`: whatever was asked, the image with the lower contrast + colourfulness; a
  relative difference under `tie_margin` is a tie. A second, differently biased offline judge
  (the verifier stand-in of offline builds).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from scipy import ndimage

from aas_dataset.backends.base import Judge, JudgeItem, Scorer, Verdict
from aas_dataset.spec.taxonomy import dimension
from aas_dataset.util import Strict

STATS = ("brightness", "contrast", "colorfulness", "sharpness", "saturation")


def image_statistics(image) -> dict[str, float]:
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = 0.299 * r + 0.587 * g + 0.114 * b  # ITU-R BT.601
    # Hasler & Suesstrunk (2003) colourfulness on opponent channels.
    rg, yb = r - g, 0.5 * (r + g) - b
    colorfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    mx, mn = rgb.max(-1), rgb.min(-1)
    saturation = np.where(mx > 0, (mx - mn) / np.where(mx > 0, mx, 1), 0.0)
    return {
        "brightness": float(luma.mean()),
        "contrast": float(luma.std()),
        "colorfulness": float(colorfulness),
        "sharpness": float(ndimage.laplace(luma * 255.0).var()),
        "saturation": float(saturation.mean()),
    }


class ImageStatsScorer(Scorer):
    exact_batches = False
    outputs = STATS
    prompt_dependent = False

    def score(self, images, prompts) -> np.ndarray:
        return np.array([[image_statistics(im)[k] for k in STATS] for im in images], dtype=np.float64)


class JudgeSettings(Strict):
    rule: Literal["dimensions", "dullness"] = "dimensions"
    tie_margin: float = Field(default=0.02, ge=0)  # dullness: relative difference below which it is a tie


class ImageStatsJudge(Judge):
    Settings = JudgeSettings
    exact_batches = False

    def judge(self, items: list[JudgeItem], emit=None) -> list[Verdict]:
        if self.settings.rule == "dullness":
            return [self._dullness(it) for it in items]
        out = []
        for it in items:
            so, sa = image_statistics(it.image_original), image_statistics(it.image_distorted)
            votes, used = 0, []
            for key in it.selected_dims:
                d = dimension(key)
                if d.stat is None:
                    continue
                moved = np.sign(sa[d.stat] - so[d.stat]) * d.direction
                votes += int(moved)
                used.append(f"{key}:{d.stat}{'+' if moved > 0 else '-' if moved < 0 else '='}")
            if not used:
                out.append(Verdict(-1, "no measurable dimension"))
            else:
                label = 1 if votes > 0 else 0 if votes < 0 else -1
                out.append(Verdict(label, " ".join(used)))
        return out

    def _dullness(self, it: JudgeItem) -> Verdict:
        vivid = [
            (s["contrast"] + s["colorfulness"]) for s in map(image_statistics, (it.image_original, it.image_distorted))
        ]
        o, a = vivid
        if abs(a - o) <= self.settings.tie_margin * max(abs(o), abs(a), 1e-9):
            return Verdict(-1, f"equally vivid ({o:.3f} vs {a:.3f})")
        return Verdict(int(a < o), f"vividness I_o {o:.3f}, I_a {a:.3f}")


class ImageStatsGrader(Judge):
    """An offline stand-in of the 0-100 judge (labelled heuristic, not an LLM): per image,
    `special_effects` is how far its pixels sit toward the anti-pole of the row's measurable
    dimensions (brightness and contrast in [0, 1], sharpness squashed by x / (x + 1000)), scaled
    to 0-100 and averaged; `main_concepts` is 100 minus half of it (effects hide content);
    without a measurable dimension both are 50."""

    exact_batches = False
    absolute = True

    @staticmethod
    def _grade(image, dims: list[str]) -> tuple[int, int]:
        s = image_statistics(image)
        levels = []
        for key in dims:
            d = dimension(key)
            if d.stat is None:
                continue
            v = s[d.stat] / (s[d.stat] + 1000.0) if d.stat == "sharpness" else min(max(s[d.stat], 0.0), 1.0)
            levels.append(v if d.direction > 0 else 1.0 - v)
        if not levels:
            return 50, 50
        effects = int(round(100 * float(np.mean(levels))))
        return 100 - effects // 2, effects

    def judge(self, items: list[JudgeItem], emit=None) -> list[Verdict]:
        out = []
        for it in items:
            scores = {}
            for v, im in (("original", it.image_original), ("distorted", it.image_distorted)):
                main, effects = self._grade(im, list(it.selected_dims))
                scores[f"{v}_main_concepts"], scores[f"{v}_special_effects"] = main, effects
                scores[f"{v}_reasoning"] = "pixel statistics of the measurable dimensions (offline stand-in)"
            out.append(Verdict(None, "", {}, scores))
        return out
