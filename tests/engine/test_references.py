"""Real references: the tiny real-photo and artwork builds (rows, card, report, crash and rerun),
the retrieval rule, and every kind of hostile image at the ingest boundary."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from aas_dataset.catalog.recipes import load_recipe
from aas_dataset.engine.build import Builder
from aas_dataset.engine.stages.references import retrieve
from aas_dataset.release.loader import load
from aas_dataset.release.manifest import read_manifest, verify
from aas_dataset.spec.images import MAX_PIXELS, ingest_bytes
from aas_dataset.spec.recipe import RecipeError
from aas_dataset.spec.references import Commit
from aas_dataset.testing.fake_openai import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
BUILDERS = ROOT / "builders"


@pytest.fixture()
def llm(monkeypatch):
    monkeypatch.setenv("AAS_LLM_API_KEY", "test-key")
    with FakeOpenAIServer() as srv:
        yield srv


def _recipe(tmp: Path, name: str, base_url: str, **section_changes) -> Path:
    """A packaged tiny recipe with its folders made absolute and the loopback server's address."""
    data = yaml.safe_load((BUILDERS / name).read_text())
    data["llm_endpoint"]["base_url"] = base_url
    config = "real_photos" if "real_photos" in data else "artworks"
    sec = data[config]
    for k in ("folder", "votes", "metadata"):
        if k in sec["source"]:
            sec["source"][k] = str(BUILDERS / sec["source"][k])
    if "retrieval" in sec and "commits_file" in sec["retrieval"]:
        sec["retrieval"]["commits_file"] = str(BUILDERS / sec["retrieval"]["commits_file"])
    sec.update(section_changes)
    path = tmp / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _shas(folder: Path) -> dict[str, str]:
    return {k: v["sha256"] for k, v in read_manifest(folder)["files"].items()}


def _cli(recipe: Path, out: Path, crash: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"AAS_CRASH_AT": crash} if crash else {})}
    cmd = [sys.executable, "-m", "aas_dataset", "build", str(recipe), "--out", str(out)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)


# --- real photographs ------------------------------------------------------------------------


def test_real_photos_tiny_build_rows_card_report_and_a_killed_build_resumes_to_the_same_bytes(llm, tmp_path):
    from aas_dataset.analysis.report import build_report

    recipe = _recipe(tmp_path, "real_photos_tiny.yaml", llm.base_url)
    clean = tmp_path / "clean"
    assert _cli(recipe, clean).returncode == 0
    rows = load("real_photos", source=str(clean)).to_list()
    # 12 photos; the commit's threshold leaves one out (not a row); the curator accepts the dark
    # ones (exposure_extremes) and rejects the others, which stay with their reason
    assert len(rows) == 11
    accepted = [r for r in rows if r["status"] == "accepted"]
    rejected = [r for r in rows if r["status"] == "rejected"]
    assert len(accepted) == 5 and len(rejected) == 6
    assert all(r["reason"] == "no strong anti-aesthetic element" and r["twin_image"] is None for r in rejected)
    for r in accepted:
        assert r["elements"] == ["lighting_and_exposure.exposure_extremes"] == r["retrieved_as"]
        assert r["clean_caption"] == "a street" and r["twin_seed"] is not None and r["twin_image"] is not None
        assert set(r["score_clip_tiny"]) == {"oiop", "oidp", "diop", "didp"}
        assert r["human_score"] is not None and r["vote_count"] > 0
        assert r["queries"] == ["an underexposed photo, almost black"]
    counts = read_manifest(clean)["counts"]
    assert (counts["real_photos_files"], counts["real_photos"], counts["real_photos_accepted"]) == (12, 11, 5)
    card = (clean / "README.md").read_text()
    assert "config_name: real_photos" in card and "local_curator" in card
    rep = build_report(clean, n_boot=50)
    bias = next(t for t in rep.tables if t.name == "real_photo_bias")
    assert bias.cell("overall", "n") == 5 and bias.cell("lighting_and_exposure.exposure_extremes", "n") == 5
    assert (clean / "report" / "real_photos.html").read_text().count('class="card"') == 5  # photo beside twin
    twins = np.array([r["score_clip_tiny"]["oidp"] for r in accepted])
    photos = np.array([r["score_clip_tiny"]["didp"] for r in accepted])
    assert bias.cell("overall", "bias clip_tiny").value == pytest.approx(float((twins - photos).mean()))

    # killed while curating, while rendering twins and while scoring: each rerun resumes, and
    # the end is the clean build, byte for byte
    killed = tmp_path / "killed"
    for point in ("write:ingest:4", "write:curate:3", "write:twin:2", "write:photoscore:5"):
        assert _cli(recipe, killed, crash=point).returncode == -signal.SIGKILL, point
    assert _cli(recipe, killed).returncode == 0
    assert _shas(killed) == _shas(clean) and verify(killed).ok


