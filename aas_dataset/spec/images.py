"""What an image must be to enter a release or a scorer: one check for every image that comes
from outside (an imported file, an image API's reply, a stored image read back).

It decodes (a truncated file, text or an unknown format is caught here, not later as a
traceback), has at most MAX_PIXELS pixels (read from the header, before any decoding, so a
decompression bomb never allocates), and has a mode that converts to RGB.
"""

from __future__ import annotations

import io

MAX_PIXELS = 4096 * 4096  # four times the largest output of any catalog generator
FORMATS = ("PNG", "JPEG", "WEBP")
MODES = ("RGB", "RGBA", "L", "LA", "P", "PA", "CMYK", "YCbCr", "1")


class ImageProblem(ValueError):
    """An image that cannot enter: the message says why, in a few words."""


def open_checked(data: bytes):
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
    if im.format not in FORMATS:
        raise ImageProblem(f"format {im.format} is not one of {', '.join(FORMATS)}")
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise ImageProblem(f"{w}x{h} is more than {MAX_PIXELS:,} pixels")
    if im.mode not in MODES:
        raise ImageProblem(f"mode {im.mode} does not convert to RGB")
    try:
        im.load()
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise ImageProblem(f"does not decode ({e})") from None
    return im


def check_image(data: bytes) -> None:
    """ImageProblem unless `data` is an image that may enter."""
    open_checked(data).close()
