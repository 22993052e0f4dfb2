"""The authors' texts: found by structure in their files, hash-gated, and what our wording
keeps of them. The files of the first tests are stand-ins shaped like the authors' (tests/conftest.py); the
last ones check the recorded lengths and hashes against the real files."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from aas_dataset.spec import instructions
from aas_dataset.spec.official_texts import AUTHORS_COMMIT, OfficialTextError, fill

from ..helpers import authors_effects


def test_authors_texts_are_read_by_structure_with_our_field_names(authors_dir):
    judge = instructions.instruction("pairwise_judge", "official", str(authors_dir))
    assert judge.system == "Stand-in system line for the pairwise judge."
    assert judge.user == 'Stand-in judge text with a literal {"selection": <int>} example. Prompt:\n{prompt}'
    grader = instructions.instruction("absolute_judge", "official", str(authors_dir))  # a notebook cell
    assert grader.user == "Original:\n{p_o}\n\nDistorted:\n{p_a}\n\nGrade it."
    rewriter = instructions.instruction("rewriter", "official", str(authors_dir))  # the commented variant is no code
    assert rewriter.system == "Stand-in rewriter system line."
    assert rewriter.user == "Rewrite {caption} so that it shows {effects}. Stand-in."
    api = instructions.instruction("image_api", "official", str(authors_dir))
    assert api.system is None and api.user == "Stand-in request for: {prompt}"
    assert instructions.effects("official", str(authors_dir)) == authors_effects()


def test_a_text_that_is_not_the_recorded_one_is_refused(authors_dir):
    f = authors_dir / "rater_training" / "llm_select.py"
    f.write_text(f.read_text().replace("Stand-in judge text", "Stand-in judge text, nudged"))
    with pytest.raises(OfficialTextError, match=r"llm_select.py: pairwise judge instruction is \d+ characters .*not"):
        instructions.instruction("pairwise_judge", "official", str(authors_dir))
    e = authors_dir / "prompts.json"
    e.write_text(e.read_text().replace("stand-in effect of emotion", "stand-in effect of joy"))
    with pytest.raises(OfficialTextError, match="not the official text"):
        instructions.effects("official", str(authors_dir))


def test_a_missing_file_or_message_is_a_one_line_error(authors_dir, tmp_path):
    (authors_dir / "ds.py").write_text("def get_prompt(original_prompt, artifacts):\n    return []\n")
    with pytest.raises(OfficialTextError, match=r"ds.py: 0 system messages in get_prompt\(\)"):
        instructions.instruction("rewriter", "official", str(authors_dir))
    with pytest.raises(OfficialTextError, match="benchmark.py: not found") as e:
        instructions.instruction("image_api", "official", str(tmp_path / "elsewhere"))
    assert "\n" not in str(e.value)


def test_without_a_copy_the_files_are_fetched_from_the_pinned_commit(monkeypatch, tmp_path):
    from aas_dataset.spec import official_texts

    asked = []

    def fake_fetch(url, target, hint):
        asked.append(url)
        raise OfficialTextError(f"cannot fetch {url}; {hint}")

    monkeypatch.setattr(official_texts, "fetch_text", fake_fetch)
    with pytest.raises(OfficialTextError, match="local copy of weathon/AAS"):
        instructions.instruction("pairwise_judge", "official", None, tmp_path)
    assert asked == [f"https://raw.githubusercontent.com/weathon/AAS/{AUTHORS_COMMIT}/rater_training/llm_select.py"]


def test_fill_replaces_only_named_fields_once():
    t = 'Answer {"selection": <int>}. Prompt: {prompt}'
    assert fill(t, prompt="a {prompt} of {x}") == 'Answer {"selection": <int>}. Prompt: a {prompt} of {x}'
    with pytest.raises(KeyError, match="no field"):
        fill(t, caption="c")


@pytest.mark.parametrize("role", sorted(instructions.OURS))
def test_our_wording_has_the_fields_the_authors_text_has(role):
    """Our wording is filled like theirs: the same fields per part, and the same parts."""
    ours = instructions.OURS[role]
    official = instructions.OFFICIAL[role]
    assert set(ours) == set(official)
    for part, t in official.items():
        fields = {name for _, name in t.fields}
        assert set(re.findall(r"\{(\w+)\}", ours[part])) == fields, part


def test_our_effect_wording_lists_what_the_authors_list():
    from aas_dataset.spec.taxonomy import dimension

    emotion = dimension("emotion")
    for item in ("creepiness", "hostility", "sadness", "fear", "frustration", "loneliness", "emptiness", "guilt"):
        assert item in emotion.anti_pole and item in emotion.phrase
    assert "overexposure" in dimension("color aesthetic").anti_pole
    assert "overexposed" in dimension("color aesthetic").phrase


# --- the recorded values against the real files ------------------------------------------
# Fetched once into AAS_OFFICIAL_CACHE (a folder kept between runs; a temporary one otherwise)
# at the pinned commits. Without network access to GitHub they are skipped with the reason
# named; a cache folder filled on a networked machine runs them offline.


@pytest.fixture(scope="module")
def official_cache_dir(tmp_path_factory) -> Path:
    return Path(os.environ.get("AAS_OFFICIAL_CACHE") or tmp_path_factory.mktemp("official-cache"))


def _real(read):
    try:
        return read()
    except OfficialTextError as e:
        if "cannot fetch" in str(e):
            pytest.skip(f"the official file cannot be fetched here: {e}")
        raise


@pytest.mark.parametrize("role", sorted(instructions.OFFICIAL))
def test_recorded_authors_texts_match_the_real_files(role, official_cache_dir):
    instr = _real(lambda: instructions.instruction(role, "official", None, official_cache_dir))
    for part, t in instructions.OFFICIAL[role].items():
        for _, ours in t.fields:  # each field found and renamed
            assert "{" + ours + "}" in getattr(instr, part)


def test_recorded_taxonomy_matches_the_real_file(official_cache_dir):
    """The authors' classes_new.json: the 5 classes and 28 sub-classes of spec.taxonomy."""
    text = _real(lambda: instructions.taxonomy_text("official", None, official_cache_dir))
    assert "intentional_blur" in text and "surrealism" in text


