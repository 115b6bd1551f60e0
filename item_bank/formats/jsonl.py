"""The native format: JSON Lines, one item per line, images by path relative to the file.

``{"id": "TIU-0001", "section": "TIU", "topic": "deret angka", "stem": "2, 4, 8, 16, ...",
"options": {"A": "24", "B": "32"}, "key": "B"}``. An image is referenced from Markdown
(``![gambar](img/fig1.png)``) and read from that path; an optional ``"images"`` object maps
an image name to the file that holds it, when the two differ (as in exported banks).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from item_bank.atomic import atomic_path, replace_dir
from item_bank.errors import Problem
from item_bank.formats.common import apply_defaults, build_item, export_number
from item_bank.formats.images import ImageError, export_file_name, make_asset, read_local_image
from item_bank.formats.qti_catalog import catalog_json
from item_bank.model import Item, referenced_images


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number an item may hold")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number an item may hold")
    return value


def load_jsonl(
    path: Path,
    *,
    default_section: str | None = None,
    default_topic: str | None = None,
) -> tuple[list[tuple[Item, str]], list[Problem]]:
    """Items of a JSON Lines file with their locations ("line N"), and every problem."""
    source = str(path)
    items: list[tuple[Item, str]] = []
    problems: list[Problem] = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"line {number}"
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                problems.append(Problem(source, where, f"not UTF-8 text ({error.reason})"))
                continue
            if not text.strip():
                continue
            try:
                fields = json.loads(
                    text, parse_constant=_refuse_constant, parse_float=_finite_float
                )
            except (json.JSONDecodeError, ValueError, RecursionError) as error:
                problems.append(Problem(source, where, f"not valid JSON: {error}"))
                continue
            if not isinstance(fields, dict):
                problems.append(Problem(source, where, "a line must hold one JSON object"))
                continue
            item, found = _item_from_fields(
                fields, path.parent, source, where, default_section, default_topic
            )
            problems.extend(found)
            if item is not None:
                items.append((item, where))
    return items, problems


def _item_from_fields(
    fields: dict[str, Any],
    base_dir: Path,
    source: str,
    where: str,
    default_section: str | None,
    default_topic: str | None,
) -> tuple[Item | None, list[Problem]]:
    if isinstance(fields.get("id"), str):
        where = f"{where} (item {fields['id']})"
    problems: list[Problem] = []
    files = fields.pop("images", None) or {}
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        return None, [Problem(source, where, "images: must map image names to file paths")]
    names = dict.fromkeys(files)
    texts = [fields.get("stem")]
    if isinstance(fields.get("options"), dict):
        texts.extend(fields["options"].values())
    for text in texts:
        if isinstance(text, str):
            names.update(dict.fromkeys(referenced_images(text)))
    assets = []
    for name in names:
        try:
            data = read_local_image(base_dir, files.get(name, name))
            assets.append(make_asset(name, data))
        except ImageError as error:
            problems.append(Problem(source, where, str(error)))
    if problems:
        return None, problems
    fields["images"] = assets
    apply_defaults(fields, default_section, default_topic)
    return build_item(fields, source, where)


def item_to_fields(item: Item) -> dict[str, Any]:
    """The JSON object of one item, without its images (those are files)."""
    fields: dict[str, Any] = {
        "id": item.id,
        "section": item.section,
        "topic": item.topic,
        "stem": item.stem,
        "options": dict(item.options),
    }
    if item.key is not None:
        fields["key"] = item.key
    else:
        fields["weights"] = {k: export_number(v) for k, v in (item.weights or {}).items()}
    if item.difficulty is not None:
        fields["difficulty"] = item.difficulty
    if item.irt is not None:
        fields["irt"] = item.irt.model_dump(mode="json", exclude_defaults=True) | {
            "model": item.irt.model
        }
    if item.enemies:
        fields["enemies"] = list(item.enemies)
    if item.fixed:
        fields["fixed"] = list(item.fixed)
    if item.catalog:
        fields["catalog"] = catalog_json(item.catalog)
    return fields


def export_jsonl(items: Iterable[Item], path: str | os.PathLike[str]) -> Path:
    """Write items as JSON Lines; images go to ``<name>-images/<item id>/`` beside the file.

    Both the file and the image folder are replaced atomically (temp + rename), so an
    interrupted export leaves the previous export whole.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image_dir_name = f"{path.stem}-images"
    image_dir = path.parent / image_dir_name
    staging = Path(tempfile.mkdtemp(prefix=f".{image_dir_name}.", dir=path.parent))
    try:
        lines = []
        for item in items:
            fields = item_to_fields(item)
            if item.images:
                folder = staging / item.id
                folder.mkdir()
                taken: set[str] = set()
                mapping = {}
                for image in item.images:
                    file_name = export_file_name(image.name, image.media_type, taken)
                    (folder / file_name).write_bytes(image.data)
                    mapping[image.name] = f"{image_dir_name}/{item.id}/{file_name}"
                fields["images"] = mapping
            lines.append(json.dumps(fields, ensure_ascii=False, allow_nan=False))
        replace_dir(staging, image_dir, keep=any(staging.iterdir()))
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
