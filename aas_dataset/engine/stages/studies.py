"""Stages of the paper's side studies, on the same units, store and executors.

Emotion-bias set (`emotion_bias` config): per row, one model makes a happy image from the
study's request and edits it three times, only the expression changing (sad, angry, fearful);
a VLM writes one prompt for the four images with an [emotion] placeholder; every scorer scores
the happy image and each edit under the prompt filled with that edit's emotion.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aas_dataset.engine.records import (
    EmotionCaptionRecord,
    EmotionGenRecord,
    EmotionImagesRecord,
    EmotionScoreRecord,
    FaceRecord,
    FaceScoreRecord,
    Img2ImgRecord,
    Img2ImgScoreRecord,
)
from aas_dataset.engine.stages.base import Stage, Unit, load_image, unit_key
from aas_dataset.engine.stages.score import ScoreStage, score_combos, score_matrix
from aas_dataset.spec.schema import EMOTION_FIELDS, NEGATIVE_EMOTIONS, Column, score_column
from aas_dataset.util import derive_seed, png_bytes

FOUR = ("happy", *NEGATIVE_EMOTIONS)


class EmotionImagesStage(Stage):
    name = "emotion_images"
    RECORD = EmotionImagesRecord
    VERSION = 1

    def __init__(self, texts_mode: str = "official", official_dir=None, cache_dir=None, strength: float = 0.6):
        self.texts_mode, self.official_dir, self.cache_dir = texts_mode, official_dir, cache_dir
        self.strength = strength
        self._texts: dict | None = None

    @property
    def texts(self) -> dict:
        """part -> request (the happy image's, one edit per emotion), read when first needed."""
        if self._texts is None:
            from aas_dataset.spec.instructions import texts_of

            self._texts = texts_of("emotion_images", self.texts_mode, self.official_dir, self.cache_dir)
        return self._texts

    def units(self, count: int, generator, seed: int, text_sources: list[dict]) -> list[Unit]:
        out = []
        for i in range(count):
            s = derive_seed(seed, generator.name, i, "emotion")
            key = unit_key(self.name, self.VERSION, generator.spec_hash, index=i, seed=s, texts=text_sources,
                           strength=self.strength)  # fmt: skip
            out.append(Unit(self.name, key, generator.name, {"index": i, "seed": s}))
        return out

    def run_batch(self, backend, units, store):
        seeds = [u.payload["seed"] for u in units]
        happy = backend.edit([None] * len(units), [self.texts["happy"]] * len(units), seeds, self.strength)
        edits = {}
        ok = [i for i, im in enumerate(happy) if not isinstance(im, BaseException)]
        for e in NEGATIVE_EMOTIONS:  # the same model edits its own happy image, the rest unchanged
            res = backend.edit([happy[i] for i in ok], [self.texts[e]] * len(ok), [seeds[i] for i in ok], self.strength)
            edits[e] = dict(zip(ok, res, strict=True))
        seeded = backend.is_seeded(backend.settings)
        out = []
        for i, u in enumerate(units):
            images = {"happy": happy[i], **{e: edits[e].get(i) for e in NEGATIVE_EMOTIONS}}
            bad = next((im for im in images.values() if isinstance(im, BaseException)), None)
            if bad is not None:
                out.append(bad)
                continue
            files = {f"{k}.png": png_bytes(im) for k, im in images.items()}
            out.append({**files, **EmotionImagesRecord(u.payload["seed"] if seeded else None).files()})
        return out


class EmotionCaptionStage(Stage):
    name = "emotion_caption"
    RECORD = EmotionCaptionRecord
    OWNS = ("emotion_bias",)
    VERSION = 1

    def units(self, image_units: list[Unit], captioner) -> list[Unit]:
        out = []
        for iu in image_units:
            key = unit_key(self.name, self.VERSION, captioner.spec_hash, images=iu.key)
            payload = {"index": iu.payload["index"], "images_key": iu.key}
            out.append(Unit(self.name, key, captioner.name, payload, (("emotion_images", iu.key),)))
        return out

    def run_batch(self, backend, units, store):
        groups = [[EmotionImagesRecord.image(store, u.payload["images_key"], e) for e in FOUR] for u in units]
        texts = backend.describe_together(groups)
        return [t if isinstance(t, BaseException) else EmotionCaptionRecord(t.text, t.usage).files() for t in texts]

    def shard_rows(self, recipe, config: str) -> int:
        return recipe.recipe.shard_rows

    def rows(self, ctx, config: str):
        for u in ctx.done(self):
            row = {"index": u.payload["index"], "prompt": EmotionCaptionRecord.read(ctx.store, u.key).prompt}
            for e in FOUR:
                row[f"image_{e}"] = {
                    "bytes": EmotionImagesRecord.image(ctx.store, u.payload["images_key"], e),
                    "path": None,
                }
            yield u.key, row


class EmotionScoreStage(Stage):
    name = "emotion_score"
    RECORD = EmotionScoreRecord
    ATTACHES = ("emotion_bias",)
    JOIN = "caption_key"
    VERSION = 1

    def units(self, caption_units: list[Unit], scorers) -> list[Unit]:
        out = []
        for s in scorers:
            for cu in caption_units:
                key = unit_key(self.name, self.VERSION, s.spec_hash, caption=cu.key)
                payload = {"caption_key": cu.key, "images_key": cu.payload["images_key"]}
                out.append(Unit(self.name, key, s.name, payload, (("emotion_caption", cu.key),)))
        return out

    def run_batch(self, backend, units, store):
        images, prompts = [], []
        for u in units:
            prompt = EmotionCaptionRecord.read(store, u.payload["caption_key"]).prompt
            happy = load_image(EmotionImagesRecord.image(store, u.payload["images_key"], "happy"))
            for e in NEGATIVE_EMOTIONS:  # the edited face and the happy face, both under the prompt filled with e
                filled = prompt.replace("[emotion]", e)
                images += [load_image(EmotionImagesRecord.image(store, u.payload["images_key"], e)), happy]
                prompts += [filled, filled]
        raw, outputs = score_matrix(backend, images, prompts), backend.outputs
        per = 2 * len(NEGATIVE_EMOTIONS)
        out = []
        for i in range(len(units)):
            block = raw[i * per : (i + 1) * per]
            if not np.all(np.isfinite(block)):
                out.append(ValueError("scorer returned a non-finite value (NaN or inf)"))
                continue
            # block rows: (sad, sad_happy, angry, angry_happy, fearful, fearful_happy) = EMOTION_FIELDS
            out.append(
                EmotionScoreRecord(
                    {o: {f: float(block[j, k]) for j, f in enumerate(EMOTION_FIELDS)} for k, o in enumerate(outputs)}
                ).files()
            )
        return out

    def columns(self, model) -> tuple[Column, ...]:
        doc = "r(edited face) and r(happy face), both under the prompt filled with the emotion"
        return tuple(Column(score_column(model.name, o or None), "emotion", doc) for o in model.traits["outputs"])

    def row_values(self, model, record: EmotionScoreRecord | None) -> dict:
        sc = record.scores if record else None
        return {score_column(model.name, o or None): (sc[o] if sc else None) for o in model.traits["outputs"]}


# --- image-to-image ---------------------------------------------------------------------------


def source_rows(folder: Path, keep) -> list[dict]:
    """The source release's rows that pass `keep`, each with where its I_a is stored."""
    import pyarrow.parquet as pq

    from aas_dataset.release.manifest import read_manifest

    m = read_manifest(folder)
    where, rows = {}, []
    for rel in sorted(p for p, f in m["files"].items() if f.get("config") == "pairs"):
        pf = pq.ParquetFile(folder / rel)
        for rg in range(pf.num_row_groups):
            for i, r in enumerate(pf.read_row_group(rg, columns=["model", "index"]).to_pylist()):
                where[(r["model"], r["index"])] = (rel, m["files"][rel]["sha256"], rg, i)
    if not where:
        raise ValueError(f"{folder}: the source release has no pairs")
    score_col = f"score_{keep.score}" if keep.score else None
    for rel in sorted(p for p, f in m["files"].items() if f.get("config") == "scores"):
        names = pq.read_schema(folder / rel).names
        if score_col and score_col not in names:
            raise ValueError(f"{folder}: the source release has no column {score_col}")
        cols = ["model", "index", "prompt_original", "prompt_distorted", "selected_dims"] + (
            [score_col] if score_col else []
        )
        for r in pq.read_table(folder / rel, columns=cols).to_pylist():
            if keep.model and r["model"] != keep.model:
                continue
            if score_col:
                v = (r[score_col] or {}).get(keep.combo)
                if (
                    v is None
                    or (keep.below is not None and not v < keep.below)
                    or (keep.above is not None and not v > keep.above)
                ):
                    continue
            if (r["model"], r["index"]) in where:
                rows.append({**{k: r[k] for k in cols[:5]}, "where": where[(r["model"], r["index"])]})
    return rows[: keep.limit] if keep.limit else rows


class Img2ImgStage(Stage):
    name = "img2img"
    RECORD = Img2ImgRecord
    OWNS = ("img2img",)
    VERSION = 1

    def __init__(self, source: Path | None = None, strength: float = 0.5):
        self.source, self.strength = source, strength

    def units(self, rows: list[dict], editors, seed: int) -> list[Unit]:
        out = []
        for ed in editors:
            for r in rows:
                s = derive_seed(seed, ed.name, r["model"], r["index"], "img2img")
                rel, sha, rg, i = r["where"]
                key = unit_key(self.name, self.VERSION, ed.spec_hash, shard=sha, row=[rg, i], seed=s,
                               strength=self.strength, prompt=r["prompt_distorted"])  # fmt: skip
                out.append(Unit(self.name, key, ed.name, {**r, "editor": ed.name, "seed": s}))
        return out

    def _input(self, where) -> bytes:
        import pyarrow.parquet as pq

        rel, _sha, rg, i = where
        col = pq.ParquetFile(self.source / rel).read_row_group(rg, columns=["image_distorted"]).column(0)
        return col[i].as_py()["bytes"]

    def run_batch(self, backend, units, store):
        inputs = [self._input(u.payload["where"]) for u in units]
        edited = backend.edit(
            [load_image(b) for b in inputs], [u.payload["prompt_distorted"] for u in units],
            [u.payload["seed"] for u in units], self.strength,
        )  # fmt: skip
        seeded = backend.is_seeded(backend.settings)
        out = []
        for u, data, im in zip(units, inputs, edited, strict=True):
            if isinstance(im, BaseException):
                out.append(im)
                continue
            p = u.payload
            rec = Img2ImgRecord(
                p["editor"], p["model"], p["index"], p["prompt_original"], p["prompt_distorted"],
                list(p["selected_dims"]), self.strength, p["seed"] if seeded else None,
            )  # fmt: skip
            out.append({"input.png": png_bytes(load_image(data)), "edited.png": png_bytes(im), **rec.files()})
        return out

    def shard_rows(self, recipe, config: str) -> int:
        return recipe.recipe.shard_rows

    def rows(self, ctx, config: str):
        for u in ctx.done(self):
            r = Img2ImgRecord.read(ctx.store, u.key)
            yield (
                u.key,
                {
                    "model": r.model,
                    "source_model": r.source_model,
                    "index": r.index,
                    "prompt_original": r.prompt_original,
                    "prompt_distorted": r.prompt_distorted,
                    "selected_dims": r.selected_dims,
                    "image_input": {"bytes": ctx.store.read(self.name, u.key, "input.png"), "path": None},
                    "image_edited": {"bytes": ctx.store.read(self.name, u.key, "edited.png"), "path": None},
                    "strength": r.strength,
                    "seed": r.seed,
                },
            )


class Img2ImgScoreStage(ScoreStage):
    """Scores like the pairs: I_o = the input image, I_a = the edit, under p_o and p_a."""

    name = "img2img_score"
    ATTACHES = ("img2img",)
    JOIN = "edit_key"
    RECORD = Img2ImgScoreRecord
    VERSION = 1

    def units(self, edit_units: list[Unit], scorers) -> list[Unit]:
        out = []
        for s in scorers:
            for eu in edit_units:
                key = unit_key(self.name, self.VERSION, s.spec_hash, edit=eu.key)
                out.append(Unit(self.name, key, s.name, {"edit_key": eu.key}, (("img2img", eu.key),)))
        return out

    def run_batch(self, backend, units, store):
        quads = []
        for u in units:
            k = u.payload["edit_key"]
            r = Img2ImgRecord.read(store, k)
            ims = [load_image(store.read("img2img", k, f)) for f in ("input.png", "edited.png")]
            quads.append((ims[0], ims[1], r.prompt_original, r.prompt_distorted))
        return [
            x if isinstance(x, BaseException) else Img2ImgScoreRecord(x).files() for x in score_combos(backend, quads)
        ]


# --- emotion generation -------------------------------------------------------------------------

EMOTIONS4 = ("happy", *NEGATIVE_EMOTIONS)


class EmotionGenStage(Stage):
    name = "emotion_gen"
    RECORD = EmotionGenRecord
    OWNS = ("emotion_generation",)
    VERSION = 1

    def __init__(self, caption: str = "", detector: str = ""):
        self.caption, self.detector = caption, detector

    def units(self, templates: list[str], generators, seed: int) -> list[Unit]:
        out = []
        for g in generators:
            for t, template in enumerate(templates):
                for e in EMOTIONS4:
                    prompt = template.replace("[emotion]", e)
                    key = unit_key(self.name, self.VERSION, g.spec_hash, prompt=prompt, seed=seed)
                    payload = {"model": g.name, "template": t, "emotion": e, "prompt": prompt, "seed": seed}
                    out.append(Unit(self.name, key, g.name, payload))
        return out

    def run_batch(self, backend, units, store):
        images = backend.generate([u.payload["prompt"] for u in units], [u.payload["seed"] for u in units])
        seeded = backend.is_seeded(backend.settings)
        out = []
        for u, im in zip(units, images, strict=True):
            if isinstance(im, BaseException):
                out.append(im)
            else:
                out.append(
                    {"image.png": png_bytes(im), **EmotionGenRecord(u.payload["seed"] if seeded else None).files()}
                )
        return out

    def shard_rows(self, recipe, config: str) -> int:
        return recipe.recipe.shard_rows

    def rows(self, ctx, config: str):
        for u in ctx.done(self):
            p = u.payload
            yield (
                u.key,
                {
                    "model": p["model"],
                    "template": p["template"],
                    "emotion": p["emotion"],
                    "prompt": p["prompt"],
                    "seed": EmotionGenRecord.read(ctx.store, u.key).seed,
                    "image": {"bytes": ctx.store.read(self.name, u.key, "image.png"), "path": None},
                    "detector": self.detector,
                    "caption": self.caption.format(emotion=p["emotion"]),
                },
            )


class FaceStage(Stage):
    name = "face"
    RECORD = FaceRecord
    ATTACHES = ("emotion_generation",)
    JOIN = "gen_key"
    VERSION = 1

    def __init__(self, query: str = "a human face"):
        self.query = query

    def units(self, gen_units: list[Unit], detector) -> list[Unit]:
        out = []
        for gu in gen_units:
            key = unit_key(self.name, self.VERSION, detector.spec_hash, image=gu.key, query=self.query)
            out.append(Unit(self.name, key, detector.name, {"gen_key": gu.key}, (("emotion_gen", gu.key),)))
        return out

    def run_batch(self, backend, units, store):
        images = [load_image(store.read("emotion_gen", u.payload["gen_key"], "image.png")) for u in units]
        found = backend.detect(images, self.query)
        out = []
        for im, f in zip(images, found, strict=True):
            if isinstance(f, BaseException):
                out.append(f)
            elif f is None:  # a named outcome, not a failure: the row says "no face"
                out.append(FaceRecord(None, None).files())
            else:
                box, score = f
                crop = im.crop(tuple(int(round(v)) for v in box))
                out.append(
                    {"face.png": png_bytes(crop), **FaceRecord([round(v, 3) for v in box], round(score, 6)).files()}
                )
        return out

    def row_values(self, model, record: FaceRecord | None) -> dict:
        if record is None:
            return {"face": None, "face_box": None, "face_score": None, "face_image": None}
        if record.box is None:
            return {"face": "no face", "face_box": None, "face_score": None, "face_image": None}
        return {
            "face": "found",
            "face_box": record.box,
            "face_score": record.score,
            "face_image": {"bytes": record.png, "path": None},
        }


class FaceScoreStage(Stage):
    name = "face_score"
    RECORD = FaceScoreRecord
    ATTACHES = ("emotion_generation",)
    JOIN = "gen_key"
    VERSION = 1

    def __init__(self, caption: str = "a face showing a {emotion} expression"):
        self.caption = caption

    def units(self, gen_units: list[Unit], face_units: list[Unit], scorers) -> list[Unit]:
        face_of = {u.payload["gen_key"]: u.key for u in face_units}
        out = []
        for s in scorers:
            for gu in gen_units:
                fk = face_of[gu.key]
                key = unit_key(self.name, self.VERSION, s.spec_hash, face=fk, caption=self.caption)
                payload = {"gen_key": gu.key, "face_key": fk, "emotion": gu.payload["emotion"]}
                out.append(Unit(self.name, key, s.name, payload, (("face", fk),)))
        return out

    def run_batch(self, backend, units, store):
        todo = [i for i, u in enumerate(units) if FaceRecord.read(store, u.payload["face_key"]).box is not None]
        crops = [load_image(store.read("face", units[i].payload["face_key"], "face.png")) for i in todo]
        captions = [self.caption.format(emotion=units[i].payload["emotion"]) for i in todo]
        outputs = backend.outputs
        raw = score_matrix(backend, crops, captions) if todo else np.zeros((0, len(outputs)))
        got = {i: raw[j] for j, i in enumerate(todo)}
        out = []
        for i in range(len(units)):
            if i not in got:
                out.append(FaceScoreRecord(None).files())
            elif not np.all(np.isfinite(got[i])):
                out.append(ValueError("scorer returned a non-finite value (NaN or inf)"))
            else:
                out.append(FaceScoreRecord({o: float(got[i][k]) for k, o in enumerate(outputs)}).files())
        return out

    def columns(self, model) -> tuple[Column, ...]:
        doc = "r(face crop, caption naming the emotion); null without a face"
        return tuple(Column(score_column(model.name, o or None), "float64", doc) for o in model.traits["outputs"])

    def row_values(self, model, record: FaceScoreRecord | None) -> dict:
        sc = record.scores if record else None
        return {score_column(model.name, o or None): (sc[o] if sc else None) for o in model.traits["outputs"]}
