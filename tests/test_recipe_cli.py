from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from aas_dataset.catalog.recipes import load_recipe, parse_recipe
from aas_dataset.cli import app
from aas_dataset.spec.recipe import RecipeError

from .helpers import ROOT, SMOKE, mini_recipe

runner = CliRunner()


def _base():
    return yaml.safe_load(SMOKE.read_text())


@pytest.mark.parametrize(
    "change, message",
    [
        ({"generatorz": ["tiny_sd"]}, "generatorz: unknown key"),
        ({"generators": ["no_such_model"]}, "generators.0: unknown generator 'no_such_model'"),
        ({"generators": [{"name": "tiny_sd", "settings": {"stepz": 3}}]}, "settings.stepz"),
        ({"generators": [{"name": "tiny_sd", "settings": {"steps": 0}}]}, "settings.steps"),
        ({"generators": []}, "a paired benchmark (captions) needs a rewriter and at least one generator"),
        ({"captions": None, "generators": []}, "without captions: the paired benchmark needs captions"),
        ({"batch_size": 0}, "batch_size"),
        ({"dimensions": {"min": 4, "max": 2}}, "min (4) is greater than max (2)"),
        ({"captions": {"inline": ["a"], "file": "x.txt"}}, "exactly one of inline, file, hub"),
        ({"captions": {"inline": ["a"], "count": 0}}, "captions.count"),
        ({"scorers": ["clip_tiny", "clip_tiny"]}, "clip_tiny listed more than once"),
        ({"judges": ["llm_gpt"]}, "unknown judge 'llm_gpt'"),
    ],
)
def test_bad_recipe_is_one_line_naming_the_key(change, message):
    data = {**_base(), **change}
    with pytest.raises(RecipeError) as e:
        parse_recipe(data, "r.yaml", SMOKE)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_cli_bad_recipe_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**_base(), "shard_rowz": 5}))
    out = tmp_path / "out"
    res = runner.invoke(app, ["build", str(bad), "--out", str(out)])
    assert res.exit_code == 2
    assert "shard_rowz: unknown key" in res.output
    assert not out.exists()


