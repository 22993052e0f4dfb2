"""What an image must be to enter a release or a scorer: one check for every image that comes
from outside (an imported file, an image API's reply, a stored image read back).

It decodes (a truncated file, text or an unknown format is caught here, not later as a
traceback), has at most MAX_PIXELS pixels (read from the header, before any decoding, so a
decompression bomb never allocates), and has a mode that converts to RGB.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

MAX_PIXELS = 4096 * 4096  # four times the largest output of any catalog generator
FORMATS = ("PNG", "JPEG", "WEBP")
MODES = ("RGB", "RGBA", "L", "LA", "P", "PA", "CMYK", "YCbCr", "1")


class ImageProblem(ValueError):
    """An image that cannot enter: the message says why, in a few words."""


def open_checked(data: bytes, extra_modes: tuple[str, ...] = ()):
    """The decoded PIL image of `data`, or ImageProblem."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(data, bytes) or not data:
        raise ImageProblem("no image bytes")
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageProblem(f"not an image ({len(data)} bytes of an unknown format)") from None
    except Image.DecompressionBombError as e:  # PIL's own limit, met while reading the header
        raise ImageProblem(f"too many pixels ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:  # a header cut short
        raise ImageProblem(f"does not decode ({e})") from None
    if im.format not in FORMATS:
        raise ImageProblem(f"format {im.format} is not one of {', '.join(FORMATS)}")
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise ImageProblem(f"{w}x{h} is more than {MAX_PIXELS:,} pixels")
    if im.mode not in MODES + extra_modes:
        raise ImageProblem(f"mode {im.mode} does not convert to RGB")
    try:
        im.load()
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise ImageProblem(f"does not decode ({e})") from None
    return im


def jpeg_thumbnail(data: bytes, size: int) -> bytes:
    """The stored image as an RGB JPEG at most `size` pixels a side (quality 85, no timestamp or
    EXIF: the same pixels give the same bytes); ImageProblem if it does not decode."""
    im = open_checked(data).convert("RGB")
    im.thumbnail((size, size))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def check_image(data: bytes) -> None:
    """ImageProblem unless `data` is an image that may enter."""
    open_checked(data).close()


# --- ingest: every image file that comes from outside (real photographs, artworks) -----------
# One function decides what enters and how: the file stays inside its folder and is not a
# link, it passes `open_checked`, EXIF orientation is applied, and any mode that is not plain
# RGB is converted, each change recorded. An upright RGB JPEG keeps its own bytes (re-encoding
# would lose quality or triple the size); anything converted is stored as lossless PNG.

MODES_16BIT = ("I;16", "I;16B", "I;16L", "I")


@dataclass
class Ingested:
    data: bytes  # what is stored: the file's own bytes, or PNG of the converted image
    ext: str  # "jpg" | "png" | "webp"
    sha256: str  # of the source file
    width: int
    height: int
    conversions: list[str] = field(default_factory=list)  # what was changed, in order


def inside(root: Path, rel: str) -> Path:
    """`root/rel`, or ImageProblem if it leaves `root` (.., absolute) or passes through a link."""
    if not rel or Path(rel).is_absolute() or "\\" in rel or any(p == ".." for p in Path(rel).parts):
        raise ImageProblem(f"path {rel!r} leaves the input folder")
    path = root / rel
    cur = root
    for part in Path(rel).parts:
        cur = cur / part
        if cur.is_symlink():
            raise ImageProblem(f"{rel!r} is a symbolic link (links are not followed)")
    if not path.is_file():
        raise ImageProblem(f"{rel!r} is not a file")
    return path


def _flatten(im, conversions: list[str]):
    from PIL import Image

    if im.mode in MODES_16BIT:  # PIL's convert clips 16-bit values at 255; scale instead
        import numpy as np

        arr = np.asarray(im, dtype=np.int64)
        top = 65535 if im.mode != "I" or arr.max() > 255 else 255
        im = Image.fromarray((arr * 255 // max(top, 1)).astype("uint8"), "L")
        conversions.append("16-bit grayscale scaled to 8-bit")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        conversions.append("palette with transparency -> RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba).convert("RGB")
        conversions.append("alpha flattened onto white")
    if im.mode != "RGB":
        conversions.append(f"{im.mode} -> RGB")
        im = im.convert("RGB")
    return im


def ingest_bytes(data: bytes) -> Ingested:
    """Check and normalise one outside image (see above); ImageProblem if it may not enter."""
    from PIL import Image, ImageOps

    sha = hashlib.sha256(data).hexdigest()
    # 16-bit modes are not in MODES (they do not convert to RGB by PIL alone): accept them here
    im = open_checked(data, extra_modes=MODES_16BIT)
    fmt = im.format
    conversions: list[str] = []
    orientation = im.getexif().get(0x0112, 1)  # EXIF Orientation
    if orientation not in (1, None):
        im = ImageOps.exif_transpose(im)
        conversions.append(f"EXIF orientation {orientation} applied")
    try:
        im = _flatten(im, conversions)
    except (OSError, ValueError) as e:
        raise ImageProblem(f"does not convert to RGB ({e})") from None
    if not conversions and fmt in ("JPEG", "PNG", "WEBP"):
        ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
        out = data
    else:
        buf = io.BytesIO()
        im.save(buf, format="PNG", compress_level=1)  # lossless; speed over size (ingest is the hot path)
        ext, out = "png", buf.getvalue()
    if not isinstance(im, Image.Image):  # pragma: no cover - exif_transpose always returns an image
        raise ImageProblem("could not normalise the image")
    return Ingested(out, ext, sha, im.width, im.height, conversions)
