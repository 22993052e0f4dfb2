"""Backend kinds: a lazy, string-keyed registry.

A catalog entry names a role and a kind; the class behind it is imported only when the
entry is used, so validating a recipe never imports torch. Backend modules keep their heavy
imports inside `load()`.
"""

from __future__ import annotations

import importlib

KINDS: dict[str, dict[str, str]] = {
    "rewriter": {
        "template": "aas_dataset.backends.text.template:TemplateRewriter",
        "openai_chat": "aas_dataset.backends.text.openai_chat:OpenAIChatRewriter",
    },
    "generator": {
        "tiny": "aas_dataset.backends.generators.tiny:TinyGenerator",
        "tiny_flux": "aas_dataset.backends.generators.tiny:TinyFluxGenerator",
        "diffusers": "aas_dataset.backends.generators.diffusers_gen:DiffusersGenerator",
        "openai_images": "aas_dataset.backends.generators.api_images:OpenAIImagesGenerator",
        "openrouter_image": "aas_dataset.backends.generators.api_images:OpenRouterImageGenerator",
        "replicate": "aas_dataset.backends.generators.api_images:ReplicateGenerator",
    },
    "scorer": {
        "clip": "aas_dataset.backends.scorers.clip:ClipScorer",
        "blip_itm": "aas_dataset.backends.scorers.blip:BlipItmScorer",
        "image_stats": "aas_dataset.backends.image_stats:ImageStatsScorer",
        "isolated": "aas_dataset.backends.isolated.env:IsolatedScorer",
        "hps": "aas_dataset.backends.scorers.hps:HPSScorer",
        "image_reward": "aas_dataset.backends.scorers.image_reward:ImageRewardScorer",
        "hpsv3": "aas_dataset.backends.scorers.hpsv3:HPSv3Scorer",
        "rater": "aas_dataset.backends.scorers.rater:DimensionRater",
        "mps": "aas_dataset.backends.scorers.mps:MPSScorer",
    },
    "judge": {
        "image_stats": "aas_dataset.backends.image_stats:ImageStatsJudge",
        "image_stats_grader": "aas_dataset.backends.image_stats:ImageStatsGrader",
        "llm_pairwise": "aas_dataset.backends.text.openai_chat:LLMPairwiseJudge",
        "llm_absolute": "aas_dataset.backends.text.openai_chat:LLMAbsoluteJudge",
    },
    "embedder": {
        "clip": "aas_dataset.backends.references:ClipEmbedder",
        "openai_embeddings": "aas_dataset.backends.references:OpenAIEmbedder",
    },
    "captioner": {
        "llm_curator": "aas_dataset.backends.references:LLMCurator",
        "llm_captioner": "aas_dataset.backends.references:LLMCaptioner",
        "llm_emotion_captioner": "aas_dataset.backends.references:LLMEmotionCaptioner",
    },
    "detector": {
        "owlv2": "aas_dataset.backends.detectors:OwlV2Detector",
    },
    "negative_writer": {
        "template": "aas_dataset.backends.text.template:TemplateNegativeWriter",
        "openai_chat": "aas_dataset.backends.text.openai_chat:OpenAINegativeWriter",
    },
}


def backend_class(role: str, kind: str):
    """The class for a kind name, or for a `module:Class` path (a user's own backend)."""
    target = kind if ":" in kind else KINDS.get(role, {}).get(kind, "")
    if not target:
        known = ", ".join(sorted(KINDS.get(role, {})))
        raise KeyError(f"no {role} backend of kind {kind!r}; known kinds: {known}, or module:Class")
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise KeyError(f"{role} kind {kind!r}: cannot import {target} ({e})") from None
