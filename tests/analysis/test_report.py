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
        "plots/delta_distributions.png",  # the spread behind each mean, per model
        "plots/delta_vs_success.png",
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


def test_gallery_shows_images_in_headless_chromium(release_copy):  # the plain dump-dom path, without Playwright
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


def test_gallery_pages_hold_every_pair_in_prompt_order(release_copy):
    res = build_report(release_copy, n_boot=0, gallery_limit=5)
    rep = release_copy / "report"
    pages = sorted(f for f in res.files if f.startswith("gallery"))
    assert len(pages) == 10  # 48 pairs, 5 per page: nothing sampled away
    first = (rep / "gallery.html").read_text()
    assert first.count("<div class=card ") == 5 and "pairs 1–5 of 48" in first
    assert 'data-model="tiny_sd_euler"' in first  # prompt order: both models of a prompt together
    assert 'href="gallery-2.html"' in first and 'href="gallery.html"' in (rep / "gallery-2.html").read_text()
    assert sum((rep / p).read_text().count("<div class=card ") for p in pages) == 48


def test_gallery_in_a_real_browser_at_phone_and_desktop_width(release_copy, tmp_path):
    """Filters, the disagreement view, sorting and zoom, exercised in headless Chromium; the
    page lays out at 390 px and 1280 px without horizontal scrolling."""
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed in CI")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    build_report(release_copy, n_boot=0)
    page_url = (release_copy / "report" / "gallery.html").as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for width in (390, 1280):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(page_url)
            page.wait_for_function("document.title.startsWith('gallery: ')")
            assert page.title() == "gallery: 96/96 images loaded"
            assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll
            page.screenshot(path=str(tmp_path / f"gallery-{width}.png"), full_page=False)
            assert page.inner_text("#count") == "48 pairs shown"
            page.select_option("#fm", "tiny_sd")
            assert page.inner_text("#count") == "24 pairs shown"
            page.select_option("#fm", "")
            page.select_option("#fl", "1")  # the ground truth chose I_a
            chose = page.evaluate("[...document.querySelectorAll('.card:not(.hidden)')].map(c => c.dataset.label)")
            assert chose and set(chose) == {"1"}
            page.select_option("#fl", "")
            page.select_option("#fx", "clip_tiny")  # where CLIP and the judge disagree
            shown = page.evaluate(
                "[...document.querySelectorAll('.card:not(.hidden)')]"
                ".map(c => [c.dataset.label, JSON.parse(c.dataset.margins).clip_tiny])"
            )
            assert all((m > 0) != (lab == "1") for lab, m in shown)
            page.select_option("#fx", "")
            page.select_option("#fs", "clip_tiny")  # sorted within each prompt by CLIP's margin
            order = page.evaluate(
                "[...document.querySelector('section.prompt .grid').children]"
                ".map(c => JSON.parse(c.dataset.margins).clip_tiny)"
            )
            assert order == sorted(order, reverse=True)
            page.click(".card img")
            assert page.is_visible("#zoom")
            page.close()
        browser.close()
    assert (tmp_path / "gallery-390.png").stat().st_size > 0


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
    assert len(rows) == cells and {"table", "row", "metric", "scorer", "value", "lo", "hi", "n", "published"} == set(
        rows[0]
    )
    assert any(r["metric"] == "Δ" and r["scorer"] == "clip_tiny" for r in rows)


def _manifest(specs: dict) -> dict:
    """A manifest whose recipe holds the catalog's resolved specs, settings overridden per model."""
    from aas_dataset import catalog

    recipe: dict = {"generators": [], "judges": [], "scorers": [], "ground_truth": "qwen3_vl_235b_deepinfra"}
    for (role, name), overrides in specs.items():
        recipe[role + "s"].append(catalog.resolve(role, name, overrides).spec)
    return {"recipe": recipe}


def test_published_values_apply_only_to_models_run_as_for_the_paper():
    from aas_dataset.analysis.metrics.core import Cell, Table
    from aas_dataset.analysis.published import attach_published, paper_models

    present = {"dance_flux", "hpsv3", "qwen3_vl_235b_deepinfra"}
    as_paper = _manifest(
        {("generator", "dance_flux"): {}, ("scorer", "hpsv3"): {"checkpoint": "/data/HPSv3.safetensors"}}
    )
    assert paper_models(as_paper, present) == {"dance_flux", "hpsv3"}  # a file location is not a difference
    assert paper_models(_manifest({("scorer", "hpsv3"): {"tiny": True}}), present) == set()
    assert paper_models(_manifest({("generator", "dance_flux"): {"steps": 8}}), present) == set()
    assert paper_models(_manifest({("judge", "qwen3_vl_235b_deepinfra"): {"texts": "ours"}}), present) == set()
    assert paper_models(_manifest({("generator", "flux_schnell"): {}}), {"flux_schnell"}) == set()  # not a paper run

    from aas_dataset import catalog

    editor, detector = catalog.resolve("generator", "flux_krea", {}), catalog.resolve("detector", "owlv2_base", {})
    sections = {"image_to_image": {"editors": [editor.spec]}, "emotion_generation": {"detector": detector.spec}}
    study = {"recipe": sections}
    assert paper_models(study, set()) == {"flux_krea", "owlv2_base"}  # a side study's models count too

    def table():
        t = Table("generators", "g", ["model"])
        t.rows.append({"model": "dance_flux", "n": 3, "Δ hpsv3": Cell(-1.0), "success": Cell(0.5)})
        return t

    t = table()
    assert attach_published([t], as_paper, present) == 1  # Δ hpsv3; success needs the ground-truth judge
    assert t.published == {("dance_flux", "Δ hpsv3"): -1.105}
    assert "-1.000 (paper -1.105)" in t.to_markdown() and t.records()[0]["Δ hpsv3_paper"] == -1.105
    with_judge = _manifest(
        {("generator", "dance_flux"): {}, ("scorer", "hpsv3"): {}, ("judge", "qwen3_vl_235b_deepinfra"): {}}
    )
    t = table()
    assert attach_published([t], with_judge, present) == 2 and t.published[("dance_flux", "success")] == 0.363
    t = table()
    with_judge["recipe"]["ground_truth"] = "gpt5_chat_openrouter"  # success against another judge
    assert attach_published([t], with_judge, present) == 1


def test_verbose_logs_each_report_step_with_secrets_redacted(release_copy, monkeypatch):
    import logging

    from aas_dataset.util import register_secret

    res = CliRunner().invoke(app, ["-v", "report", str(release_copy), "--n-boot", "20", "-q"])
    assert res.exit_code == 0, res.output
    assert "report: bootstrapping the generator table (" in res.stderr and "report: drawing the plots" in res.stderr
    assert "report: bootstrapping" not in CliRunner().invoke(app, ["report", str(release_copy), "-q"]).stderr
    monkeypatch.setenv("MY_ENDPOINT_KEY_ENV", "sk-very-secret-value")
    register_secret("MY_ENDPOINT_KEY_ENV")
    assert CliRunner().invoke(app, ["-v", "verify", str(release_copy)]).exit_code == 0
    handler = logging.getLogger("aas_dataset").handlers[0]
    record = logging.LogRecord("aas_dataset.test", logging.INFO, "", 0, "key %s", ("sk-very-secret-value",), None)
    assert handler.filter(record) and "sk-very-secret-value" not in record.getMessage()
    assert "<$MY_ENDPOINT_KEY_ENV>" in record.getMessage()
