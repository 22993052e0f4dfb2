from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import aas_dataset
from aas_dataset.cli import app

MY_SCORER = '''
import numpy as np

class DarknessScorer:
    """Prefers darker images: 1 - mean brightness."""

    def score(self, images, prompts):
        return np.array([1 - np.asarray(im.convert("L"), dtype=float).mean() / 255 for im in images])
'''


def test_eval_reward_cli_with_a_user_scorer(smoke_release, tmp_path, monkeypatch):
    (tmp_path / "my_scorer.py").write_text(MY_SCORER)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        app, ["eval-reward", "--scorer", "my_scorer:DarknessScorer", "--data", str(smoke_release), "--n-boot", "200"]
    )
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("| DarknessScorer")]
    assert len(lines) == 1 and "evaluated" in lines[0]
    assert lines[0].count("[") == 3  # accuracy, F1, AUROC with intervals
    assert "| clip_tiny | scorer" in res.output  # the release's own rows beside it


def test_evaluate_reward_model_matches_a_hand_computation(smoke_release):
    class Brightness:
        name = "bright"

        def score(self, images, prompts):
            return np.array([np.asarray(im.convert("L"), dtype=float).mean() for im in images])

    table = aas_dataset.evaluate_reward_model(Brightness(), smoke_release, n_boot=100)
    row = table.rows[0]
    assert row["model"] == "bright" and row["kind"] == "evaluated"
    # by hand from the stored pixels: predict I_a iff it is brighter
    import io

    from PIL import Image

    tables = [pq.read_table(p) for p in sorted((smoke_release / "pairs").glob("*.parquet"))]
    y, yhat = [], []
    for t in tables:
        for r in t.to_pylist():
            if r["label_image_stats"] in (0, 1):
                lum = [
                    np.asarray(Image.open(io.BytesIO(r[c]["bytes"])).convert("L"), dtype=float).mean()
                    for c in ("image_original", "image_distorted")
                ]
                y.append(r["label_image_stats"])
                yhat.append(int(lum[1] > lum[0]))
    assert row["n"] == len(y)
    assert row["accuracy"].value == pytest.approx(np.mean(np.array(y) == np.array(yhat)))


def test_eval_reward_takes_a_catalog_name_and_reproduces_the_release_row(smoke_release):
    """A regression check, not a correctness proof (that is the hand computation above): the
    catalog scorer that built the release, run again through eval-reward, gives its own row."""
    table = aas_dataset.evaluate_reward_model("clip_tiny", smoke_release, n_boot=50)
    mine, theirs = table.rows[0], next(r for r in table.rows[1:] if r["model"] == "clip_tiny")
    assert mine["accuracy"].value == pytest.approx(theirs["accuracy"].value)
    assert mine["AUROC"].value == pytest.approx(theirs["AUROC"].value, abs=1e-6)


def test_eval_reward_bad_scorer_is_exit_2(smoke_release):
    res = CliRunner().invoke(app, ["eval-reward", "--scorer", "no_such_module:X", "--data", str(smoke_release)])
    assert res.exit_code == 2 and "no_such_module" in res.output
    missing = CliRunner().invoke(app, ["eval-reward", "--scorer", "clip_tiny", "--data", "no/such_repo"])
    assert missing.exit_code == 2 and isinstance(missing.exception, SystemExit)


def test_eval_reward_saves_per_pair_scores_resumes_and_takes_a_function(smoke_release, tmp_path):
    """--out keeps each batch's scores on disk; a second run scores nothing new and gives the
    same table; a plain function works as a scorer; the table converts to pandas."""
    from aas_dataset.analysis.evaluate import evaluate_reward_model

    calls = []

    def darkness(images, prompts):
        calls.append(len(images))
        return [1 - np.asarray(im.convert("L"), dtype=float).mean() / 255 for im in images]

    seen = []
    out = tmp_path / "run"
    first = evaluate_reward_model(
        darkness, smoke_release, n_boot=20, batch_size=4, out=out, progress=lambda d, t: seen.append((d, t))
    )
    parts = sorted((out / "pairs").glob("part-*.parquet"))
    assert parts and (out / "scores.parquet").is_file() and (out / "table.csv").is_file()
    assert seen[-1][0] == seen[-1][1] > 0  # progress reached the total
    n_calls = len(calls)
    parts[-1].unlink()  # as if killed before the last batch landed
    again = evaluate_reward_model(darkness, smoke_release, n_boot=20, batch_size=4, out=out)
    assert 0 < len(calls) - n_calls <= 1  # only the lost batch was scored again
    assert again.to_pandas().equals(first.to_pandas())
    assert "accuracy" in first.to_pandas().columns
    with pytest.raises(ValueError, match="holds a run of"):
        evaluate_reward_model("image_stats", smoke_release, n_boot=20, out=out)


def test_eval_reward_cli_takes_the_release_positionally(smoke_release, tmp_path, monkeypatch):
    (tmp_path / "fn_scorer.py").write_text(
        "import numpy as np\n"
        "def brightness(images, prompts):\n"
        "    return np.array([np.asarray(im.convert('L'), dtype=float).mean() for im in images])\n"
    )
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        app, ["eval-reward", str(smoke_release), "--scorer", "fn_scorer:brightness", "--n-boot", "20", "--out", "run"]
    )
    assert res.exit_code == 0, res.output
    assert "brightness" in res.output and (tmp_path / "run" / "table.md").is_file()
    # --json: the table as JSON on stdout, for scripts
    res = CliRunner().invoke(
        app, ["eval-reward", str(smoke_release), "--scorer", "fn_scorer:brightness", "--n-boot", "20", "--json"]
    )
    assert res.exit_code == 0, res.output
    import json

    table = json.loads(res.stdout)
    assert "brightness" in [r["model"] for r in table["rows"]] and table["failures"] == []
