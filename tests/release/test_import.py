"""Import of the authors' published layouts, built here in exactly their Parquet schemas
(tests/helpers.py: PUBLISHED)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

import aas_dataset
from aas_dataset.analysis.metrics import classification_table, generator_table, read_frame
from aas_dataset.analysis.report import build_report
from aas_dataset.cli import app
from aas_dataset.release.importers import ImportFormatError, import_hf
from aas_dataset.release.manifest import verify

from ..helpers import PUBLISHED, png_cell

GT = "qwen3_vl_235b_deepinfra"


def test_import_benchmark_layout_and_recompute_tables(published, tmp_path, authors_dir):
    src, rows = published
    out = tmp_path / "imported"
    res = CliRunner().invoke(app, ["import-hf", str(src), "--out", str(out), "--official-dir", str(authors_dir)])
    assert res.exit_code == 0, res.output
    assert verify(out).ok
    df = read_frame(out, "scores")
    assert len(df) == 30
    # catalog names: the dotted paper key becomes ours, a repeated block is renamed
    assert list(dict.fromkeys(df["model"])) == [
        "flux_dev",
        "dance_flux",
        "stable_diffusion_3_5_medium",
        "sd3_medium_grpo",
        "sd3_medium_grpo_2",
    ]
    # one name per model: the same columns a fresh build of these models writes
    assert {
        "score_hpsv2_1",
        "score_hpsv3",
        "score_hpsv3_log_sigma",
        "score_image_reward",
        "score_blip_itm_large",
        "score_blip_itm_large_neg",
        "label_qwen3_vl_235b_deepinfra",
        "label_gpt5_chat_openrouter",
        "judge100_gemini25_flash_openrouter",
        "rater_rater_j",
    } <= {c.split(".")[0] for c in df.columns}
    from datasets import load_dataset

    from ..helpers import authors_effects

    prompts = load_dataset(str(out), "prompts", split="test")
    assert prompts[0]["effects"] == "\n".join(authors_effects()[d] for d in ["clarity", "color brightness"])

    # generator table equals the published formulas applied by hand to the source rows
    t = generator_table(df, GT, n_boot=50)
    dance = [r for r in rows if r["model"] == "dance_flux"]
    d3 = np.mean([r["hpsv3_reward"]["hpsv3_diop"][0] - r["hpsv3_reward"]["hpsv3_oiop"][0] for r in dance])
    assert t.cell("dance_flux", "Δ hpsv3").value == pytest.approx(d3)
    assert t.cell("dance_flux", "hpsv3 AA").value == pytest.approx(
        np.mean([r["hpsv3_reward"]["hpsv3_diop"][0] for r in dance])
    )
    dj = np.mean([sum(r["rater"]["distorted"]["scores"]) - sum(r["rater"]["original"]["scores"]) for r in dance])
    assert t.cell("dance_flux", "ΔJ rater_j").value == pytest.approx(dj)
    blip = np.mean([1 / (1 + np.exp(-(r["blip_score"][1][1] - r["blip_score"][1][0]))) for r in dance])
    assert t.cell("dance_flux", "blip_itm_large match").value == pytest.approx(blip)
    h2 = np.mean([r["hpsv2_reward"]["hpsv2_diop"] - r["hpsv2_reward"]["hpsv2_oiop"] for r in dance])
    assert t.cell("dance_flux", "Δ hpsv2_1").value == pytest.approx(h2)
    assert t.cell("dance_flux", "success").value == pytest.approx(np.mean([r["llm_selected"] == 1 for r in dance]))

    # reward-model table: ties removed, didp > oidp, and GPT-5-Chat as a verifier (tie -> original)
    c = classification_table(df, GT, n_boot=50)
    keep = [r for r in rows if r["llm_selected"] != -1]
    y = np.array([r["llm_selected"] for r in keep])
    pred = np.array([r["image_reward"]["image_reward_didp"] > r["image_reward"]["image_reward_oidp"] for r in keep])
    assert c.cell("image_reward", "accuracy").value == pytest.approx(np.mean(pred == y))
    bpred = np.array([r["blip_score"][1][1] > r["blip_score"][0][1] for r in keep])
    assert c.cell("blip_itm_large", "accuracy").value == pytest.approx(np.mean(bpred == y))
    gpt = np.array([r["sec_llm_selected"] == 1 for r in keep])
    assert c.cell("gpt5_chat_openrouter", "accuracy").value == pytest.approx(np.mean(gpt == y))

    m = json.loads((out / "MANIFEST.json").read_text())
    assert m["recipe"]["ground_truth"] == GT
    assert m["recipe"]["comparisons"] == [
        {"aligned": "dance_flux", "base": "flux_dev"},
        {"aligned": "sd3_medium_grpo", "base": "stable_diffusion_3_5_medium"},
    ]
    report = build_report(out, n_boot=50)
    tables = {"generators", "reward_models", "judge_agreement", "aligned_vs_base", "judge_reward_correlation"}
    tables |= {"success_by_dimension", "shift_by_dimension", "j_by_dimension_rater_j"}
    assert tables == {t.name for t in report.tables}  # the last: the authors' eval_later analysis on their data
    assert "sd3_medium_grpo_2" in (out / "README.md").read_text()
    # the authors' own data: the published values beside ours, where every model they need is present
    gen = next(t for t in report.tables if t.name == "generators")
    assert gen.published[("dance_flux", "Δ hpsv3")] == -1.105
    assert "(paper -1.105)" in (out / "report" / "report.md").read_text()
    rm = next(t for t in report.tables if t.name == "reward_models")
    assert rm.published == {}  # measured over the ten generators' rows; this release holds five


def test_import_names_unknown_and_missing_columns(published, tmp_path):
    src, rows = published
    bad = tmp_path / "bad"
    bad.mkdir()
    t = pa.Table.from_pylist(rows[:2], schema=PUBLISHED)
    pq.write_table(t.append_column("mystery", pa.array([1, 2])), bad / "a.parquet")
    with pytest.raises(ImportFormatError, match="unknown column\\(s\\) mystery"):
        import_hf(str(bad), tmp_path / "o1")
    pq.write_table(t.drop_columns(["prompt_distorted"]), bad / "a.parquet")
    with pytest.raises(ImportFormatError, match="missing column\\(s\\) prompt_distorted"):
        import_hf(str(bad), tmp_path / "o2")
    assert not (tmp_path / "o2" / "MANIFEST.json").exists()
    res = CliRunner().invoke(app, ["import-hf", str(bad), "--out", str(tmp_path / "o3")])
    assert res.exit_code == 2 and "prompt_distorted" in res.output


def _emotion_source(folder, scores: dict, drop: str | None = None, hpsv2_len: int = 1):
    """The published emotion-bias layout with its published types: HPSv2.1 and ImageReward
    scores as one-element lists (what their packages return), BLIP and HPSv3 as floats."""
    n = len(next(iter(scores["hpsv3"].values()))[0])
    cols = {
        "prompt": ["A [emotion] person at a window."] * n,
        **{f"{e}_image": [png_cell(i) for i in range(n)] for e in ("happy", "sad", "angry", "fearful")},
    }
    for scorer, per_emotion in scores.items():
        for e, (edited, happy) in per_emotion.items():
            if scorer in ("hpsv2", "img_reward"):
                edited, happy = ([[v] * hpsv2_len for v in x] for x in (edited, happy))
            cols[f"{e}_{scorer}"] = edited
            cols[f"{e}_{scorer}_happy_image"] = happy
    cols.pop(drop, None)
    folder.mkdir(exist_ok=True)
    pq.write_table(pa.table(cols), folder / "train-00000-of-00001.parquet")
    return folder


EMOTION_SCORES = {
    "hpsv3": {
        "sad": ([1.0, 2.0, 3.0, 4.0], [0.0, 3.0, 1.0, 1.0]),
        "angry": ([1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 0.0, 1.0]),
        "fearful": ([5.0, 5.0, 5.0, 5.0], [1.0, 1.0, 1.0, 9.0]),
    },
    "hpsv2": {  # lists in the source
        "sad": ([0.30, 0.20, 0.25, 0.27], [0.28, 0.21, 0.24, 0.26]),
        "angry": ([0.1, 0.1, 0.1, 0.1], [0.2, 0.2, 0.2, 0.2]),
        "fearful": ([0.3, 0.1, 0.3, 0.1], [0.2, 0.2, 0.2, 0.2]),
    },
    "img_reward": {
        "sad": ([1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]),
        "angry": ([0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]),
        "fearful": ([1.0, 0.0, 1.0, 0.0], [0.5, 0.5, 0.5, 0.5]),
    },
    "blip": {
        "sad": ([3.0, 3.0, -1.0, 3.0], [1.0, 1.0, 1.0, 1.0]),
        "angry": ([2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0]),
        "fearful": ([0.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0]),
    },
}


def test_import_emotion_bias_layout_as_published(tmp_path):
    folder = _emotion_source(tmp_path / "emotion", EMOTION_SCORES)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["import-hf", str(folder), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert verify(out).ok
    rep = build_report(out, n_boot=50)
    (table,) = rep.tables
    rows = {r["model"]: r for r in table.rows}
    # every scorer present, under the catalog's names
    assert set(rows) == {"hpsv3", "hpsv2_1", "image_reward", "blip_itm_large"}
    for src, ours in (
        ("hpsv3", "hpsv3"),
        ("hpsv2", "hpsv2_1"),
        ("img_reward", "image_reward"),
        ("blip", "blip_itm_large"),
    ):
        for e, col in (("sad", "sadness"), ("angry", "anger"), ("fearful", "fear")):
            edited, happy = EMOTION_SCORES[src][e]
            want = np.mean([a > b for a, b in zip(edited, happy, strict=True)])  # strict: a tie is wrong
            assert rows[ours][col].value == pytest.approx(want), (src, e)
    assert rows["hpsv3"]["sadness"].value == pytest.approx(3 / 4)
    assert rows["hpsv3"]["anger"].value == pytest.approx(1 / 4)  # 1<2, 1<2, 1>0, 1=1
    from datasets import load_dataset

    ds = load_dataset(str(out), "emotion_bias", split="test")
    assert ds.num_rows == 4 and ds[0]["image_sad"].size == (8, 8)
    assert ds[0]["score_hpsv2_1"]["sad"] == pytest.approx(0.30)


def test_import_emotion_bias_refuses_bad_lists_and_missing_columns(tmp_path):
    bad = _emotion_source(tmp_path / "two", EMOTION_SCORES, hpsv2_len=2)
    with pytest.raises(ImportFormatError, match=r"row 0, column 'sad_hpsv2': a list score must hold one value, got 2"):
        import_hf(str(bad), tmp_path / "o1")
    nan = {**EMOTION_SCORES, "blip": {**EMOTION_SCORES["blip"], "angry": ([2.0, float("nan"), 2.0, 2.0], [1.0] * 4)}}
    with pytest.raises(ImportFormatError, match=r"row 1, column 'score_blip_itm_large': field 'angry': .* got nan"):
        import_hf(str(_emotion_source(tmp_path / "nan", nan)), tmp_path / "o3")
    missing = _emotion_source(tmp_path / "missing", EMOTION_SCORES, drop="angry_hpsv3_happy_image")
    with pytest.raises(ImportFormatError, match="lacks angry_happy"):
        import_hf(str(missing), tmp_path / "o2")
    assert not (tmp_path / "o1" / "MANIFEST.json").exists()


def _with_column(table: pa.Table, name: str, values: list, type_: pa.DataType) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, pa.field(name, type_), pa.array(values, type=type_))


def _nan_at(rows: list[dict], k: int) -> list:
    out = [dict(r["hpsv2_reward"]) for r in rows]
    out[k]["hpsv2_oidp"] = float("nan")
    return out


def _as_text(rows: list[dict]) -> list:
    return [
        {
            s: {"preds": r["rater"][s]["preds"], "scores": [str(x) for x in r["rater"][s]["scores"]]}
            for s in ("original", "distorted")
        }
        for r in rows
    ]


RATER_TEXT = pa.struct(
    [
        (s, pa.struct([("preds", pa.list_(pa.int64())), ("scores", pa.list_(pa.string()))]))
        for s in ("original", "distorted")
    ]
)

# (what the second file's column becomes, the row and the words of the error)
BAD_VALUES = {
    "fractional label": (
        "llm_selected",
        lambda rows: [1.5, *[0.0] * (len(rows) - 1)],
        pa.float64(),
        0,
        "column 'llm_selected' (our 'label_qwen3_vl_235b_deepinfra'): expected an integer, got float 1.5",
    ),
    "negative fraction": (
        "sec_llm_selected",
        lambda rows: [0.0, -0.5, *[0.0] * (len(rows) - 2)],
        pa.float64(),
        0,
        "expected an integer, got float 0.0",
    ),
    "label out of range": (
        "third_llm_selected",
        lambda rows: [0, 1, 0, 2, *[1] * (len(rows) - 4)],
        pa.int64(),
        3,
        "a label is -1, 0, 1 or null, got 2",
    ),
    "string label": (
        "llm_selected",
        lambda rows: ["1"] * len(rows),
        pa.string(),
        0,
        "expected an integer, got str '1'",
    ),
    "NaN score": (
        "hpsv2_reward",
        lambda rows: _nan_at(rows, 2),
        PUBLISHED.field("hpsv2_reward").type,
        2,
        "field 'oidp': expected a finite number, got nan",
    ),
    "int where a list is expected": (
        "selected_dims",
        lambda rows: [5] * len(rows),
        pa.int64(),
        0,
        "column 'selected_dims': expected a JSON list of dimension keys, got 5",
    ),
    "strings in a list of numbers": (
        "rater",
        _as_text,
        RATER_TEXT,
        0,
        "field 'original': item 0: expected a number, got str",
    ),
    "string index": (
        "index",
        lambda rows: [str(r["index"]) for r in rows],
        pa.string(),
        0,
        "column 'index': expected an integer, got str '0'",
    ),
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_import_refuses_a_wrong_value_instead_of_coercing_it(published, tmp_path, authors_dir, case):
    """A label of 1.5 must not become 1: every value is checked as the file holds it, and a
    wrong one stops the import with one line naming the file, row and column."""
    src, rows = published
    column, values, type_, row, words = BAD_VALUES[case]
    second = next((src / "data").glob("train-00001-*.parquet"))
    table = pq.read_table(second)
    pq.write_table(_with_column(table, column, values(rows[12:]), type_), second)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["import-hf", str(src), "--out", str(out), "--official-dir", str(authors_dir)])
    assert res.exit_code == 2, res.output
    line = " ".join(res.output.split())  # the console wraps long lines
    assert f"{second.name}: row {row}, " in line and words in line, line
    assert "Traceback" not in res.output and not (out / "MANIFEST.json").exists()


# --- the real-image and artwork layouts ------------------------------------------------------


def _jpeg_bytes(seed: int, size=(40, 30)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


LIST_COLUMNS = ("class_keys", "queries", "source_datasets", "messages", "annotations_json")


def _real_images_parquet(path: Path) -> None:
    """The publish_real_images_hf_dataset.py features, as `datasets` writes them."""
    from datasets import Dataset, Features, Sequence, Value
    from datasets import Image as HFImage

    record = {"query": "q", "threshold": 0.3, "negative_prompts": [], "negative_threshold": 0.3, "message": "m"}
    annotation = json.dumps({"class_key": "90150ca3", **record, "class_size": 3})
    rows = [
        {"image": {"bytes": _jpeg_bytes(i), "path": None}, "original_path": f"/x/ava/{i}.jpg", "file_name": f"{i}.jpg",
         "class_keys": ["90150ca3"], "queries": ["motion blur"], "source_datasets": ["photos"],
         "messages": ["sub-element: motion blur"], "annotations_json": [annotation]}
        for i in range(3)
    ]  # fmt: skip
    rows.append({**rows[0], "file_name": "dup.jpg"})  # the same bytes again
    rows.append({**rows[1], "file_name": "bad.jpg", "image": {"bytes": b"not an image", "path": None}})
    features = Features(
        {"image": HFImage(), "original_path": Value("string"), "file_name": Value("string"),
         **{c: Sequence(Value("string")) for c in LIST_COLUMNS}}
    )  # fmt: skip
    Dataset.from_list(rows, features=features).to_parquet(str(path))


def test_import_real_images_parquet_layout(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _real_images_parquet(src / "train-00000-of-00001.parquet")
    out = tmp_path / "out"
    m = import_hf(str(src), out)
    rows = aas_dataset.load("real_photos", source=str(out)).to_list()
    assert [r["file_name"] for r in rows] == ["0.jpg", "1.jpg", "2.jpg"]
    assert rows[0]["commit_ids"] == ["90150ca3"] and rows[0]["queries"] == ["motion blur"]
    assert rows[0]["status"] == "imported" and rows[0]["image"]["bytes"] == _jpeg_bytes(0)  # own bytes kept
    reasons = [f["reason"] for f in m["failures"]]
    assert any("row 3: duplicate of" in r for r in reasons) and any("row 4: not an image" in r for r in reasons)
    assert verify(out).ok


def test_import_real_images_imagefolder_layout(tmp_path):
    src = tmp_path / "src" / "train"
    src.mkdir(parents=True)
    meta = []
    for i in range(2):
        (src / f"{i}.jpg").write_bytes(_jpeg_bytes(10 + i))
        meta.append({"file_name": f"{i}.jpg", "filename": f"{i}.jpg", "query": ["dark"], "message": ["m"]})
    meta.append({"file_name": "../../escape.jpg", "filename": "x", "query": [], "message": []})
    (src / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in meta))
    out = tmp_path / "out"
    m = import_hf(str(tmp_path / "src"), out)
    rows = aas_dataset.load("real_photos", source=str(out)).to_list()
    assert [r["file_name"] for r in rows] == ["0.jpg", "1.jpg"] and rows[1]["queries"] == ["dark"]
    assert len(m["failures"]) == 1 and "leaves the input folder" in m["failures"][0]["reason"]


def test_import_artworks_layout(tmp_path):
    from datasets import Dataset, Features, Sequence, Value
    from datasets import Image as HFImage

    rows = [
        {"image": {"bytes": _jpeg_bytes(20 + i), "path": None}, "caption": f"A painting {i}.", "hpsv3": [5.0 + i, -1.0],
         "hpsv2": 0.25, "image_reward": -0.5 + i, "artist": "x"}
        for i in range(3)
    ]  # fmt: skip
    features = Features(
        {"image": HFImage(), "caption": Value("string"), "hpsv3": Sequence(Value("float64")),
         "hpsv2": Value("float64"), "image_reward": Value("float64"), "artist": Value("string")}
    )  # fmt: skip
    src = tmp_path / "src"
    src.mkdir()
    Dataset.from_list(rows, features=features).to_parquet(str(src / "train.parquet"))
    out = tmp_path / "out"
    import_hf(str(src), out)
    got = aas_dataset.load("artworks", source=str(out)).to_list()
    assert [r["score_hpsv3"]["caption"] for r in got] == [5.0, 6.0, 7.0]
    assert got[0]["score_hpsv3_log_sigma"]["caption"] == -1.0 and got[0]["score_hpsv2_1"]["caption"] == 0.25
    assert json.loads(got[0]["metadata"]) == {"artist": "x"} and got[0]["caption"] == "A painting 0."
    assert verify(out).ok
