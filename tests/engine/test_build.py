"""End-to-end behaviour of a build on the offline smoke recipe."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from datasets import load_dataset

import aas_dataset
from aas_dataset.catalog.recipes import load_recipe
from aas_dataset.engine.build import Builder
from aas_dataset.release.manifest import read_manifest, verify

from ..helpers import ROOT, SMOKE, mini_recipe


def _shas(folder: Path) -> dict[str, str]:
    return {k: v["sha256"] for k, v in read_manifest(folder)["files"].items()}


@pytest.mark.parametrize("config", ["prompts", "pairs", "scores"])
def test_every_config_loads_with_datasets(smoke_release, config):
    ds = load_dataset(str(smoke_release), config, split="test")
    m = read_manifest(smoke_release)
    n_prompts, n_gen = m["counts"]["prompts"], m["counts"]["generators"]
    assert ds.num_rows == (n_prompts if config == "prompts" else n_prompts * n_gen)
    if config == "pairs":
        row = ds[0]
        assert row["image_original"].size == (64, 64) and row["image_distorted"].mode == "RGB"
        assert set(row["score_clip_tiny"]) == {"oiop", "oidp", "diop", "didp"}
        assert row["label_image_stats"] in (-1, 0, 1)
        assert sorted(set(ds["model"])) == ["tiny_sd", "tiny_sd_euler"]
    if config == "scores":
        assert not any(c.startswith("image_") for c in ds.column_names)


def test_loader_api_returns_friendly_columns(smoke_release):
    ds = aas_dataset.load("pairs", source=smoke_release)
    for col in (
        "image_original",
        "image_distorted",
        "prompt_original",
        "prompt_distorted",
        "selected_dims",
        "model",
        "index",
    ):
        assert col in ds.column_names
    with pytest.raises(ValueError, match="unknown config"):
        aas_dataset.load("pair", source=smoke_release)


def test_pairs_hold_what_a_user_relies_on(smoke_release):
    ds = load_dataset(str(smoke_release), "scores", split="test")
    prompts = load_dataset(str(smoke_release), "prompts", split="test")
    by_index = {r["index"]: r for r in prompts}
    for row in ds:
        p = by_index[row["index"]]
        assert row["prompt_distorted"] == p["prompt_distorted"] and row["selected_dims"] == p["selected_dims"]
        assert 2 <= len(row["selected_dims"]) <= 4
        assert row["seed_original"] != row["seed_distorted"]
        # image_stats ignores the prompt: both prompts give the same value
        b = row["score_image_stats_brightness"]
        assert b["oiop"] == b["oidp"] and b["diop"] == b["didp"]
        settings = json.loads(row["generator_settings"])
        assert settings["steps"] == 4
    # ordered by generator (recipe order) then index
    keys = [(r["model"], r["index"]) for r in ds]
    assert keys == sorted(keys, key=lambda k: (["tiny_sd", "tiny_sd_euler"].index(k[0]), k[1]))


def test_card_has_configs_info_and_provenance(smoke_release):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(smoke_release / "README.md")
    data = card.data.to_dict()
    assert [c["config_name"] for c in data["configs"]] == ["prompts", "pairs", "scores"]
    infos = {i["config_name"]: i for i in data["dataset_info"]}
    assert infos["pairs"]["splits"][0]["num_examples"] == 48
    text = card.text
    for needle in (
        "tiny_sd_euler",
        "weights_seed",
        "image_stats",
        "clip_tiny",
        "guo2026universal",
        "No unit failed",
        "## Licenses",
    ):
        assert needle in text


def test_verify_passes_then_names_the_flipped_file(release_copy):
    assert verify(release_copy).ok
    shard = sorted((release_copy / "pairs").glob("*.parquet"))[1]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    res = verify(release_copy)
    assert not res.ok
    assert any(p.startswith(f"pairs/{shard.name}") and "sha256" in p for p in res.problems)
    from typer.testing import CliRunner

    from aas_dataset.cli import app

    out = CliRunner().invoke(app, ["verify", str(release_copy)])
    assert out.exit_code == 1 and shard.name in out.output


def test_verify_flags_unlisted_and_missing_files(release_copy):
    (release_copy / "pairs" / "extra.parquet").write_bytes(b"x")
    (release_copy / "scores" / "test-00000-of-00001.parquet").unlink()
    problems = verify(release_copy).problems
    assert "pairs/extra.parquet: not listed in MANIFEST" in problems
    assert "scores/test-00000-of-00001.parquet: missing" in problems


def _rewrite_shard_and_rehash(release, shard, table) -> None:
    """Replace a shard and record its new sha256 and size in MANIFEST (rows left as they were):
    only the row and schema checks can see the change."""
    import pyarrow.parquet as pq

    from aas_dataset.release.manifest import file_entry

    pq.write_table(table, shard)
    m = read_manifest(release)
    rel = shard.relative_to(release).as_posix()
    m["files"][rel].update(file_entry(release, rel))
    (release / "MANIFEST.json").write_text(json.dumps(m))


def test_verify_counts_the_rows_of_every_shard(release_copy):
    import pyarrow.parquet as pq

    shard = sorted((release_copy / "pairs").glob("*.parquet"))[0]
    table = pq.read_table(shard)
    _rewrite_shard_and_rehash(release_copy, shard, table.slice(1))  # one row fewer
    assert (
        f"pairs/{shard.name}: {table.num_rows - 1} rows, MANIFEST says {table.num_rows}"
        in verify(release_copy).problems
    )


def test_verify_checks_the_schema_of_every_shard(release_copy):
    import pyarrow as pa
    import pyarrow.parquet as pq

    scores = release_copy / "scores" / "test-00000-of-00001.parquet"
    t = pq.read_table(scores)
    i = t.schema.get_field_index("index")
    _rewrite_shard_and_rehash(release_copy, scores, t.set_column(i, "index", t["index"].cast(pa.float64())))
    assert any("column 'index' has type double, expected int64" in p for p in verify(release_copy).problems)

    first, second = sorted((release_copy / "pairs").glob("*.parquet"))
    t = pq.read_table(second)  # a family column (valid on its own) that the other shard lacks
    _rewrite_shard_and_rehash(release_copy, second, t.append_column("label_other", pa.array([1] * t.num_rows)))
    problems = verify(release_copy).problems
    assert any(p.startswith(f"pairs/{second.name}: columns") and first.name in p for p in problems), problems


def test_rerun_does_no_model_work(smoke_release):
    report = Builder(load_recipe(SMOKE), smoke_release).run()
    assert report.model_calls == 0
    assert all(s.cached == s.total and s.loads == 0 for s in report.stats)
    assert not report.assembled


def test_two_clean_builds_are_byte_identical(smoke_release, tmp_path):
    other = tmp_path / "again"
    Builder(load_recipe(SMOKE), other).run()
    assert _shas(other) == _shas(smoke_release)
    for rel in _shas(other):
        assert (other / rel).read_bytes() == (smoke_release / rel).read_bytes()


def test_changing_one_generator_recomputes_only_its_units(tmp_path):
    recipe = mini_recipe(tmp_path / "a.yaml", n=3)
    out = tmp_path / "out"
    first = Builder(load_recipe(recipe), out).run()
    assert first.model_calls > 0
    changed = mini_recipe(
        tmp_path / "b.yaml",
        n=3,
        generators=["tiny_sd", {"name": "tiny_sd_euler", "settings": {"steps": 3}}],
    )
    second = Builder(load_recipe(changed), out).run()
    stats = {s.stage: s for s in second.stats}
    assert stats["prompts"].ok == 0 and stats["prompts"].cached == 3
    assert stats["generate"].ok == 3 and stats["generate"].cached == 3
    n_scorers = len(load_recipe(changed).scorers)
    assert stats["judge"].ok == 3 and stats["score"].ok == 3 * n_scorers  # only the 3 new pairs
    assert second.assembled
    ds = load_dataset(str(out), "scores", split="test")
    steps = {r["model"]: json.loads(r["generator_settings"])["steps"] for r in ds}
    assert steps == {"tiny_sd": 4, "tiny_sd_euler": 3}


def test_pixels_do_not_depend_on_batch_size(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    Builder(load_recipe(mini_recipe(tmp_path / "a.yaml", n=4, batch_size=1)), a).run()
    Builder(load_recipe(mini_recipe(tmp_path / "b.yaml", n=4, batch_size=3)), b).run()
    da = load_dataset(str(a), "pairs", split="test")
    db = load_dataset(str(b), "pairs", split="test")
    assert da.num_rows == db.num_rows == 8
    for ra, rb in zip(da, db, strict=True):
        assert ra["image_original"].tobytes() == rb["image_original"].tobytes()
        assert ra["image_distorted"].tobytes() == rb["image_distorted"].tobytes()


def test_failures_are_recorded_and_the_build_goes_on(tmp_path):
    from ..helpers import CALLS

    captions = ["A cat on a mat.", "A FAIL caption.", "A dog in the snow."]
    recipe = mini_recipe(
        tmp_path / "r.yaml",
        captions={"inline": captions},
        catalog={
            "generators": {"flaky": {"kind": "tests.helpers:FlakyGenerator"}},
            "scorers": {"prompt_len": {"kind": "tests.helpers:PromptLengthScorer"}},
        },
        generators=["flaky"],
        scorers=["prompt_len"],
        batch_size=8,
    )
    out = tmp_path / "out"
    report = Builder(load_recipe(recipe), out).run()
    gen = {s.stage: s for s in report.stats}["generate"]
    assert (gen.ok, gen.failed) == (2, 1)
    blocked = {s.stage: s.blocked for s in report.stats}
    assert blocked == {"prompts": 0, "negatives": 0, "generate": 0, "judge": 1, "score": 1}
    m = read_manifest(out)
    reasons = [f for f in m["failures"] if f["stage"] == "generate"]
    assert reasons[0]["index"] == 1 and "refused: prompt contains FAIL" in reasons[0]["reason"]
    assert m["counts"]["pairs"] == 2 and m["counts"]["pairs_planned"] == 3
    ds = load_dataset(str(out), "scores", split="test")
    assert sorted(ds["index"]) == [0, 2]  # nothing fabricated for the failed pair
    # the scorer's known value lands in the right combination columns
    row = ds[0]
    red = (row["seed_original"] % 256, row["seed_distorted"] % 256)
    s = row["score_prompt_len"]
    assert s["oiop"] == len(row["prompt_original"]) + red[0]
    assert s["oidp"] == len(row["prompt_distorted"]) + red[0]
    assert s["diop"] == len(row["prompt_original"]) + red[1]
    assert s["didp"] == len(row["prompt_distorted"]) + red[1]
    card = (out / "README.md").read_text()
    assert f"{len(m['failures'])} unit(s) failed" in card
    row = next(ln for ln in card.splitlines() if ln.startswith("| generate | flaky | flaky | 1 |"))
    assert "refused: prompt contains FAIL" in row  # the failing unit, with its reason
    # a rerun retries only the failed unit
    before = CALLS["generate"]
    again = Builder(load_recipe(recipe), out).run()
    gen2 = {s.stage: s for s in again.stats}["generate"]
    assert (gen2.cached, gen2.failed) == (2, 1) and CALLS["generate"] == before + 1


def test_the_light_core_imports_no_torch():
    """schema, recipe, store, assemble, card, loader and verify work without torch (README)."""
    code = (
        "import sys, aas_dataset, aas_dataset.spec.schema, aas_dataset.spec.recipe, aas_dataset.engine.store, "
        "aas_dataset.engine.assemble, aas_dataset.release.card, aas_dataset.release.loader, "
        "aas_dataset.release.manifest, aas_dataset.catalog.recipes; "
        "aas_dataset.catalog.recipes.load_recipe(sys.argv[1]); "
        "heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    res = subprocess.run([sys.executable, "-c", code, str(SMOKE)], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == ""


def test_progress_sees_every_unit_of_every_stage_once(tmp_path):
    """What the progress bars show: each stage starts with its unit count, and its ok / cached /
    failed advances add up to it (README: bars with ok / failed / cached counts)."""
    from aas_dataset.engine.executors import Progress

    class Recording(Progress):
        def __init__(self):
            self.totals, self.seen = {}, {}

        def start(self, stage, total):
            self.totals[stage] = total

        def advance(self, stage, outcome, n=1):
            self.seen.setdefault(stage, {}).setdefault(outcome, 0)
            self.seen[stage][outcome] += n

    recipe = load_recipe(mini_recipe(tmp_path / "r.yaml", n=2))
    first, second = Recording(), Recording()
    Builder(recipe, tmp_path / "o").run(progress=first)
    Builder(recipe, tmp_path / "o").run(progress=second)
    for p, outcome in ((first, "ok"), (second, "cached")):
        for stage, total in p.totals.items():
            assert p.seen.get(stage, {}) == ({outcome: total} if total else {}), (stage, p.seen)
    assert first.totals["generate"] == 4  # 2 prompts x 2 generators


def test_info_lists_counts_and_failures(smoke_release):
    from typer.testing import CliRunner

    from aas_dataset.cli import app

    res = CliRunner().invoke(app, ["info", str(smoke_release)])
    assert res.exit_code == 0
    assert "pairs" in res.output and "failures: 0" in res.output


def _artifacts(store: Path, stage: str) -> int:
    return sum(1 for _ in (store / stage).glob("*/*")) if (store / stage).is_dir() else 0


@pytest.mark.slow
def test_sigkill_at_every_stage_then_rerun_equals_clean_build(smoke_release, tmp_path):
    """Kill the CLI at moments chosen by its progress (`AAS_CRASH_AT`): an artifact of each
    stage half-written, the release staged, half swapped in, MANIFEST half-written. Each kill
    must have interrupted that step; each rerun resumes; the end equals a clean build."""
    import os

    out = tmp_path / "killed"
    store = out / ".aas" / "store"
    cmd = [sys.executable, "-m", "aas_dataset", "build", str(SMOKE), "--out", str(out)]

    def killed_at(point: str) -> None:
        env = {**os.environ, "AAS_CRASH_AT": point}
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, proc.stderr[-2000:])

    half_written = lambda: [p.name for p in (store / "tmp").iterdir()]  # noqa: E731
    for stage, n in (("prompts", 5), ("generate", 3), ("judge", 10), ("score", 20)):
        killed_at(f"write:{stage}:{n}")
        assert _artifacts(store, stage) == n - 1, stage  # the run was inside this stage ...
        assert any(f"{stage}-" in name for name in half_written()), stage  # ... with an artifact in flight
        assert not (out / "MANIFEST.json").exists()
    killed_at("assemble:staged")
    assert any("assemble-" in name for name in half_written()) and not (out / "MANIFEST.json").exists()
    assert _artifacts(store, "score") == 3 * 48  # every unit done: the kill hit the assembly itself
    killed_at("assemble:swap:pairs")
    assert (out / "prompts").is_dir() and (out / "pairs").is_dir() and not (out / "scores").exists()
    assert not (out / "MANIFEST.json").exists() and not verify(out).ok  # incomplete, and it says so
    killed_at("atomic:MANIFEST.json")
    assert list(out.glob(".MANIFEST.json.*.tmp")) and not (out / "MANIFEST.json").exists()

    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _shas(out) == _shas(smoke_release)
    assert verify(out).ok
    assert not list((store / "tmp").iterdir())  # the half-written artifacts were cleaned up
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow
def test_two_workers_give_the_same_pixels(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    recipe = mini_recipe(tmp_path / "r.yaml", n=4, batch_size=2)
    Builder(load_recipe(recipe), a).run()
    Builder(load_recipe(recipe), b).run(workers=2)
    assert _shas(a) == _shas(b)


def test_cli_build_reports_cached_counts(tmp_path):
    from typer.testing import CliRunner

    from aas_dataset.cli import app

    recipe = mini_recipe(tmp_path / "r.yaml", n=2)
    out = tmp_path / "o"
    r1 = CliRunner().invoke(app, ["build", str(recipe), "--out", str(out)])
    assert r1.exit_code == 0, r1.output
    r2 = CliRunner().invoke(app, ["build", str(recipe), "--out", str(out)])
    assert r2.exit_code == 0
    assert "model calls: 0" in r2.output and "already up to date" in r2.output
    configs = yaml.safe_load((out / "README.md").read_text().split("---")[1])["configs"]
    assert [c["config_name"] for c in configs] == ["prompts", "pairs", "scores"]


def test_loader_streams_without_preparing_the_dataset(smoke_release):
    ds = aas_dataset.load("scores", source=smoke_release, streaming=True)
    rows = list(ds)
    assert len(rows) == 48 and rows[0]["model"] == "tiny_sd"
    assert "score_clip_tiny" in ds.features


@pytest.mark.slow
def test_the_ray_executor_gives_the_same_release_as_the_local_one(tmp_path):
    """A local Ray cluster on CPU (2 workers) and the in-process executor: one MANIFEST."""
    ray = pytest.importorskip("ray")
    recipe = mini_recipe(tmp_path / "r.yaml", n=4, batch_size=2)
    local, remote = tmp_path / "local", tmp_path / "ray"
    Builder(load_recipe(recipe), local).run()
    try:
        report = Builder(load_recipe(recipe), remote).run(workers=2, executor="ray")
    finally:
        ray.shutdown()
    assert not report.failures and report.model_calls > 0
    assert _shas(local) == _shas(remote)


@pytest.mark.slow
def test_a_ray_worker_that_dies_has_its_units_retried(tmp_path):
    ray = pytest.importorskip("ray")
    marker = tmp_path / "died"
    recipe = mini_recipe(
        tmp_path / "r.yaml",
        n=2,
        scorers=["dies_once"],
        catalog={
            "scorers": {"dies_once": {"kind": "tests.helpers:DiesOnceScorer", "settings": {"marker": str(marker)}}}
        },
    )
    try:
        report = Builder(load_recipe(recipe), tmp_path / "out").run(executor="ray")
    finally:
        ray.shutdown()
    assert marker.exists()  # a worker died in the score stage ...
    assert not report.failures  # ... and its units were run again, not lost
    rows = aas_dataset.load("scores", source=str(tmp_path / "out")).to_list()
    assert all(r["score_dies_once"] is not None for r in rows)


@pytest.mark.slow
def test_a_build_from_a_release_plus_one_generator_equals_a_build_from_scratch(tmp_path):
    """Release A (two generators) to a folder; on an empty store, --from A with a third
    generator: byte-identical to building all three from scratch, and only the new units run."""
    from typer.testing import CliRunner

    from aas_dataset.cli import app

    two = mini_recipe(tmp_path / "two.yaml", n=3, generators=["tiny_sd", "tiny_sd_euler"])
    three = mini_recipe(tmp_path / "three.yaml", n=3, generators=["tiny_sd", "tiny_sd_euler", "tiny_flux"])
    a = tmp_path / "a"
    Builder(load_recipe(two), a).run()
    release_a = tmp_path / "release_a"  # what leaves the machine: no store
    shutil.copytree(a, release_a, ignore=shutil.ignore_patterns(".aas"))
    scratch = tmp_path / "scratch"
    Builder(load_recipe(three), scratch).run()

    grown = tmp_path / "grown"
    plan = CliRunner().invoke(app, ["build", str(three), "--out", str(grown), "--from", str(release_a), "--plan"])
    assert plan.exit_code == 0, plan.output
    assert not (grown / ".aas").exists()  # --plan writes nothing, yet counts the release's units as cached
    report = Builder(load_recipe(three), grown).run(base=release_a)
    assert report.hydrated.written > 0 and report.hydrated.present == 0
    gen = next(s for s in report.stats if s.stage == "generate")
    assert (gen.cached, gen.ok) == (6, 3)  # two generators from the release, tiny_flux computed
    assert _shas(grown) == _shas(scratch)
    assert json.loads((grown / ".aas" / "hydrated.json").read_text())[str(release_a)]  # provenance kept locally


def test_only_runs_the_named_models_and_assembles_nothing(tmp_path):
    recipe = mini_recipe(tmp_path / "r.yaml", n=2)
    out = tmp_path / "out"
    report = Builder(load_recipe(recipe), out).run(only={"generator": {"tiny_sd"}})
    stages = {s.stage: s for s in report.stats}
    assert set(stages) == {"prompts", "negatives", "generate"} and stages["generate"].total == 2
    assert not report.assembled and not (out / "MANIFEST.json").exists()
    full = Builder(load_recipe(recipe), out).run()  # the assembling node: tiny_sd's units are there
    assert next(s for s in full.stats if s.stage == "generate").cached == 2 and full.assembled
