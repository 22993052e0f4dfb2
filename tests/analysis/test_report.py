from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest
from typer.testing import CliRunner

from aas_dataset.analysis.report import build_report
from aas_dataset.cli import app
from aas_dataset.release.manifest import verify

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_writes_every_artifact(release_copy):
    res = build_report(release_copy, n_boot=200)
    expected = {
        "report.md",
        "gallery.html",
        "plots/generator_deltas.png",
        "plots/reward_models.png",
        "plots/score_distributions.png",
        *(f"tables/{t}.{ext}" for t in ("generators", "reward_models") for ext in ("md", "csv", "json")),
    }
    assert expected <= set(res.files)
    for rel in expected:
        assert (release_copy / "report" / rel).stat().st_size > 0
    for png in (release_copy / "report" / "plots").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    gen = json.loads((release_copy / "report" / "tables" / "generators.json").read_text())
    assert [r["model"] for r in gen["rows"]] == ["tiny_sd", "tiny_sd_euler"]
    assert {"success", "success_lo", "success_hi", "Δ clip_tiny"} <= set(gen["rows"][0])
    md = (release_copy / "report" / "report.md").read_text()
    assert "ground truth: image_stats" in md and "[" in md  # intervals printed
    assert verify(release_copy).ok  # the report is not part of the release


def test_report_cli_prints_tables(release_copy):
    res = CliRunner().invoke(app, ["report", str(release_copy), "--n-boot", "50"])
    assert res.exit_code == 0, res.output
    assert "| tiny_sd |" in res.output and "Reward models" in res.output


def test_report_on_a_non_release_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "MANIFEST.json" in res.output


def test_gallery_shows_images_in_headless_chromium(release_copy):
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed in CI")
        pytest.skip("chromium not installed")
    build_report(release_copy, n_boot=0)
    page = release_copy / "report" / "gallery.html"
    profile = tempfile.mkdtemp()
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    shutil.rmtree(profile, ignore_errors=True)
    m = re.search(r"<title>gallery: (\d+)/(\d+) images loaded</title>", dom)
    assert m, dom[:500]
    assert int(m.group(1)) == int(m.group(2)) == 96  # 48 pairs, both images decoded
    assert "48 pairs shown" in dom


def test_gallery_samples_across_shards(release_copy):
    build_report(release_copy, n_boot=0, gallery_limit=5)
    page = (release_copy / "report" / "gallery.html").read_text()
    assert page.count('<div class="card"') == 5
    assert "5 of 48 pairs" in page
    assert 'data-model="tiny_sd_euler"' in page  # the picks reach the second shard


def test_report_has_one_entry_page_a_long_csv_and_the_dimension_breakdown(release_copy):
    import csv
    import io

    from aas_dataset.analysis.metrics.core import Cell

    res = build_report(release_copy, n_boot=20)
    rep = release_copy / "report"
    index = (rep / "index.html").read_text()
    for t in res.tables:
        assert f"tables/{t.name}.csv" in index
    for png in (rep / "plots").glob("*.png"):
        assert f"plots/{png.name}" in index and f"plots/{png.name}" in (rep / "report.md").read_text()
        assert png.with_suffix(".pdf").read_bytes()[:4] == b"%PDF"  # for a paper, beside the PNG
        assert b"<svg" in png.with_suffix(".svg").read_bytes()
    assert (
        "success_by_dimension" in {t.name for t in res.tables}
        and (rep / "plots" / "success_by_dimension.png").is_file()
    )
    rows = list(csv.DictReader(io.StringIO((rep / "tables" / "all_long.csv").read_text())))
    cells = sum(isinstance(v, Cell) for t in res.tables for r in t.rows for v in r.values())
    assert len(rows) == cells and {"table", "row", "metric", "scorer", "value", "lo", "hi", "n"} == set(rows[0])
    assert any(r["metric"] == "Δ" and r["scorer"] == "clip_tiny" for r in rows)
