"""Item images: media type by magic bytes, size limits, and safe paths to image files."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from urllib.parse import unquote

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from item_bank.model import MAX_IMAGE_BYTES, ImageAsset

_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/svg+xml": ".svg",
    "image/webp": ".webp",
}


class ImageError(ValueError):
    """An image reference that cannot become an ImageAsset; the message says why."""


def sniff_media_type(data: bytes) -> str | None:
    """The image media type ``data`` really has, from its first bytes; None if not an image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if _is_svg(data):
        return "image/svg+xml"
    return None


def _is_svg(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith((b"<?xml", b"<svg", b"<!--", b"<!DOCTYPE svg")):
        return False
    try:
        # An SVG must be well-formed XML; entity declarations are refused outright.
        root = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        return False
    return root.tag.rsplit("}", 1)[-1] == "svg"


def make_asset(name: str, data: bytes, *, declared_type: str | None = None) -> ImageAsset:
    """Check size and magic bytes and build the asset; raises ImageError with a reason."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(
            f"image {name!r} is {len(data):,} bytes, more than the {MAX_IMAGE_BYTES:,} allowed"
        )
    if not data:
        raise ImageError(f"image {name!r} is empty")
    media_type = sniff_media_type(data)
    if media_type is None:
        raise ImageError(
            f"image {name!r} is not a PNG, JPEG, GIF, WebP or SVG image (by its content)"
        )
    if declared_type and declared_type.lower() != media_type:
        raise ImageError(
            f"image {name!r} is declared as {declared_type} but its content is {media_type}"
        )
    return ImageAsset(name=name, media_type=media_type, data=data)


def check_relative_reference(ref: str, *, allow_parent: bool = False) -> str:
    """Normalise a relative reference (URL-decoded, POSIX); refuse anything that escapes.

    Absolute paths, URLs with a scheme and (unless ``allow_parent``, for a caller that
    checks the resolved path itself) a leading ``..`` are refused: an item file must not
    pull arbitrary files of the machine that builds the bank.
    """
    raw = unquote(ref.strip())
    if not raw:
        raise ImageError("empty image reference")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", raw) or raw.startswith(("/", "\\")):
        raise ImageError(f"image {ref!r} must be a relative path inside the source folder")
    normal = posixpath.normpath(raw.replace("\\", "/"))
    if not allow_parent and (normal == ".." or normal.startswith("../")):
        raise ImageError(f"image {ref!r} points outside the source folder")
    return normal


def read_local_image(base_dir: Path, ref: str) -> bytes:
    """The bytes of the image file ``ref`` names, relative to ``base_dir`` and inside it."""
    relative = check_relative_reference(ref)
    base = base_dir.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise ImageError(f"image {ref!r} points outside the source folder")
    if not target.is_file():
        raise ImageError(f"image file {ref!r} not found (looked for {target})")
    size = target.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise ImageError(
            f"image {ref!r} is {size:,} bytes, more than the {MAX_IMAGE_BYTES:,} allowed"
        )
    return target.read_bytes()


def export_file_name(name: str, media_type: str, taken: set[str]) -> str:
    """A safe, unique file name for an image, close to its name in the item."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", posixpath.basename(name)).strip("._") or "image"
    extension = _EXTENSIONS[media_type]
    if not stem.lower().endswith(extension) and not (
        extension == ".jpg" and stem.lower().endswith(".jpeg")
    ):
        stem += extension
    candidate, counter = stem, 1
    while candidate in taken:
        counter += 1
        candidate = f"{counter}-{stem}"
    taken.add(candidate)
    return candidate