def test_cli_missing_captions_file_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**_base(), "captions": {"file": "nope.txt"}}))
    res = runner.invoke(app, ["build", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "nope.txt not found" in res.output


@pytest.mark.parametrize("recipe,units", [("aas_benchmark.yaml", "3000"), ("post_paper.yaml", "4500")])
def test_shipped_recipes_validate_with_plan(recipe, units, monkeypatch):
    for key in ("OPENROUTER_API_KEY", "DEEPINFRA_API_KEY", "OPENAI_API_KEY", "REPLICATE_API_TOKEN"):
        monkeypatch.setenv(key, "set")
    res = runner.invoke(app, ["build", str(ROOT / "builders" / recipe), "--plan", "--out", "/nonexistent/x"])
    gen = next(ln for ln in res.output.splitlines() if "generate" in ln)
    assert units in gen  # 300 captions x 10 generators (paper) / x 15 (post-paper)
    # offline, without the weights and captions: the plan says so, and the build could not start
    assert res.exit_code == 2
    assert "is not in the local Hugging Face cache (HF_HUB_OFFLINE=1)" in res.output
    assert "captions: weathon/anti_aesthetics_dataset is not cached here" in res.output
    assert "needs the environment variable" not in res.output  # every key is set


def test_plan_counts_cached_and_todo(tmp_path):
    recipe = mini_recipe(tmp_path / "r.yaml", n=3)
    res = runner.invoke(app, ["build", str(recipe), "--plan", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "o" / "MANIFEST.json").exists()
    lines = {ln.split("│")[1].strip(): ln for ln in res.output.splitlines() if ln.count("│") > 4}
    assert "6" in lines["generate"].split("│")[3]  # 3 prompts x 2 generators, none cached


def test_jsonl_captions_with_line_numbers(tmp_path):
    (tmp_path / "c.jsonl").write_text('{"text": "a cat"}\n{"txt": "oops"}\n')
    data = {**_base(), "captions": {"file": "c.jsonl", "column": "text"}}
    rr = parse_recipe(data, "r.yaml", tmp_path / "r.yaml")
    from aas_dataset.engine.build import Builder

    with pytest.raises(RecipeError, match=r"c\.jsonl:2: column 'text' is missing"):
        Builder(rr, tmp_path / "o").captions()


def test_caption_sampling_is_seeded(tmp_path):
    from aas_dataset.engine.build import Builder

    data = {**_base(), "captions": {"file": "captions/coco_style.txt", "count": 5, "seed": 7}}
    a = Builder(parse_recipe(data, "r", SMOKE), tmp_path / "a").captions()
    b = Builder(parse_recipe(data, "r", SMOKE), tmp_path / "b").captions()
    assert a == b and len(a) == 5
    data["captions"]["seed"] = 8
    assert Builder(parse_recipe(data, "r", SMOKE), tmp_path / "c").captions() != a


def test_dimension_sampling_two_to_four_distinct():
    from aas_dataset.engine.stages.prompts import sample_dimensions

    draws = [sample_dimensions(1, i, 2, 4) for i in range(200)]
    assert {len(d) for d in draws} == {2, 3, 4}
    assert all(len(set(d)) == len(d) for d in draws)
    assert draws == [sample_dimensions(1, i, 2, 4) for i in range(200)]


def test_smoke_recipe_loads():
    rr = load_recipe(SMOKE)
    assert [g.name for g in rr.generators] == ["tiny_sd", "tiny_sd_euler"]
    assert Path(rr.base_dir) == SMOKE.parent


def test_models_lists_the_catalog_with_licenses_and_cache_state():
    res = runner.invoke(app, ["models", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    paper = ["flux_dev", "dance_flux", "grpo_flux", "flux_krea", "stable_diffusion_xl", "playground"]
    paper += ["stable_diffusion_3_5_medium", "sd3_medium_grpo_geneval", "sd3_medium_grpo", "nano-banana"]
    assert set(paper) <= set(rows)
    assert rows["dance_flux"]["license"].startswith("FLUX.1 [dev]")
    assert rows["stable_diffusion_3_5_medium"]["paper_key"] == "stable_diffusion_3.5_medium"
    assert rows["flux_dev"]["cached"] is False and rows["tiny_sd"]["cached"] is None  # offline machine
    assert all("." not in name for name in rows)  # data keys carry no dots
    table = runner.invoke(app, ["models", "--role", "scorer"])
    assert table.exit_code == 0 and "pickscore" in table.output
    assert runner.invoke(app, ["models", "--role", "painter"]).exit_code == 2


@pytest.mark.parametrize(
    "kind, message",
    [
        ("tests.helpers:NotABackend", "NotABackend is not a Generator"),
        (
            "tests.helpers:IncompleteGenerator",
            "IncompleteGenerator implements none of generate / generate_pairs",
        ),
        ("tests.helpers:PromptLengthScorer", "PromptLengthScorer is not a Generator"),
    ],
)
def test_a_user_backend_of_the_wrong_role_is_a_one_line_recipe_error(tmp_path, kind, message):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        yaml.safe_dump({**_base(), "catalog": {"generators": {"mine": {"kind": kind}}}, "generators": ["mine"]})
    )
    res = runner.invoke(app, ["build", str(recipe), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "o").exists()


def test_cli_conventions_version_help_and_plain_output_when_piped():
    assert runner.invoke(app, ["--version"]).output.startswith("aas_dataset ")
    assert "Usage" in runner.invoke(app, ["build", "-h"]).output
    lines = runner.invoke(app, ["models", "--role", "all"]).output.splitlines()  # not a terminal
    assert any(line.split("\t")[:2] == ["generator", "flux_schnell"] for line in lines)
    assert any(line.split("\t")[:2] == ["detector", "owlv2_base"] for line in lines)
    assert all("\t" in line for line in lines)  # one tab-separated line per model, nothing folded


def test_info_and_verify_speak_json(smoke_release):
    info = json.loads(runner.invoke(app, ["info", str(smoke_release), "--json"]).output)
    assert info["rows_per_model"] == {"tiny_sd": 24, "tiny_sd_euler": 24}
    assert set(info["configs"]) == {"prompts", "pairs", "scores"}  # no pseudo-config for the card or records
    ver = runner.invoke(app, ["verify", str(smoke_release), "--json"])
    assert ver.exit_code == 0 and json.loads(ver.output)["ok"] is True


def test_a_misspelt_model_name_gets_a_suggestion():
    from aas_dataset.catalog import CatalogError, resolve

    with pytest.raises(CatalogError, match="did you mean 'flux_schnell'"):
        resolve("generator", "flux_schnel")


def test_the_python_api_mirrors_the_cli(smoke_release, tmp_path):
    import shutil

    import aas_dataset as aas

    folder = tmp_path / "rel"
    shutil.copytree(smoke_release, folder)
    assert aas.verify(folder).ok
    again = aas.build(SMOKE, folder)  # resumes: every unit is in the copied store
    assert again.model_calls == 0
    assert {"generators", "reward_models"} <= {t.name for t in aas.report(folder, n_boot=10).tables}
    assert aas.export_webdataset(folder)
    assert aas.diff(smoke_release, folder).level in ("none", "patch")


def test_build_and_report_speak_json_and_can_be_quiet(smoke_release, tmp_path):
    import shutil

    folder = tmp_path / "rel"
    shutil.copytree(smoke_release, folder)
    res = runner.invoke(app, ["build", str(SMOKE), "--out", str(folder), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["model_calls"] == 0 and {s["stage"] for s in summary["stages"]} >= {"prompts", "generate"}
    quiet = runner.invoke(app, ["build", str(SMOKE), "--out", str(folder), "--quiet"])
    assert quiet.exit_code == 0 and "model calls: 0" in quiet.output and "┃" not in quiet.output
    rep = runner.invoke(app, ["report", str(folder), "--json", "--n-boot", "10"])
    assert rep.exit_code == 0, rep.output
    assert {"generators", "reward_models"} <= {t["name"] for t in json.loads(rep.output)["tables"]}
    q = runner.invoke(app, ["report", str(folder), "-q", "--n-boot", "10"])
    assert q.output.strip().startswith("wrote ") and "|" not in q.output
