"""Backends of the real references: embedders for retrieval, the VLM curator of real photographs
and the VLM captioner of artworks.

- `ClipEmbedder`: a CLIP-family model on transformers (`tiny: true` offline); cosine of the
  projected, normalised embeddings.
- `OpenAIEmbedder`: an OpenAI-compatible `/embeddings` endpoint (the authors used
  google/gemini-embedding-2-preview through OpenRouter). Each input is sent in their shape, a
  `content` list holding one text or one image part, `encoding_format: "float"`, through the
  shared client (concurrency, retries); vectors are stored as units, so nothing is embedded twice.
- `LLMCurator`: the authors' curation instruction (recaption.py) with their taxonomy by default,
  or ours; the reply schema is theirs (`Response`). A reply naming an unknown tag or two tags
  of one class is invalid (retried like malformed JSON).
- `LLMCaptioner`: one caption per artwork. The authors' captioning prompt is unpublished, so the
  instruction is ours alone.
"""

from __future__ import annotations

import hashlib
import io
from typing import ClassVar

import numpy as np
from pydantic import Field, field_validator, model_validator

from aas_dataset.backends.base import Captioner, Embedder, TorchSettings, resolve_device
from aas_dataset.backends.llm.client import LLMSettings, Request, describe_error, image_data_url
from aas_dataset.backends.text.openai_chat import InstructedSettings, Text, _LLMBackend, _unit_usage
from aas_dataset.spec.instructions import describe_taxonomy, taxonomy_text
from aas_dataset.spec.official_texts import fill
from aas_dataset.spec.references import tags_problem
from aas_dataset.util import Strict


def _pil(data: bytes):
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    return im.convert("RGB")


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


# --- embedders ----------------------------------------------------------------------------


class ClipEmbedderSettings(TorchSettings):
    hidden_act: str = "quick_gelu"  # tiny models only


class ClipEmbedder(Embedder):
    Settings = ClipEmbedderSettings
    VERSION = 1

    def load(self) -> None:
        from aas_dataset.backends.scorers.clip import ClipScorer
        from aas_dataset.backends.scorers.clip import Settings as ClipSettings

        s = self.settings
        clip = ClipScorer(
            self.name,
            self.model_id,
            self.revision,
            ClipSettings(tiny=s.tiny, weights_seed=s.weights_seed, device=s.device, hidden_act=s.hidden_act),
        )
        clip.device = resolve_device(s.device)
        clip.load_model()
        self.clip = clip

    def close(self) -> None:
        self.clip = None

    def embed_images(self, images: list[bytes]) -> np.ndarray:
        import torch

        from aas_dataset.backends.scorers.clip import _embedding

        c = self.clip
        with torch.inference_mode():
            pixels = c.processor(images=[_pil(b) for b in images], return_tensors="pt")["pixel_values"]
            out = _embedding(c.model.get_image_features(pixel_values=pixels.to(c.device)))
        return _normalise(out.double().cpu().numpy())

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        from aas_dataset.backends.scorers.clip import _embedding

        c = self.clip
        with torch.inference_mode():
            tok = c.tokenizer(list(texts), padding=True, truncation=True, max_length=77, return_tensors="pt")
            out = _embedding(c.model.get_text_features(**tok.to(c.device)))
        return _normalise(out.double().cpu().numpy())


class OpenAIEmbedderSettings(LLMSettings):
    TRANSPORT = LLMSettings.TRANSPORT | {"inputs_per_request"}
    inputs_per_request: int = Field(default=32, ge=1, le=2048)  # the authors' batch size


class OpenAIEmbedder(Embedder):
    Settings = OpenAIEmbedderSettings
    VERSION = 1
    exact_batches = False  # an API: each input is embedded alone

    def load(self) -> None:
        from aas_dataset.backends.llm.batch import make_client

        self.client = make_client(self.model_id, self.settings, None, label=f"embedder {self.name!r}")

    def close(self) -> None:
        self.client.close()

    def _embed(self, items: list[dict]) -> np.ndarray:
        n = self.settings.inputs_per_request
        chunks = [items[i : i + n] for i in range(0, len(items), n)]
        bodies = [{"model": self.model_id, "input": c, "encoding_format": "float"} for c in chunks]

        def parse(resp: dict) -> list:
            data = resp.get("data")
            if not isinstance(data, list):
                raise ValueError(f"no data in the reply: {str(resp)[:120]}")
            return [d["embedding"] for d in sorted(data, key=lambda d: d.get("index", 0))]

        out = []
        for chunk, res in zip(chunks, self.client.post_many("/embeddings", bodies, parse), strict=True):
            if isinstance(res, BaseException):
                raise RuntimeError(describe_error(res))
            if len(res) != len(chunk):
                raise RuntimeError(f"endpoint returned {len(res)} embeddings for {len(chunk)} inputs")
            out += res
        return _normalise(np.asarray(out, dtype=np.float64))

    def embed_images(self, images: list[bytes]) -> np.ndarray:
        return self._embed(
            [{"content": [{"type": "image_url", "image_url": {"url": image_data_url(b)}}]} for b in images]
        )

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return self._embed([{"content": [{"type": "text", "text": t}]} for t in texts])


# --- the curator of real photographs ------------------------------------------------------