def test_retrieval_keeps_what_the_commit_keeps():
    """cos(query) >= threshold keeps; cos(negative) > negative_threshold excludes (the authors' rule)."""
    vec = {"q": np.array([1.0, 0.0]), "n": np.array([0.0, 1.0])}
    commits = {
        "clarity_and_focus.intentional_blur": [
            Commit(query="q", threshold=0.5, negative_prompts=["n"], negative_threshold=0.3)
        ]
    }
    keep = lambda image: retrieve(np.asarray(image) / np.linalg.norm(image), commits, vec.__getitem__)[0]  # noqa: E731
    assert keep([1.0, 0.0]) == ["clarity_and_focus.intentional_blur"]  # on the query, far from the negative
    assert keep([0.5, 0.5]) == []  # close enough to the query, but too close to the negative
    assert keep([0.3, -1.0]) == []  # below the threshold
    exact = retrieve(np.array([0.5, np.sqrt(0.75)]), {"a.b": []}, vec.__getitem__)
    assert exact[0] == []


def test_commits_are_checked_against_the_taxonomy(llm, tmp_path):
    bad = tmp_path / "commits.json"
    bad.write_text(json.dumps({"lighting.too_dark": [{"query": "x", "threshold": 0.2}]}))
    recipe = _recipe(
        tmp_path,
        "real_photos_tiny.yaml",
        llm.base_url,
        retrieval={"embedder": "clip_tiny_embed", "commits_file": str(bad)},
    )
    with pytest.raises(RecipeError, match="not a class.sub_class of the taxonomy"):
        load_recipe(recipe)
    bad.write_text(
        json.dumps(
            {"clarity_and_focus.intentional_blur": [{"query": "x", "threshold": 0.2, "negative_prompts": ["y"]}]}
        )
    )
    with pytest.raises(RecipeError, match="negative_prompts need a negative_threshold"):
        load_recipe(recipe)


# --- artworks ---------------------------------------------------------------------------------


def test_artworks_tiny_build_captions_shuffled_scores_and_leaderboard(llm, tmp_path):
    from aas_dataset.analysis.report import build_report

    recipe = _recipe(tmp_path, "artworks_tiny.yaml", llm.base_url)
    out = tmp_path / "art"
    assert _cli(recipe, out).returncode == 0
    rows = load("artworks", source=str(out)).to_list()
    assert len(rows) == 8 and all(r["caption"].startswith("A painting in") for r in rows)
    assert json.loads(rows[3]["metadata"])["title"] == "Study 3"
    # each artwork's shuffled score is its score under another artwork's caption: with the
    # fake captioner's two captions, some partners share the caption and some do not
    same = [r["score_clip_tiny"]["caption"] == r["score_clip_tiny"]["shuffled"] for r in rows]
    assert any(same) and not all(same)
    rep = build_report(out, n_boot=50)
    t = next(t for t in rep.tables if t.name == "artworks")
    clip = np.array([r["score_clip_tiny"]["caption"] for r in rows])
    assert t.cell("clip_tiny", "mean (true caption)").value == pytest.approx(clip.mean())
    board = {"model_a": -0.2, "model_b": 0.0, "model_c": 0.1, "model_d": 0.3}
    assert t.cell("clip_tiny", "relative score").value == pytest.approx((clip.mean() + 0.2) / 0.5)
    assert t.cell("clip_tiny", "rank") == f"{1 + sum(v > clip.mean() for v in board.values())} / 5"
    assert t.cell("blip_itm_large", "mean (true caption)").value < 1  # a match probability


