"""Mutation check: weaken the package on purpose and see the tests that guard it fail.

Each mutation replaces one exact snippet of the package in a scratch copy of the working tree
and runs only the tests named for it, with the copy first on the import path. A mutation the
tests still pass is a test that has stopped proving its claim: the script lists it and exits 1.

    .venv/bin/python scripts/mutation_check.py            # every mutation (several minutes)
    .venv/bin/python scripts/mutation_check.py verify     # those whose name contains "verify"

Not part of the test command: run it after changing a test or the code a test guards.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # file inside the repository
    old: str  # exact snippet, must occur once
    new: str
    tests: tuple[str, ...]  # pytest node ids or -k expressions ("file::name" or "file -k expr")


MUTATIONS = (
    Mutation(
        "store: stale temp cleanup does nothing",
        "aas_dataset/engine/store.py",
        "        for p in self.tmp.iterdir() if self.tmp.is_dir() else ():",
        "        for p in ():",
        ("tests/engine/test_build.py::test_sigkill_at_every_stage_then_rerun_equals_clean_build",),
    ),
    Mutation(
        "executor: resumed batches hold only the missing units",
        "aas_dataset/engine/executors.py",
        'pool = runnable if model.traits["exact_batches"] else',
        "pool = [u for u in runnable if u.key in todo] if True else",
        ("tests/engine/test_build.py::test_sigkill_at_every_stage_then_rerun_equals_clean_build",),
    ),
    Mutation(
        "verify: row counts not checked",
        "aas_dataset/release/manifest.py",
        'if rows != f["rows"]:',
        "if False:",
        ("tests/engine/test_build.py::test_verify_counts_the_rows_of_every_shard",),
    ),
    Mutation(
        "verify: schemas not checked",
        "aas_dataset/release/manifest.py",
        'validate_table(pf.read_row_group(g), f["config"], rel, row_offset=rows)',
        "pass",
        ("tests/engine/test_build.py::test_verify_checks_the_schema_of_every_shard",),
    ),
    Mutation(
        "hpsv3: head not cast to fp32",
        "aas_dataset/backends/scorers/hpsv3.py",
        "        model.rm_head.float()\n",
        "",
        ("tests/backends/test_reward_models.py::test_hpsv3_runs_its_head_in_fp32_on_a_bf16_backbone",),
    ),
    Mutation(
        "hpsv3: hidden state not cast to fp32",
        "aas_dataset/backends/scorers/hpsv3.py",
        "m.rm_head(hidden.float())",
        "m.rm_head(hidden.to(next(m.rm_head.parameters()).dtype))",
        ("tests/backends/test_reward_models.py::test_hpsv3_runs_its_head_in_fp32_on_a_bf16_backbone",),
    ),
    Mutation(
        "bootstrap: the cell key does not seed the resamples",
        "aas_dataset/analysis/metrics/core.py",
        "np.random.default_rng(derive_seed(seed, *key))",
        "np.random.default_rng(derive_seed(seed))",
        ("tests/analysis/test_metrics.py::test_each_cell_draws_its_own_resamples_whatever_else_the_table_holds",),
    ),
    Mutation(
        "pairwise judge: a failed call becomes a tie",
        "aas_dataset/backends/text/openai_chat.py",
        "            if isinstance(r, BaseException):\n                return RuntimeError(describe_error(r))\n"
        "            s, flip = r.parsed.selection, orders[i]",
        '            if isinstance(r, BaseException):\n                return Verdict(-1, "assumed")\n'
        "            s, flip = r.parsed.selection, orders[i]",
        ("tests/backends/test_llm.py::test_thirty_percent_faults_nothing_fabricated",),
    ),
    Mutation(
        "official texts: the hash gate lets any text through",
        "aas_dataset/spec/official_texts.py",
        "    if len(text) != rec.length or not digest.startswith(rec.sha256_prefix):",
        "    if False:",
        ("tests/spec/test_official_texts.py::test_a_text_that_is_not_the_recorded_one_is_refused",),
    ),
    Mutation(
        "rater: rules.csv byte-order mark kept",
        "aas_dataset/backends/scorers/rater.py",
        'io.StringIO(rules_csv.removeprefix("\\ufeff"))',
        "io.StringIO(rules_csv)",
        ("tests/backends/test_reward_models.py::test_rater_reads_template_and_guidelines_from_the_official_files",),
    ),
    Mutation(
        "blip: text cut at 35 tokens again",
        "aas_dataset/backends/scorers/blip.py",
        "max_length: int | None = Field(default=None, ge=1)",
        "max_length: int | None = Field(default=35, ge=1)",
        ("tests/backends/test_backends.py::test_blip_itm_scores_match_and_no_match_logits_batched",),
    ),
    Mutation(
        "release: no token check before the Hub",
        "aas_dataset/cli.py",
        "    if not get_token():",
        "    if False:",
        ("tests/release/test_export_release.py::test_release_without_a_token_is_a_clear_error",),
    ),
    Mutation(
        "release: a keyword HfApi does not take",
        "aas_dataset/release/hub.py",
        'api.create_repo(plan.repo_id, repo_type="dataset", exist_ok=True, private=private)',
        'api.create_repo(plan.repo_id, repotype="dataset", exist_ok=True, private=private)',
        ("tests/release/test_export_release.py::test_release_uploads_then_tags_that_commit",),
    ),
    Mutation(
        "card: failures not listed",
        "aas_dataset/release/templates/dataset_card.md.j2",
        "{% for f in info.failures[:50] -%}",
        "{% for f in [] -%}",
        ("tests/engine/test_build.py::test_failures_are_recorded_and_the_build_goes_on",),
    ),
    Mutation(
        "image APIs: failure reasons dropped",
        "aas_dataset/backends/generators/api_images.py",
        "return [RuntimeError(describe_error(r)) if isinstance(r, BaseException) else r for r in out]",
        'return [RuntimeError("failed") if isinstance(r, BaseException) else r for r in out]',
        ("tests/backends/test_llm.py::test_api_generators_record_failures_and_no_seeds",),
    ),
    Mutation(
        "hps: a real-size architecture value off",
        "aas_dataset/backends/scorers/hps.py",
        '            "num_hidden_layers": 32,',
        '            "num_hidden_layers": 31,',
        ("tests/backends/test_reward_models.py::test_hps_architecture_table_equals_open_clips_model_configs",),
    ),
    Mutation(
        "import: HPSv2.1 under HPSv2.0's name",
        "aas_dataset/release/importers.py",
        'SCORE_STRUCTS = {"hpsv2_reward": ("hpsv2_1", "hpsv2")',
        'SCORE_STRUCTS = {"hpsv2_reward": ("hpsv2", "hpsv2")',
        ("tests/release/test_import.py::test_import_benchmark_layout_and_recompute_tables",),
    ),
    Mutation(
        "layers: the spec imports the engine",
        "aas_dataset/spec/taxonomy.py",
        "from dataclasses import dataclass\n",
        "from dataclasses import dataclass\n\nfrom aas_dataset.engine import store  # noqa: F401\n",
        ("tests/test_layers.py::test_no_layer_imports_a_layer_above_it",),
    ),
    Mutation(
        "catalog: no role check",
        "aas_dataset/catalog/__init__.py",
        "    if problem := check_role(role, cls):",
        "    if problem := None:",
        ("tests/test_recipe_cli.py::test_a_user_backend_of_the_wrong_role_is_a_one_line_recipe_error",),
    ),
    Mutation(
        "judges: our wording sent by default",
        "aas_dataset/backends/text/openai_chat.py",
        '    texts: TextsMode = "official"',
        '    texts: TextsMode = "ours"',
        ("tests/backends/test_llm.py::test_the_paper_judges_send_the_authors_texts",),
    ),
    Mutation(
        "writer: values are not checked before Arrow converts them",
        "aas_dataset/release/writer.py",
        'check_row(columns, r, f"{config}: row {i}")',
        "pass",
        ("tests/release/test_import.py -k fractional",),
    ),
    Mutation(
        "redaction: only credential-looking names",
        "aas_dataset/util.py",
        "if name in _SECRET_VARS or (",
        "if (",
        ("tests/engine/test_hardening.py::test_a_key_echoed_by_the_endpoint_reaches_no_file_and_no_output",),
    ),
    Mutation(
        "redaction: an excerpt is cut before it is redacted",
        "aas_dataset/util.py",
        "    clean = redact(str(text))",
        "    clean = redact(str(text)[:limit] if limit > 0 else str(text)[limit:])",
        ("tests/engine/test_hardening.py::test_a_key_echoed_by_the_endpoint_reaches_no_file_and_no_output",),
    ),
    Mutation(
        "build: failed units exit 0",
        "aas_dataset/cli.py",
        "if report.failures and not allow_failures:",
        "if False:",
        ("tests/engine/test_hardening.py::test_failures_exit_non_zero_and_never_shrink_a_release",),
    ),
    Mutation(
        "cache keys: transport settings enter them",
        "aas_dataset/catalog/__init__.py",
        '"settings": settings.identity(),',
        '"settings": settings.model_dump(mode="json"),',
        ("tests/engine/test_hardening.py::test_transport_settings_stay_out_of_every_key",),
    ),
    Mutation(
        "verify: a MANIFEST path may leave the folder",
        "aas_dataset/release/manifest.py",
        "            if not inside_release(rel):",
        "            if False:",
        ("tests/release/test_manifest.py -k leaves_the_folder",),
    ),
    Mutation(
        "images: the pixel limit is not checked",
        "aas_dataset/spec/images.py",
        "    if w * h > MAX_PIXELS:",
        "    if False:",
        ("tests/release/test_images_and_export.py -k bomb",),
    ),
    Mutation(
        "export: runs on a release that fails verify",
        "aas_dataset/release/webdataset.py",
        "    if problems:\n",
        "    if False:\n",
        ("tests/release/test_images_and_export.py::test_export_refuses_a_release_that_fails_verify",),
    ),
    Mutation(
        "convert-mps: the legacy reader's bare loads are not restricted",
        "aas_dataset/backends/scorers/convert_mps.py",
        "    load = staticmethod(_restricted_load)",
        "    load = pickle.load",
        ("tests/backends/test_reward_models.py -k refuses_code",),
    ),
    Mutation(
        "prompts: equal captions share one unit",
        "aas_dataset/engine/stages/prompts.py",
        "rewriter.spec_hash, index=i, caption=c, dims=d)",
        "rewriter.spec_hash, caption=c, dims=d)",
        ("tests/engine/test_hardening.py::test_identical_captions_are_two_prompts",),
    ),
    Mutation(
        "retrieval: a negative prompt no longer excludes",
        "aas_dataset/engine/stages/references.py",
        "            if any(float(np.dot(image, text_vec(n))) > c.negative_threshold for n in c.negative_prompts):",
        "            if False:",
        ("tests/engine/test_references.py::test_retrieval_keeps_what_the_commit_keeps",),
    ),
    Mutation(
        "ingest: a repeated file enters twice",
        "aas_dataset/engine/stages/references.py",
        'if item["sha256"] and (dup := first_of.setdefault(item["sha256"], rel)) != rel:',
        "if False:",
        ("tests/engine/test_references.py -k hostile",),
    ),
    Mutation(
        "ingest: links are followed",
        "aas_dataset/spec/images.py",
        "        if cur.is_symlink():",
        "        if False:",
        ("tests/engine/test_references.py -k hostile",),
    ),
    Mutation(
        "ingest: EXIF orientation is ignored",
        "aas_dataset/spec/images.py",
        "    if orientation not in (1, None):",
        "    if False:",
        ("tests/engine/test_references.py -k hostile",),
    ),
    Mutation(
        "release: a config that may not be redistributed is published",
        "aas_dataset/release/hub.py",
        "    if blocked := unpublishable(m):",
        "    if False:",
        ("tests/engine/test_references.py -k redistributed",),
    ),
    Mutation(
        "release: a smaller bump than the change needs is accepted",
        "aas_dataset/release/diff.py",
        "    if LEVELS.index(given) < LEVELS.index(needed):",
        "    if False:",
        ("tests/release/test_hub.py -k versions",),
    ),
    Mutation(
        "grow: a release carries no build records",
        "aas_dataset/engine/assemble.py",
        "        join.records(),",
        "        None,",
        ("tests/engine/test_build.py -k from_a_release",),
    ),
    Mutation(
        "annotate: blind mode names pairs by their model",
        "aas_dataset/analysis/annotate.py",
        "        pid = key_of[p.pid]",
        "        pid = p.pid",
        ("tests/analysis/test_annotate.py -k blind",),
    ),
    Mutation(
        "ray: a task keeps Ray's one thread instead of the driver's count",
        "aas_dataset/engine/executors.py",
        "    if threads:",
        "    if False:",
        ("tests/engine/test_build.py -k ray_executor",),
    ),
    Mutation(
        "rowwise: AUROC ties count whole instead of one half",
        "aas_dataset/analysis/metrics/rowwise.py",
        "below = np.cumsum(neg, axis=1) - 0.5 * neg",
        "below = np.cumsum(neg, axis=1) - 1.0 * neg",
        ("tests/analysis/test_metrics.py::test_rowwise_statistics_equal_sklearn_and_scipy_on_every_resample",),
    ),
    Mutation(
        "rowwise: F1 counts errors once per true positive",
        "aas_dataset/analysis/metrics/rowwise.py",
        "den = 2 * tp + wrong",
        "den = tp + wrong",
        ("tests/analysis/test_metrics.py::test_rowwise_statistics_equal_sklearn_and_scipy_on_every_resample",),
    ),
    Mutation(
        "published: tiny or re-set models count as the paper's",
        "aas_dataset/analysis/published.py",
        "    return ours == theirs",
        "    return True",
        ("tests/analysis/test_report.py::test_published_values_apply_only_to_models_run_as_for_the_paper",),
    ),
    Mutation(
        "published: success shown against any ground truth",
        "aas_dataset/analysis/published.py",
        "            if m.startswith(\"gt=\") and name != gt:",
        "            if False:",
        ("tests/analysis/test_report.py::test_published_values_apply_only_to_models_run_as_for_the_paper",),
    ),
    Mutation(
        "j_by_dimension: J's whole vector summed instead of its own dimension",
        "aas_dataset/analysis/metrics/tables.py",
        "delta[mine & asked[dim], k]",
        "delta[mine & asked[dim]].mean(axis=1)",
        ("tests/analysis/test_metrics.py::test_shift_and_j_by_dimension_by_hand",),
    ),
    Mutation(
        "release: the version check downloads the whole previous release",
        "aas_dataset/release/hub.py",
        "    patterns = [MANIFEST, *(f\"{c}/*\" for c in changed)]",
        "    patterns = None",
        ("tests/release/test_hub.py::test_the_version_check_downloads_only_the_configs_that_changed",),
    ),
)


def _copy_tree(dst: Path) -> None:
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", ".pytest_cache", "aas_benchmark")
    shutil.copytree(ROOT, dst, ignore=ignore)


def run(m: Mutation, python: str) -> tuple[bool, str]:
    """(caught, detail): caught when the named tests fail on the mutated copy."""
    with tempfile.TemporaryDirectory(prefix="aas-mutant-") as d:
        copy = Path(d) / "repo"
        _copy_tree(copy)
        target = copy / m.path
        text = target.read_text()
        if text.count(m.old) != 1:
            return False, f"snippet found {text.count(m.old)} times in {m.path}: update the mutation"
        target.write_text(text.replace(m.old, m.new))
        env = {**os.environ, "PYTHONPATH": str(copy), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        args = [a for spec in m.tests for a in shlex.split(spec)]  # "file -k expr" is three arguments
        cmd = [python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *args]
        res = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True)
        last = (res.stdout.strip().splitlines() or [""])[-1]
        # only a test failure (exit 1) catches a mutant: 2-5 are an interrupted run, an internal
        # error, a usage error (a test file that does not exist) and no tests collected
        if res.returncode not in (0, 1) or " skipped" in last and " failed" not in last:
            return False, f"not run (pytest exit {res.returncode}): {last or res.stderr.strip()[-200:]}"
        return res.returncode != 0, last


def main() -> int:
    wanted = sys.argv[1:]
    python = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable
    survived = []
    for m in MUTATIONS:
        if wanted and not any(w in m.name for w in wanted):
            continue
        caught, detail = run(m, python)
        print(f"{'caught  ' if caught else 'SURVIVED'}  {m.name}  ({detail})", flush=True)
        if not caught:
            survived.append(m.name)
    if survived:
        print(f"{len(survived)} mutation(s) survived: the tests named for them no longer prove their claim")
        return 1
    print("every mutation was caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
