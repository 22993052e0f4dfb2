"""The release writer streams: row groups bounded by rows and bytes, shards by rows and bytes,
so neither writing nor reading a release holds more than one row group of images."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from aas_dataset.release import writer
from aas_dataset.release.writer import ConfigPart, write_release
from aas_dataset.spec.schema import config_columns


def _pairs_rows(n: int, image_bytes: int):
    for i in range(n):
        yield {
            "model": "m",
            "index": i,
            "prompt_original": f"caption {i}",
            "prompt_distorted": f"caption {i}, murky",
            "selected_dims": ["clarity"],
            "image_original": {"bytes": bytes([i % 256]) * image_bytes, "path": None},
            "image_distorted": {"bytes": bytes([(i + 1) % 256]) * image_bytes, "path": None},
        }


@pytest.fixture(autouse=True)
def _plain_card(monkeypatch):  # the card is not what these tests are about
    from aas_dataset.release import card

    monkeypatch.setattr(card, "render_card", lambda *a: "card")


def _write(tmp_path, rows, per_shard: int, row_group: int) -> list[dict]:
    meta = dict(name="t", version="0", build_key="k", recipe={}, recipe_hash="h", counts={}, failures=[])
    part = ConfigPart("pairs", config_columns("pairs"), rows, per_shard)
    m = write_release(tmp_path / "out", tmp_path / "staging", [part], row_group, {}, meta)
    return [dict(path=p, **f) for p, f in m["files"].items() if f.get("config") == "pairs"]


def test_row_groups_and_shards_are_bounded_by_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "ROW_GROUP_BYTES", 50_000)  # about 2 rows of 2 x 10 kB images
    monkeypatch.setattr(writer, "SHARD_BYTES", 200_000)
    files = _write(tmp_path, _pairs_rows(23, 10_000), per_shard=100, row_group=100)
    assert len(files) > 1 and sum(f["rows"] for f in files) == 23
    for f in files:
        meta = pq.ParquetFile(tmp_path / "out" / f["path"]).metadata
        assert all(meta.row_group(g).num_rows <= 3 for g in range(meta.num_row_groups))
    assert [f["path"] for f in files] == [f"pairs/test-{i:05d}-of-{len(files):05d}.parquet" for i in range(len(files))]
    out = tmp_path / "out"
    back = [i for f in files for i in pq.read_table(out / f["path"], columns=["index"])["index"].to_pylist()]
    assert back == list(range(23))  # every row once, in order


def test_row_counts_still_bound_small_rows_and_an_empty_config_has_one_shard(tmp_path):
    files = _write(tmp_path / "a", _pairs_rows(7, 10), per_shard=3, row_group=2)
    assert [f["rows"] for f in files] == [3, 3, 1]
    meta = pq.ParquetFile(tmp_path / "a" / "out" / files[0]["path"]).metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [2, 1]
    files = _write(tmp_path / "b", iter([]), per_shard=3, row_group=2)
    assert [f["rows"] for f in files] == [0] and files[0]["path"] == "pairs/test-00000-of-00001.parquet"
