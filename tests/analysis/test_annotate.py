"""`aas annotate`: a scripted rater in a real headless browser, a kill in the middle, every answer
still there; escaping, the token, the agreement tables by hand."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from aas_dataset.analysis.answers import ANSWERS, CHOICES, Answers, label_of, read_pairs, shown_first
from aas_dataset.analysis.metrics.agreement import fleiss_kappa, human_agreement_tables
from aas_dataset.release.manifest import verify

from ..helpers import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(folder: Path, port: int, *extra: str, env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "aas_dataset", "annotate", str(folder), "--port", str(port), *extra]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except OSError as e:
            if getattr(e, "code", None) == 403:  # up, and asking for its token
                return proc
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"annotate did not start: {proc.stdout.read().decode()[-2000:]}")


def _db(folder: Path) -> list[tuple]:
    with sqlite3.connect(folder / ANSWERS) as db:
        return list(db.execute("SELECT rater, model, idx, label, shown_first FROM answers ORDER BY answered_at"))


def test_a_rater_in_a_headless_browser_survives_a_killed_server(release_copy):
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed in CI")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    server = _serve(release_copy, port)
    keys = ["a", "ArrowRight", "t", "l", "ArrowLeft"]  # left, right, tie, right, left
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(url)
            page.fill("#rater", "ada")
            page.click("#go")
            seen = []
            for key in keys[:3]:
                page.wait_for_selector("#left")
                assert page.evaluate("document.getElementById('left').naturalWidth") > 0  # the image decoded
                seen.append(page.inner_text("#prompt"))
                with page.expect_navigation():
                    page.keyboard.press(key)
            assert "3 / 48 answered" in page.inner_text("#progress")
            server.kill()  # SIGKILL: no shutdown, no flush
            server.wait()
            server = _serve(release_copy, port)
            page.goto(url)  # the cookie keeps the rater; the order resumes after the answered pairs
            assert "3 / 48 answered" in page.inner_text("#progress")
            for key in keys[3:]:
                with page.expect_navigation():
                    page.keyboard.press(key)
            page.get_by_text("B follows the prompt better").click()  # a click works like a key
            assert "6 / 48 answered" in page.inner_text("#progress")
            browser.close()
    finally:
        server.kill()
        server.wait()
    rows = _db(release_copy)
    assert len(rows) == 6 and {r[0] for r in rows} == {"ada"}
    # each stored label is the chosen side mapped through the side order the rater saw
    pairs = {p.pid: p for p in read_pairs(release_copy)}
    for (rater, model, idx, label, first), choice in zip(
        rows, ["left", "right", "tie", "right", "left", "right"], strict=True
    ):
        assert first == shown_first(rater, pairs[f"{model}:{idx}"], 0)
        assert label == label_of(choice, first)
    assert rows[2][3] == -1
    assert verify(release_copy).ok  # the answers are beside the release, not in it


def test_label_mapping_follows_the_side_shown():
    assert label_of("left", "original") == 0 and label_of("right", "original") == 1
    assert label_of("left", "distorted") == 1 and label_of("right", "distorted") == 0
    assert label_of("tie", "distorted") == -1 and set(CHOICES) == {"left", "right", "tie"}


def test_prompts_are_escaped_blind_mode_hides_models_and_a_token_guards_other_hosts(release_copy, monkeypatch):
    from fastapi.testclient import TestClient

    import aas_dataset.analysis.annotate as annotate
    from aas_dataset.analysis.annotate import create_app

    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    real = annotate.read_pairs
    monkeypatch.setattr(
        annotate, "read_pairs", lambda f: [p.__class__(p.model, p.index, hostile, p.labels, p.where) for p in real(f)]
    )
    client = TestClient(create_app(release_copy, blind=True))
    client.cookies.set("aas_rater", "bob")
    page = client.get("/pair").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "tiny_sd" not in page and "image_stats" not in page  # blind: no model, no labels
    seen = TestClient(create_app(release_copy, blind=False))
    seen.cookies.set("aas_rater", "bob")
    assert "tiny_sd" in seen.get("/pair").text
    guarded = TestClient(create_app(release_copy, token="s3cret"))
    assert guarded.get("/").status_code == 403 and guarded.get("/?token=wrong").status_code == 403
    assert guarded.get("/?token=s3cret").status_code == 200 and guarded.get("/").status_code == 200  # the cookie
    with pytest.raises(ValueError, match="needs a token"):
        annotate.serve(release_copy, host="0.0.0.0")


def test_human_agreement_by_hand():
    judge = {("m", i): lab for i, lab in enumerate([1, 1, 0, -1, 1])}
    answers = [("ann", "m", i, lab) for i, lab in enumerate([1, 0, 0, -1, -1])]
    answers += [("bo", "m", i, lab) for i, lab in enumerate([1, 1, 0, 0, 1])]
    t, k = human_agreement_tables(answers, judge, "j", n_boot=50)
    # ann: ties removed -> pairs 0,1,2 (3 has both tie, 4 human tie): agree on 0 and 2 -> 2/3
    assert t.cell("ann", "accuracy (ties removed)").value == pytest.approx(2 / 3)
    # ties as I_o: human 1,0,0,0,0 vs judge 1,1,0,0,1 -> 3/5
    assert t.cell("ann", "accuracy (ties as I_o)").value == pytest.approx(3 / 5)
    assert t.cell("all raters", "answers") == 10
    from sklearn.metrics import cohen_kappa_score

    assert k.cell("ann / bo", "κ").value == pytest.approx(cohen_kappa_score([1, 0, 0, -1, -1], [1, 1, 0, 0, 1]))
    # Fleiss by hand for two raters, categories (-1, 0, 1): items agree on 0 and 2 only
    counts = np.array([[0, 0, 2], [0, 1, 1], [0, 2, 0], [1, 1, 0], [1, 0, 1]])
    p_j = counts.sum(0) / 10
    p_e = (p_j**2).sum()
    p_bar = np.mean([(row**2).sum() - 2 for row in counts]) / 2
    assert k.cell("all", "κ").value == pytest.approx((p_bar - p_e) / (1 - p_e))
    assert fleiss_kappa(counts) == pytest.approx((p_bar - p_e) / (1 - p_e))


def test_report_includes_the_agreement_when_answers_exist(release_copy):
    from aas_dataset.analysis.report import build_report

    pairs = read_pairs(release_copy)
    store = Answers(release_copy / ANSWERS)
    for rater in ("ann", "bo"):
        for p in pairs[:10]:
            store.put(rater, p, p.labels["image_stats"], "original")  # both agree with the judge
    res = build_report(release_copy, n_boot=20)
    t = next(t for t in res.tables if t.name == "human_vs_judge")
    assert t.cell("all raters", "answers") == 20 and t.cell("all raters", "accuracy (ties as I_o)").value == 1.0
    assert any(t.name == "inter_rater" for t in res.tables)