def test_release_refuses_a_config_whose_images_may_not_be_redistributed(llm, tmp_path):
    from typer.testing import CliRunner

    from aas_dataset.cli import app

    out = tmp_path / "art"
    Builder(load_recipe(_recipe(tmp_path, "artworks_tiny.yaml", llm.base_url, redistribute=False)), out).run()
    res = CliRunner().invoke(app, ["release", str(out), "--repo-id", "org/x", "--tag", "v1.0.0", "--dry-run"])
    assert res.exit_code != 0 and "artworks" in res.output and "metadata_only" in res.output
    meta = tmp_path / "meta"
    recipe = _recipe(tmp_path, "artworks_tiny.yaml", llm.base_url, redistribute=False, metadata_only=True)
    Builder(load_recipe(recipe), meta).run()
    assert all(r["image"] is None for r in load("artworks", source=str(meta)).to_list())
    res = CliRunner().invoke(app, ["release", str(meta), "--repo-id", "org/x", "--tag", "v1.0.0", "--dry-run"])
    assert res.exit_code == 0, res.output


# --- the ingest boundary ------------------------------------------------------------------------


def _png(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _jpeg(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def _hostile_folder(root: Path, outside: Path) -> dict[str, str]:
    """Good images and one of each hostile kind; returns file -> what ingest must say."""
    root.mkdir()
    rng = np.random.default_rng(0)
    good = Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    (root / "a_good.png").write_bytes(_png(good))
    (root / "b_good.jpg").write_bytes(_jpeg(good))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° to view
    (root / "c_exif.jpg").write_bytes(_jpeg(good, exif=exif.tobytes()))
    (root / "d_cmyk.jpg").write_bytes(_jpeg(good.convert("CMYK")))
    (root / "e_16bit.png").write_bytes(
        _png(Image.fromarray((np.arange(24 * 32).reshape(24, 32) * 80).astype(np.uint16)))
    )
    pal = good.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    pal.info["transparency"] = 0
    (root / "f_palette.png").write_bytes(_png(pal, transparency=0))
    rgba = good.convert("RGBA")
    rgba.putalpha(128)
    (root / "g_alpha.png").write_bytes(_png(rgba))
    (root / "h_bomb.png").write_bytes(_png(Image.new("1", (4100, 4100))))
    (root / "i_truncated.jpg").write_bytes(_jpeg(good)[:300])
    (root / "j_text.jpg").write_text("not an image at all")
    (root / "k_duplicate.png").write_bytes(_png(good))  # same bytes as a_good.png
    outside.write_bytes(_png(good))
    (root / "l_link.png").symlink_to(outside)
    return {
        "c_exif.jpg": "EXIF orientation 6 applied",
        "d_cmyk.jpg": "CMYK -> RGB",
        "e_16bit.png": "16-bit grayscale scaled to 8-bit",
        "f_palette.png": "palette with transparency -> RGBA",
        "g_alpha.png": "alpha flattened onto white",
        "h_bomb.png": "more than",
        "i_truncated.jpg": "does not decode",
        "j_text.jpg": "not an image",
        "k_duplicate.png": "duplicate of a_good.png",
        "l_link.png": "symbolic link",
        "../escape.png": "leaves the input folder",
    }


def test_every_hostile_image_is_a_named_row_failure_and_the_rest_of_the_build_stands(llm, tmp_path):
    folder = tmp_path / "art"
    expect = _hostile_folder(folder, tmp_path / "outside.png")
    meta = tmp_path / "metadata.jsonl"
    meta.write_text(json.dumps({"file_name": "../escape.png", "title": "escapes"}) + "\n")
    recipe = _recipe(
        tmp_path, "artworks_tiny.yaml", llm.base_url, source={"folder": str(folder), "metadata": str(meta)}
    )
    out = tmp_path / "out"
    report = Builder(load_recipe(recipe), out).run()
    failures = {
        f["reason"].split(": ")[1]: f["reason"] for f in read_manifest(out)["failures"] if f["stage"] == "ingest"
    }
    rows = {r["file_name"]: r for r in load("artworks", source=str(out)).to_list()}
    for name, said in expect.items():
        if "->" in said or "applied" in said or "scaled" in said or "flattened" in said:
            assert said in rows[name]["conversions"], (name, rows[name]["conversions"])  # converted, recorded
        else:
            assert name in failures and said in failures[name], (name, failures.get(name))
    assert set(rows) == {"a_good.png", "b_good.jpg", *(n for n, s in expect.items() if n in rows)}
    assert len(rows) == 7 and len(failures) == 6
    # a failed file costs no other row its scores (the shuffled caption skips it)
    assert all(r["score_clip_tiny"] and r["score_clip_tiny"]["shuffled"] is not None for r in rows.values())
    assert rows["c_exif.jpg"]["image"] is not None
    rotated = Image.open(io.BytesIO(rows["c_exif.jpg"]["image"]["bytes"]))
    assert rotated.size == (24, 32)  # upright: the EXIF rotation applied
    assert rows["b_good.jpg"]["conversions"] == []  # an upright RGB JPEG keeps its own bytes
    assert rows["b_good.jpg"]["image"]["bytes"] == (folder / "b_good.jpg").read_bytes()
    assert len(report.failures) >= 6 and not (tmp_path / "outside.png").is_symlink()


def test_ingest_pixel_limit_is_read_from_the_header():
    data = _png(Image.new("1", (4097, 4097)))
    with pytest.raises(ValueError, match=f"more than {MAX_PIXELS:,} pixels"):
        ingest_bytes(data)


def test_the_authors_dataset_json_is_read_with_a_tag_per_commit_id(tmp_path):
    from aas_dataset.spec.references import Retrieval

    authors = {
        "90150ca3": {"query": "motion blur", "dataset": "photos", "threshold": 0.39, "negative_prompts": ["text"],
                     "negative_threshold": 0.3, "message": "m", "images": ["/x/1.jpg"], "size": 1},
    }  # fmt: skip
    (tmp_path / "dataset.json").write_text(json.dumps(authors))
    r = Retrieval(
        embedder="clip_tiny_embed",
        commits_file="dataset.json",
        commit_tags={"90150ca3": "clarity_and_focus.intentional_blur"},
    )
    (c,) = r.resolved_commits(tmp_path)["clarity_and_focus.intentional_blur"]
    assert (c.id, c.threshold, c.negative_prompts) == ("90150ca3", 0.39, ["text"])
    keep = retrieve(
        np.array([1.0, 0.0]),
        {"clarity_and_focus.intentional_blur": [c]},
        lambda t: np.array([1.0, 0.0]) if t == "motion blur" else np.array([0.0, 1.0]),
    )
    assert keep[4] == ["90150ca3"]  # rows name the authors' commit id
    with pytest.raises(ValueError, match="commit 90150ca3: no class.sub_class"):
        Retrieval(embedder="clip_tiny_embed", commits_file="dataset.json").resolved_commits(tmp_path)


def test_the_official_curation_text_is_read_from_the_authors_file_and_filled_with_their_taxonomy(tmp_path, monkeypatch):
    """recaption.py holds the instruction in a module-level f-string of {classes} and uses 3.12
    f-string syntax further down: the text is found, hash-checked and filled with the file
    classes_new.json, whose classes must be the taxonomy's."""
    import dataclasses
    import hashlib

    from aas_dataset.spec import instructions
    from aas_dataset.spec.official_texts import OfficialTextError
    from aas_dataset.spec.taxonomy import AVA_CLASSES

    repo = tmp_path / "icml2026_position" / "anti_aesthetics_agent"
    repo.mkdir(parents=True)
    template = 'Stand-in curation text.\n<taxonomy>\n{classes}\n</taxonomy>\nReply {{"thinking": ...}}'
    (repo / "recaption.py").write_text(
        'with open("classes_new.json") as f:\n    classes = f.read()\n'
        f'prompt = f"""{template}"""\n'
        "def process_image(sample):\n"
        '    return {"role": "system", "content": prompt}, f"{sample["filename"]}"\n'  # 3.12-only syntax
    )
    taxonomy = json.dumps({"anti_aesthetics": {c: {s: "x" for s in subs} for c, subs in AVA_CLASSES.items()}})
    (repo / "classes_new.json").write_text(taxonomy)
    expected = template.replace("{{", "{").replace("}}", "}")

    def rec(t, text):
        return dataclasses.replace(t, length=len(text), sha256_prefix=hashlib.sha256(text.encode()).hexdigest()[:16])

    monkeypatch.setitem(
        instructions.OFFICIAL, "curator", {"system": rec(instructions.OFFICIAL["curator"]["system"], expected)}
    )
    monkeypatch.setattr(instructions, "TAXONOMY", rec(instructions.TAXONOMY, taxonomy))
    system = instructions.instruction("curator", "official", tmp_path / "icml2026_position").system
    assert system == expected.replace("{classes}", "{taxonomy}")
    assert instructions.taxonomy_text("official", tmp_path / "icml2026_position") == taxonomy
    other = taxonomy.replace("surrealism", "dada")  # recorded, but not the taxonomy's sub-classes
    (repo / "classes_new.json").write_text(other)
    monkeypatch.setattr(instructions, "TAXONOMY", rec(instructions.TAXONOMY, other))
    with pytest.raises(OfficialTextError, match="not the 5 classes / 28 sub-classes"):
        instructions.taxonomy_text("official", tmp_path / "icml2026_position")


def test_a_curation_reply_must_name_taxonomy_tags_one_per_class():
    from pydantic import ValidationError

    from aas_dataset.backends.references import Response

    ok = {"thinking": "t", "clean_caption": "a cow", "anti_aesthetic_caption": "A cow. Grain everywhere."}
    assert Response.model_validate({**ok, "anti_aesthetic_elements": ["clarity_and_focus.film_artifacts"]})
    for elements, why in (
        (["clarity_and_focus.grainy"], "not a class.sub_class"),
        (["clarity_and_focus.film_artifacts", "clarity_and_focus.intentional_blur"], "at most one per class"),
        ([], "captions given with no anti-aesthetic element"),
    ):
        with pytest.raises(ValidationError, match=why):
            Response.model_validate({**ok, "anti_aesthetic_elements": elements})


def test_the_embeddings_endpoint_backend_sends_the_authors_request_shape_and_retries(monkeypatch):
    from aas_dataset.catalog import resolve
    from aas_dataset.testing.fake_openai import Behaviour

    monkeypatch.setenv("AAS_LLM_API_KEY", "k")
    dark, light = (_png(Image.new("RGB", (16, 16), (v, v, v))) for v in (10, 240))
    with FakeOpenAIServer(Behaviour(record=True, fault_rate=0.3, seed=3)) as srv:
        m = resolve(
            "embedder", "local_embeddings", {"base_url": srv.base_url, "inputs_per_request": 2, "backoff_base_s": 0}
        )
        e = m.instantiate()
        e.load()
        try:
            images = e.embed_images([dark, light, dark])
            texts = e.embed_texts(["a dark night", "a sunny beach"])
        finally:
            e.close()
        sent = [body for path, body in srv.behaviour.received if path.endswith("/embeddings")]
    assert images.shape == (3, 8) and np.allclose(np.linalg.norm(images, axis=1), 1)
    assert np.allclose(images[0], images[2])  # the same image, the same vector
    assert images[0] @ texts[0] > images[1] @ texts[0]  # the dark photo is nearer the dark query
    assert all(len(b["input"]) <= 2 and b["encoding_format"] == "float" for b in sent)
    part = sent[0]["input"][0]["content"][0]
    assert part["type"] == "image_url" and part["image_url"]["url"].startswith("data:image/png;base64,")
    assert srv.behaviour.faults_injected  # some requests failed and were retried
