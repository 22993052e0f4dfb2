"""Stages of the real references, on the same units, store and executors as the paired benchmark.

real_photos:  ingest (per file) -> embed (images and commit texts) -> curate (retrieval by the
              commits, then the VLM verdict for retrieved photos; owns the rows) -> twin (the
              clean caption rendered) -> photoscore (every recipe scorer)
artworks:     ingest -> caption (owns the rows) -> artscore (true and shuffled caption)

Every unit exists whether or not a photo is retrieved or accepted (keys must be known before
anything runs): a unit with nothing to do writes a record saying why, without a model call.
Photo scores reuse the four-combination struct of the pairs: I_o = the clean twin,
I_a = the photograph, p_o = the clean caption, p_a = the anti-aesthetic caption; the bias of
the paper is oidp - didp = r(twin, p_a) - r(photo, p_a).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from aas_dataset.engine.records import (
    ArtScoreRecord,
    CaptionRecord,
    CurationRecord,
    EmbedRecord,
    IngestRecord,
    PhotoScoreRecord,
    TwinRecord,
)
from aas_dataset.engine.stages.base import Stage, Unit, load_image, unit_key
from aas_dataset.engine.stages.score import score_combos, score_matrix
from aas_dataset.spec.images import ImageProblem, ingest_bytes, inside
from aas_dataset.spec.references import Commit, ImageSource
from aas_dataset.spec.schema import Column, score_column
from aas_dataset.util import derive_seed, png_bytes


class ModelFree:
    """Stands in for a model in a stage whose work is plain code (ingest): the executors see a
    backend that loads nothing and never depends on its batch mates."""

    role = "step"
    traits = {"exact_batches": False}

    def __init__(self, name: str):
        self.name = name

    def instantiate(self, cache_dir=None):
        return self

    preferred_batch_size = None

    def load(self) -> None: ...
    def close(self) -> None: ...


# --- ingest ------------------------------------------------------------------------------


def ava_votes(path: Path) -> dict[str, tuple[float, int]]:
    """AVA.txt -> image id -> (mean score, vote count): columns are row number, image id, the
    counts of votes for scores 1..10, then tags and challenge (ignored)."""
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            counts = [int(x) for x in parts[2:12]]
            if len(counts) != 10 or min(counts) < 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"{path}: line {n}: expected a row number, an image id and ten vote counts") from None
        total = sum(counts)
        out[parts[1]] = (round(sum((i + 1) * c for i, c in enumerate(counts)) / total, 6) if total else None, total)
    return out


def _metadata(path: Path) -> dict[str, dict]:
    rows = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise ValueError(f"{path}: line {n}: not JSON ({e})") from None
        if not isinstance(row, dict) or not isinstance(row.get("file_name"), str):
            raise ValueError(f"{path}: line {n}: a JSON object with a string file_name expected")
        rows[row["file_name"]] = row
    return rows


def list_source(source: ImageSource, base: Path) -> tuple[Path, list[dict]]:
    """The candidate files of a source, in name order, each with what is known before ingest:
    its hash, its metadata, or the problem that will be its failure. Links and files whose
    names the metadata gives but that escape the folder are listed (as failures), not skipped."""
    root = (base / source.folder).resolve()
    if not root.is_dir():
        raise ValueError(f"{root}: the image folder does not exist")
    exts = tuple(e.lower() for e in source.extensions)
    names = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            if name.lower().endswith(exts):
                names.add(str((Path(dirpath) / name).relative_to(root)).replace(os.sep, "/"))
    meta = _metadata(base / source.metadata) if source.metadata else {}
    names |= set(meta)
    votes = ava_votes(base / source.votes) if source.votes else {}
    out, first_of = [], {}
    for rel in sorted(names)[: source.limit]:
        item: dict = {"rel": rel, "sha256": None, "problem": None}
        if rel in meta:
            item["metadata"] = json.dumps(meta[rel], sort_keys=True, ensure_ascii=False)
        stem = Path(rel).stem
        if stem in votes:
            item["human_score"], item["vote_count"] = votes[stem]
        try:
            path = inside(root, rel)
            item["sha256"] = digest_file(path)
        except ImageProblem as e:
            item["problem"] = str(e)
        if item["sha256"] and (dup := first_of.setdefault(item["sha256"], rel)) != rel:
            item["problem"] = f"duplicate of {dup} (same sha256)"
        out.append(item)
    return root, out


def digest_file(path: Path) -> str:
    import hashlib

    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class IngestStage(Stage):
    name = "ingest"
    RECORD = IngestRecord
    VERSION = 1

    def units(self, config: str, root: Path, items: list[dict]) -> list[Unit]:
        out = []
        for i, item in enumerate(items):
            payload = {"model": config, "index": i, "root": str(root), **item}
            key = unit_key(self.name, self.VERSION, "ingest", config=config, **item)
            out.append(Unit(self.name, key, f"ingest_{config}", payload))
        return out

    def run_batch(self, backend, units, store):
        out = []
        for u in units:
            p = u.payload
            try:
                if p["problem"]:
                    raise ImageProblem(p["problem"])
                path = inside(Path(p["root"]), p["rel"])
                data = path.read_bytes()
                if digest_file(path) != p["sha256"]:
                    raise ImageProblem("the file changed since the build was planned; run the build again")
                ing = ingest_bytes(data)
            except ImageProblem as e:
                out.append(ImageProblem(f"{p['rel']}: {e}"))
                continue
            rec = IngestRecord(
                file_name=p["rel"],
                sha256=ing.sha256,
                ext=ing.ext,
                width=ing.width,
                height=ing.height,
                conversions=ing.conversions,
                human_score=p.get("human_score"),
                vote_count=p.get("vote_count"),
                metadata=p.get("metadata"),
            )
            out.append(rec.files_with(ing.data))
        return out


# --- embed -------------------------------------------------------------------------------


class EmbedStage(Stage):
    name = "embed"
    RECORD = EmbedRecord
    VERSION = 1

    def units(self, ingest_units: list[Unit], texts: list[str], embedder) -> list[Unit]:
        out = []
        for iu in ingest_units:
            key = unit_key(self.name, self.VERSION, embedder.spec_hash, image=iu.key)
            out.append(Unit(self.name, key, embedder.name, {"ingest_key": iu.key}, (("ingest", iu.key),)))
        for t in sorted(set(texts)):
            key = unit_key(self.name, self.VERSION, embedder.spec_hash, text=t)
            out.append(Unit(self.name, key, embedder.name, {"text": t}))
        return out

    def run_batch(self, backend, units, store):
        images = [u for u in units if "ingest_key" in u.payload]
        texts = [u for u in units if "text" in u.payload]
        vecs = {}
        if images:
            arr = backend.embed_images([IngestRecord.image(store, u.payload["ingest_key"]) for u in images])
            vecs.update(zip([u.key for u in images], np.asarray(arr), strict=True))
        if texts:
            arr = backend.embed_texts([u.payload["text"] for u in texts])
            vecs.update(zip([u.key for u in texts], np.asarray(arr), strict=True))
        out = []
        for u in units:
            v = np.asarray(vecs[u.key], dtype=np.float64)
            out.append(
                ValueError("embedding is not finite")
                if not np.all(np.isfinite(v))
                else EmbedRecord([float(x) for x in v]).files()
            )
        return out


# --- curate: retrieval by the commits, then the VLM verdict ----------------------------------


def retrieve(
    image: np.ndarray, commits: dict[str, list[Commit]], text_vec
) -> tuple[list[str], float | None, list[str], list[str], list[str]]:
    """(tags whose commits keep the image, the best query cosine among them, their queries,
    messages and ids `class.sub_class#n`). A commit keeps an image iff cos(query) >= threshold and cos(negative) <=
    negative_threshold for every negative prompt."""
    tags, best, queries, messages, ids = [], None, [], [], []
    for tag in sorted(commits):
        for n, c in enumerate(commits[tag]):
            cos = float(np.dot(image, text_vec(c.query)))
            if cos < c.threshold:
                continue
            if any(float(np.dot(image, text_vec(n))) > c.negative_threshold for n in c.negative_prompts):
                continue
            if tag not in tags:
                tags.append(tag)
            queries.append(c.query)
            messages.append(c.message)
            ids.append(c.id or f"{tag}#{n}")
            best = cos if best is None else max(best, cos)
    return tags, best, queries, messages, ids


class CurateStage(Stage):
    name = "curate"
    RECORD = CurationRecord
    OWNS = ("real_photos",)
    VERSION = 1

    def __init__(self, commits: dict[str, list[Commit]] | None = None, release=None):
        self.commits = commits or {}
        self.release = release  # the recipe's RealPhotos section (metadata_only)

    @staticmethod
    def texts(commits: dict[str, list[Commit]]) -> list[str]:
        return [t for cs in commits.values() for c in cs for t in (c.query, *c.negative_prompts)]

    def units(self, ingest_units: list[Unit], embed_units: list[Unit], curator) -> list[Unit]:
        by_image = {u.payload["ingest_key"]: u.key for u in embed_units if "ingest_key" in u.payload}
        by_text = {u.payload["text"]: u.key for u in embed_units if "text" in u.payload}
        commits = {
            tag: [c.model_dump(exclude={"dataset", "images", "size"}) for c in cs] for tag, cs in self.commits.items()
        }
        text_keys = {t: by_text[t] for t in self.texts(self.commits)}
        out = []
        for iu in ingest_units:
            ek = by_image[iu.key]
            payload = {"index": iu.payload["index"], "ingest_key": iu.key, "embed_key": ek, "text_keys": text_keys}
            key = unit_key(self.name, self.VERSION, curator.spec_hash, embed=ek, texts=text_keys, commits=commits)
            requires = (("ingest", iu.key), ("embed", ek), *(("embed", k) for k in sorted(set(text_keys.values()))))
            out.append(Unit(self.name, key, curator.name, payload, requires))
        return out

    def run_batch(self, backend, units, store):
        text_cache: dict[str, np.ndarray] = {}

        def text_vec_of(u):
            def vec(t: str) -> np.ndarray:
                k = u.payload["text_keys"][t]
                if k not in text_cache:
                    text_cache[k] = np.asarray(EmbedRecord.read(store, k).vector)
                return text_cache[k]

            return vec

        found = []
        for u in units:
            image = np.asarray(EmbedRecord.read(store, u.payload["embed_key"]).vector)
            found.append(retrieve(image, self.commits, text_vec_of(u)))
        todo = [i for i, f in enumerate(found) if f[0]]
        replies = (
            backend.curate([IngestRecord.image(store, units[i].payload["ingest_key"]) for i in todo]) if todo else []
        )
        reply_of = dict(zip(todo, replies, strict=True))
        limit = getattr(backend.settings, "clean_caption_max_words", None)
        out = []
        for i, (tags, best, *_) in enumerate(found):
            if not tags:
                out.append(CurationRecord([], None, "not_retrieved").files())
                continue
            r = reply_of[i]
            if isinstance(r, BaseException):
                out.append(r)
                continue
            parsed, usage = r
            rec = CurationRecord(tags, best, "accepted", usage=usage)
            rec.elements = list(parsed.anti_aesthetic_elements)
            rec.clean_caption, rec.anti_aesthetic_caption = parsed.clean_caption, parsed.anti_aesthetic_caption
            if not rec.elements:
                rec.status, rec.reason = "rejected", "no strong anti-aesthetic element"
            elif not rec.clean_caption or not rec.anti_aesthetic_caption:
                rec.status, rec.reason = "rejected", "a caption is null"
            elif limit is not None and (n := len(rec.clean_caption.split())) > limit:
                rec.status, rec.reason = "rejected", f"clean caption has {n} words (limit {limit})"
            out.append(rec.files())
        return out

    def shard_rows(self, recipe, config: str) -> int:
        return recipe.recipe.shard_rows

    def rows(self, ctx, config: str):
        metadata_only = bool(self.release and self.release.metadata_only)
        curator = ctx.recipe.real_photos_models["curator"].name
        for u in ctx.done(self):
            rec = CurationRecord.read(ctx.store, u.key)
            if rec.status == "not_retrieved":
                continue
            ing = IngestRecord.read(ctx.store, u.payload["ingest_key"])
            image = (
                None
                if metadata_only
                else {"bytes": IngestRecord.image(ctx.store, u.payload["ingest_key"]), "path": None}
            )
            _tags, _best, queries, messages, ids = retrieve_from_record(self, ctx.store, u)
            yield (
                u.key,
                {
                    "index": u.payload["index"],
                    "file_name": ing.file_name,
                    "sha256": ing.sha256,
                    "image": image,
                    "human_score": ing.human_score,
                    "vote_count": ing.vote_count,
                    "conversions": ing.conversions,
                    "retrieved_as": rec.retrieved_as,
                    "similarity": rec.similarity,
                    "queries": queries,
                    "messages": messages,
                    "status": rec.status,
                    "reason": rec.reason,
                    "elements": rec.elements,
                    "clean_caption": rec.clean_caption,
                    "anti_aesthetic_caption": rec.anti_aesthetic_caption,
                    "curator": curator,
                },
            )


def retrieve_from_record(stage: CurateStage, store, u: Unit):
    """Recompute the retrieval of one unit from its stored embeddings (queries and messages
    are not stored in the record: they are the commits')."""
    image = np.asarray(EmbedRecord.read(store, u.payload["embed_key"]).vector)
    return retrieve(
        image, stage.commits, lambda t: np.asarray(EmbedRecord.read(store, u.payload["text_keys"][t]).vector)
    )


# --- twin --------------------------------------------------------------------------------


class TwinStage(Stage):
    name = "twin"
    RECORD = TwinRecord
    ATTACHES = ("real_photos",)
    JOIN = "curate_key"
    VERSION = 1

    def units(self, curate_units: list[Unit], generator, seed: int) -> list[Unit]:
        out = []
        for cu in curate_units:
            s = derive_seed(seed, generator.name, cu.payload["index"], "twin")
            key = unit_key(self.name, self.VERSION, generator.spec_hash, curate=cu.key, seed=s)
            out.append(Unit(self.name, key, generator.name, {"curate_key": cu.key, "seed": s}, (("curate", cu.key),)))
        return out

    def run_batch(self, backend, units, store):
        recs = [CurationRecord.read(store, u.payload["curate_key"]) for u in units]
        todo = [i for i, r in enumerate(recs) if r.status == "accepted"]
        images = (
            backend.generate([recs[i].clean_caption for i in todo], [units[i].payload["seed"] for i in todo])
            if todo
            else []
        )
        if len(images) != len(todo):
            raise RuntimeError(f"generator returned {len(images)} images for {len(todo)} captions")
        image_of = dict(zip(todo, images, strict=True))
        seeded = backend.is_seeded(backend.settings)
        out = []
        for i, (u, r) in enumerate(zip(units, recs, strict=True)):
            if r.status != "accepted":
                out.append(TwinRecord(None, skipped=r.status).files())
            elif isinstance(image_of[i], BaseException):
                out.append(image_of[i])
            else:
                rec = TwinRecord(u.payload["seed"] if seeded else None)
                out.append({"twin.png": png_bytes(image_of[i]), **rec.files()})
        return out

    def row_values(self, model, record: TwinRecord | None) -> dict:
        has = record is not None and record.skipped is None
        return {
            "twin_image": {"bytes": record.png, "path": None} if has else None,
            "twin_generator": model.name,
            "twin_seed": record.seed if has else None,
        }


# --- photo scores --------------------------------------------------------------------------


class PhotoScoreStage(Stage):
    name = "photoscore"
    RECORD = PhotoScoreRecord
    ATTACHES = ("real_photos",)
    JOIN = "curate_key"
    VERSION = 1

    def units(self, curate_units: list[Unit], twin_units: list[Unit], scorers) -> list[Unit]:
        twin_of = {u.payload["curate_key"]: u.key for u in twin_units}
        out = []
        for s in scorers:
            for cu in curate_units:
                tk = twin_of[cu.key]
                key = unit_key(self.name, self.VERSION, s.spec_hash, curate=cu.key, twin=tk)
                payload = {"curate_key": cu.key, "ingest_key": cu.payload["ingest_key"], "twin_key": tk}
                out.append(Unit(self.name, key, s.name, payload, (("curate", cu.key), ("twin", tk))))
        return out

    def run_batch(self, backend, units, store):
        quads, todo = [], []
        for i, u in enumerate(units):
            r = CurationRecord.read(store, u.payload["curate_key"])
            if r.status != "accepted" or not store.has("twin", u.payload["twin_key"]):
                continue
            if TwinRecord.read(store, u.payload["twin_key"]).skipped:
                continue
            twin = load_image(store.read("twin", u.payload["twin_key"], "twin.png"))
            photo = load_image(IngestRecord.image(store, u.payload["ingest_key"]))
            quads.append((twin, photo, r.clean_caption, r.anti_aesthetic_caption))
            todo.append(i)
        results = dict(zip(todo, score_combos(backend, quads), strict=True)) if todo else {}
        out = []
        for i in range(len(units)):
            res = results.get(i)
            if isinstance(res, BaseException):
                out.append(res)
            else:
                out.append(PhotoScoreRecord(res).files())
        return out

    def columns(self, model) -> tuple[Column, ...]:
        doc = "r(I, p): I_o = clean twin, I_a = photograph, p_o = clean caption, p_a = anti-aesthetic caption"
        return tuple(Column(score_column(model.name, o or None), "score", doc) for o in model.traits["outputs"])

    def row_values(self, model, record: PhotoScoreRecord | None) -> dict:
        sc = record.scores if record else None
        return {score_column(model.name, o or None): (sc[o] if sc else None) for o in model.traits["outputs"]}


# --- artworks ------------------------------------------------------------------------------


class CaptionStage(Stage):
    name = "caption"
    RECORD = CaptionRecord
    OWNS = ("artworks",)
    VERSION = 1

    def __init__(self, release=None):
        self.release = release

    def units(self, ingest_units: list[Unit], captioner) -> list[Unit]:
        out = []
        for iu in ingest_units:
            key = unit_key(self.name, self.VERSION, captioner.spec_hash, image=iu.key)
            payload = {"index": iu.payload["index"], "ingest_key": iu.key}
            out.append(Unit(self.name, key, captioner.name, payload, (("ingest", iu.key),)))
        return out

    def run_batch(self, backend, units, store):
        texts = backend.caption([IngestRecord.image(store, u.payload["ingest_key"]) for u in units])
        return [t if isinstance(t, BaseException) else CaptionRecord(t.text, t.usage).files() for t in texts]

    def shard_rows(self, recipe, config: str) -> int:
        return recipe.recipe.shard_rows

    def rows(self, ctx, config: str):
        metadata_only = bool(self.release and self.release.metadata_only)
        captioner = ctx.recipe.artworks_models["captioner"].name
        for u in ctx.done(self):
            ing = IngestRecord.read(ctx.store, u.payload["ingest_key"])
            image = (
                None
                if metadata_only
                else {"bytes": IngestRecord.image(ctx.store, u.payload["ingest_key"]), "path": None}
            )
            yield (
                u.key,
                {
                    "index": u.payload["index"],
                    "file_name": ing.file_name,
                    "sha256": ing.sha256,
                    "image": image,
                    "metadata": ing.metadata,
                    "conversions": ing.conversions,
                    "caption": CaptionRecord.read(ctx.store, u.key).caption,
                    "captioner": captioner,
                },
            )


def seeded_cycle(n: int, seed: int) -> list[int]:
    """A seeded order of 0..n-1; each artwork's shuffled caption is the next one's in it."""
    return [int(x) for x in np.random.default_rng(seed).permutation(n)]


class ArtScoreStage(Stage):
    """The shuffled caption is that of the next artwork in a seeded cycle that has a caption when
    the unit runs: an artwork whose file failed to ingest costs no other row its scores."""

    name = "artscore"
    RECORD = ArtScoreRecord
    ATTACHES = ("artworks",)
    JOIN = "caption_key"
    VERSION = 1

    def units(self, caption_units: list[Unit], scorers, seed: int) -> list[Unit]:
        order = seeded_cycle(len(caption_units), seed)
        cycle = [caption_units[i].key for i in order]
        pos = {k: i for i, k in enumerate(cycle)}
        out = []
        for s in scorers:
            for cu in caption_units:
                key = unit_key(self.name, self.VERSION, s.spec_hash, caption=cu.key, cycle=cycle)
                payload = {"caption_key": cu.key, "ingest_key": cu.payload["ingest_key"], "cycle": cycle,
                           "at": pos[cu.key]}  # fmt: skip
                out.append(Unit(self.name, key, s.name, payload, (("caption", cu.key),)))
        return out

    @staticmethod
    def partner(store, u: Unit) -> str | None:
        cycle, at = u.payload["cycle"], u.payload["at"]
        for step in range(1, len(cycle)):
            k = cycle[(at + step) % len(cycle)]
            if store.has("caption", k):
                return k
        return None

    def run_batch(self, backend, units, store):
        images, prompts, partners = [], [], []
        for u in units:
            im = load_image(IngestRecord.image(store, u.payload["ingest_key"]))
            own = CaptionRecord.read(store, u.payload["caption_key"]).caption
            pk = self.partner(store, u)
            partners.append(pk)
            other = CaptionRecord.read(store, pk).caption if pk else own
            images += [im, im]
            prompts += [own, other]
        raw, outputs = score_matrix(backend, images, prompts), backend.outputs
        out = []
        for i in range(len(units)):
            block = raw[2 * i : 2 * i + 2]
            if not np.all(np.isfinite(block)):
                out.append(ValueError("scorer returned a non-finite value (NaN or inf)"))
                continue
            shuffled = partners[i] is not None
            scores = {
                o: {"caption": float(block[0, k]), "shuffled": float(block[1, k]) if shuffled else None}
                for k, o in enumerate(outputs)
            }
            out.append(ArtScoreRecord(scores).files())
        return out

    def columns(self, model) -> tuple[Column, ...]:
        doc = "r(artwork, its caption) and r(artwork, another artwork's caption)"
        return tuple(Column(score_column(model.name, o or None), "artscore", doc) for o in model.traits["outputs"])

    def row_values(self, model, record: ArtScoreRecord | None) -> dict:
        sc = record.scores if record else None
        return {score_column(model.name, o or None): (sc[o] if sc else None) for o in model.traits["outputs"]}
