"""Images from outside are checked on entry; a stored image that does not decode is a named
row failure in export, report and eval-reward; export runs only on a release that verifies and
whose sample keys are unique."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from aas_dataset.cli import app
from aas_dataset.release.importers import ImportFormatError, import_hf
from aas_dataset.release.manifest import MANIFEST, file_entry, verify
from aas_dataset.spec.images import ImageProblem, check_image

from ..helpers import PUBLISHED

runner = CliRunner()


def _png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format="PNG")
    return buf.getvalue()


BAD_IMAGES = {
    "text": (b"this is not an image at all", "not an image"),
    "truncated PNG": (_png((64, 64))[:-40], "does not decode"),
    "decompression bomb": (_png((5000, 5000), "L"), "5000x5000 is more than"),  # a few KB, 25M pixels
    "float mode": (None, "mode F does not convert to RGB"),
}


def _float_tiff_as_png() -> bytes:
    buf = io.BytesIO()
    Image.new("F", (8, 8)).save(buf, format="TIFF")
    return buf.getvalue()


@pytest.mark.parametrize("case", BAD_IMAGES)
def test_the_ingest_check_names_what_is_wrong(case):
    data, words = BAD_IMAGES[case]
    if data is None:  # a TIFF: the format is refused before the mode
        data, words = _float_tiff_as_png(), "format TIFF is not one of"
    with pytest.raises(ImageProblem, match=words):
        check_image(data)
    check_image(_png((64, 64)))  # a good one passes


@pytest.mark.parametrize("case", ["text", "truncated PNG", "decompression bomb"])
def test_import_checks_every_image_on_entry(published, tmp_path, authors_dir, case):
    src, rows = published
    second = next((src / "data").glob("train-00001-*.parquet"))
    bad = [dict(r) for r in rows[12:]]
    bad[3]["image_distorted"] = {"bytes": BAD_IMAGES[case][0], "path": None}
    pq.write_table(pa.Table.from_pylist(bad, schema=PUBLISHED), second)
    out = tmp_path / "out"
    with pytest.raises(ImportFormatError, match=rf"{second.name}: row 3, image_distorted: {BAD_IMAGES[case][1]}"):
        import_hf(str(src), out, official_dir=str(authors_dir))
    assert not (out / MANIFEST).exists()


def _store_garbage_image(release, row: int = 1) -> None:
    """A release whose stored I_a of `row` is not an image but whose MANIFEST matches (as if it
    had been written by an older tool): verify passes, the image is still unusable."""
    m = json.loads((release / MANIFEST).read_text())
    rel = next(p for p, f in m["files"].items() if f.get("config") == "pairs")
    t = pq.read_table(release / rel)
    images = t.column("image_distorted").to_pylist()
    images[row] = {"bytes": b"GIF89a-broken", "path": None}
    t = t.set_column(
        t.schema.get_field_index("image_distorted"),
        "image_distorted",
        pa.array(images, t.schema.field("image_distorted").type),
    )
    pq.write_table(t, release / rel)
    m["files"][rel] = file_entry(release, rel, config="pairs", rows=t.num_rows)
    (release / MANIFEST).write_text(json.dumps(m))
    assert verify(release).ok


def test_export_names_a_stored_image_that_does_not_decode_and_writes_nothing(release_copy):
    _store_garbage_image(release_copy)
    res = runner.invoke(app, ["export-webdataset", str(release_copy)])
    assert res.exit_code == 2 and "row 1, column 'image_distorted': not an image" in " ".join(res.output.split())
    assert not (release_copy / "webdataset").exists() and verify(release_copy).ok


def test_report_and_eval_reward_name_the_row_and_go_on(release_copy, tmp_path):
    _store_garbage_image(release_copy)
    res = runner.invoke(app, ["report", str(release_copy), "--out", str(tmp_path / "rep"), "--n-boot", "20"])
    assert res.exit_code == 1 and "image_distorted: not an image" in res.output, res.output
    assert (tmp_path / "rep" / "gallery.html").is_file()  # the rest of the report is written
    res = runner.invoke(app, ["eval-reward", "--scorer", "image_stats", "--data", str(release_copy), "--n-boot", "20"])
    text = " ".join(res.output.split())
    assert res.exit_code == 1 and "not scored" in text and "not an image" in text, res.output
    assert "pair(s) not scored" in text and "Traceback" not in res.output


def test_export_refuses_a_release_that_fails_verify(release_copy):
    shard = next((release_copy / "pairs").glob("*.parquet"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    res = runner.invoke(app, ["export-webdataset", str(release_copy)])
    assert res.exit_code == 2 and "verify failed, nothing exported" in res.output
    assert not (release_copy / "webdataset").exists()


def test_export_refuses_two_models_with_one_key(published, tmp_path, authors_dir):
    src, rows = published
    for f in (src / "data").glob("*.parquet"):
        t = pq.read_table(f)
        names = [
            "sd3.5" if m == "flux_dev" else "sd3_5" if m == "dance_flux" else m for m in t.column("model").to_pylist()
        ]
        pq.write_table(t.set_column(t.schema.get_field_index("model"), "model", pa.array(names)), f)
    out = tmp_path / "out"
    import_hf(str(src), out, official_dir=str(authors_dir))
    res = runner.invoke(app, ["export-webdataset", str(out)])
    line = " ".join(res.output.split())
    assert res.exit_code == 2 and "'sd3.5' and 'sd3_5' both map to the WebDataset key 'sd3_5-00000'" in line, line
    assert not (out / "webdataset").exists()


def test_a_rerun_export_replaces_the_earlier_one(release_copy):
    assert runner.invoke(app, ["export-webdataset", str(release_copy)]).exit_code == 0
    first = {p.name: p.read_bytes() for p in (release_copy / "webdataset" / "pairs").iterdir()}
    (release_copy / "webdataset" / "pairs" / "stray.tar").write_bytes(b"x")  # an earlier export's leftovers
    res = runner.invoke(app, ["export-webdataset", str(release_copy)])
    assert res.exit_code == 0, res.output
    assert {p.name: p.read_bytes() for p in (release_copy / "webdataset" / "pairs").iterdir()} == first
    assert verify(release_copy).ok