class Response(Strict):
    """The authors' reply schema for curation (name and fields as in recaption.py)."""

    thinking: str
    anti_aesthetic_elements: list[str]
    clean_caption: str | None
    anti_aesthetic_caption: str | None

    @field_validator("anti_aesthetic_elements")
    @classmethod
    def _known_tags(cls, v: list[str]) -> list[str]:
        if problem := tags_problem(v):
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _captions_follow_elements(self):
        if not self.anti_aesthetic_elements and (self.clean_caption or self.anti_aesthetic_caption):
            raise ValueError("captions given with no anti-aesthetic element (both must be null)")
        return self


class CuratorSettings(InstructedSettings):
    # The instruction asks for fewer than 5 words; a longer clean caption is a rejection with
    # that reason (None: keep it, as the authors' code did).
    clean_caption_max_words: int | None = Field(default=5, ge=1)


class LLMCurator(_LLMBackend, Captioner):
    Settings = CuratorSettings
    VERSION = 1
    ROLE = "curator"
    KIND: ClassVar[str] = "curator"

    def load(self) -> None:
        super().load()
        s = self.settings
        self.system = fill(self.instr.system, taxonomy=taxonomy_text(s.texts, s.official_dir, self.cache_dir))

    @classmethod
    def text_sources(cls, settings) -> list[dict]:
        return [*super().text_sources(settings), describe_taxonomy(settings.texts)]

    def curate(self, images: list[bytes]) -> list:
        reqs = [Request(self.system, self.instr.user, (b,), Response, self.KIND) for b in images]
        out: list = []
        for r in self.client.run(reqs):
            if isinstance(r, BaseException):
                out.append(RuntimeError(describe_error(r)))
            else:
                out.append((r.parsed, _unit_usage(r)))
        return out

    def caption(self, images: list[bytes]) -> list:
        raise NotImplementedError("a curator curates; artworks take an llm_captioner")


# --- the captioner of artworks -------------------------------------------------------------
# The authors' LAPIS captions came from Qwen3-VL-30B-A3B-Instruct with an unpublished prompt;
# this instruction is ours alone (asks for what their captions contain: the depicted content,
# medium and visible style, no judgement of quality).

ART_CAPTION = (
    "Describe this artwork in 2 to 5 sentences: what it depicts, the medium (painting, drawing, print, "
    "photograph, ...) and the visible technique and colours. Describe only what is visible; do not judge "
    'its quality or beauty. Answer as JSON: {"caption": "<the description>"}'
)
ART_CAPTION_SYSTEM = "You describe images accurately. Reply with one JSON object that matches the requested schema."


class ArtCaption(Strict):
    caption: str = Field(min_length=1)


class LLMCaptioner(_LLMBackend, Captioner):
    Settings = LLMSettings
    VERSION = 1
    KIND: ClassVar[str] = "art_caption"

    @classmethod
    def text_sources(cls, settings) -> list[dict]:
        sha = hashlib.sha256((ART_CAPTION_SYSTEM + ART_CAPTION).encode()).hexdigest()[:16]
        return [{"text": "artwork caption instruction", "source": "ours (no published original)", "sha256": sha}]

    def caption(self, images: list[bytes]) -> list:
        reqs = [Request(ART_CAPTION_SYSTEM, ART_CAPTION, (b,), ArtCaption, self.KIND) for b in images]
        out: list = []
        for r in self.client.run(reqs):
            out.append(
                RuntimeError(describe_error(r))
                if isinstance(r, BaseException)
                else Text(r.parsed.caption.strip(), _unit_usage(r))
            )
        return out

    def curate(self, images: list[bytes]) -> list:
        raise NotImplementedError("a captioner captions; real photos take an llm_curator")


# --- the shared caption of an emotion set -----------------------------------------------------


class EmotionPrompt(Strict):
    """One prompt for the four images, with the [emotion] placeholder (asked as JSON here; the
    authors took the model's free text)."""

    prompt: str = Field(min_length=1)

    @field_validator("prompt")
    @classmethod
    def _placeholder(cls, v: str) -> str:
        if "[emotion]" not in v:
            raise ValueError("the prompt has no [emotion] placeholder")
        return v


class EmotionCaptionerSettings(InstructedSettings):
    pass


class LLMEmotionCaptioner(_LLMBackend, Captioner):
    """The emotion set's caption step: the authors' request (eval/studies/emotion_bias/main.ipynb,
    `caption()`) with the happy, sad, angry and fearful images, in that order."""

    Settings = EmotionCaptionerSettings
    VERSION = 1
    KIND: ClassVar[str] = "emotion_caption"

    def load(self) -> None:
        from aas_dataset.spec.instructions import texts_of

        super().load()
        s = self.settings
        self.request = texts_of("emotion_caption", s.texts, s.official_dir, self.cache_dir)["user"]

    @classmethod
    def text_sources(cls, settings) -> list[dict]:
        from aas_dataset.spec.instructions import describe

        return describe("emotion_caption", settings.texts)

    @classmethod
    def paper_differences(cls, settings) -> list[str]:
        return ["the reply is asked as JSON {prompt} (structured output); the authors took the free text"]

    def describe_together(self, groups: list[list[bytes]]) -> list:
        reqs = [Request(None, self.request, tuple(g), EmotionPrompt, self.KIND) for g in groups]
        out: list = []
        for r in self.client.run(reqs):
            out.append(
                RuntimeError(describe_error(r))
                if isinstance(r, BaseException)
                else Text(r.parsed.prompt.strip(), _unit_usage(r))
            )
        return out
