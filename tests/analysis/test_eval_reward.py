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