def test_recorded_effect_texts_match_the_real_file(official_cache_dir):
    mapping = _real(lambda: instructions.effects("official", None, official_cache_dir))
    assert sorted(mapping) == sorted(authors_effects())
    assert all("creepiness" in mapping["emotion"] and w in mapping["emotion"] for w in ("guilt", "anxiety"))


def test_recorded_j_template_and_guidelines_match_the_real_files(official_cache_dir):
    from aas_dataset.backends.scorers import rater
    from aas_dataset.spec.official_texts import official_cache

    cache = official_cache(official_cache_dir) / "rater"
    src, where = _real(lambda: rater._read(None, "infer.py", cache, rater.RATER_COMMIT))
    assert len(rater.template_from_source(src, where)) == rater.TEMPLATE.length
    rules, _ = _real(lambda: rater._read(None, "rules.csv", cache, rater.RATER_COMMIT))
    guides = rater.guidelines(rules)  # the released file starts with a byte-order mark
    assert sorted(guides) == sorted(authors_effects())  # the 11 dimensions, the others excluded


def test_recorded_mps_condition_matches_the_real_file(official_cache_dir):
    from aas_dataset.backends.scorers import mps
    from aas_dataset.spec.official_texts import fetch_text, official_cache

    url = mps.MPS_SCRIPT.format(commit=mps.MPS_COMMIT)
    target = official_cache(official_cache_dir) / "mps" / mps.MPS_COMMIT / "eval_overall_mps_on_hpdv2.py"
    text = _real(lambda: fetch_text(url, target, "offline"))
    assert len(mps.condition_from_source(text, url)) == mps.CONDITION.length
