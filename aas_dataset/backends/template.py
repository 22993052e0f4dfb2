"""Offline rewriter: p_a = caption + the chosen dimensions' anti-pole phrases (deterministic)."""

from __future__ import annotations

from ..taxonomy import dimension
from .base import Rewriter


class TemplateRewriter(Rewriter):
    def rewrite(self, caption: str, dims: list[str]) -> str:
        phrases = [dimension(d).phrase for d in dims]
        return f"{caption.strip().rstrip('.')}, " + ", ".join(phrases) + "."
