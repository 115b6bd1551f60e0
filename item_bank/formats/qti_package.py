"""QTI content packages (zip + imsmanifest.xml) and single QTI item files.

cat-engine's own fields that QTI has no place for (section, topic, difficulty, IRT
parameters, enemies, image names, the Markdown an item was written in) travel in each
item resource's ``<metadata>`` as a ``<cat:item>`` element in the ``urn:x-cat-engine:item:1``
namespace, which other QTI tools ignore. See docs/formats.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from item_bank.atomic import atomic_path
from item_bank.errors import Problem
from item_bank.formats.common import apply_defaults, build_item
from item_bank.formats.images import (
    ImageError,
    check_relative_reference,
    export_file_name,
    make_asset,
    read_local_image,
)
from item_bank.formats.markup import local_name
from item_bank.formats.qti import (
    ParsedItem,
    QtiError,
    QtiVersion,
    item_to_xml,
    markdown_check,
    parse_item,
    parse_xml,
)
from item_bank.formats.qti_catalog import catalog_json
from item_bank.model import MAX_IMAGE_BYTES, Item

CAT_NS = "urn:x-cat-engine:item:1"
ET.register_namespace("cat", CAT_NS)
MANIFEST_NS = {
    "2.1": "http://www.imsglobal.org/xsd/imscp_v1p1",
    "3.0": "http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1",
}
RESOURCE_TYPES = {"2.1": "imsqti_item_xmlv2p1", "3.0": "imsqti_item_xmlv3p0"}

#: Limits that keep a hostile zip (a bomb, a flood of entries) from exhausting the machine.
MAX_MEMBERS = 300_000
MAX_XML_BYTES = 8 * 1024 * 1024
#: The manifest of a large bank carries every item's metadata (about 1 KiB per item).
MAX_MANIFEST_BYTES = 512 * 1024 * 1024
MAX_RATIO = 200
MAX_TOTAL_BYTES = 4 * 1024**3


class PackageError(ValueError):
    """The zip as a whole is refused; the message says why."""


class SafeZip:
    """Read members of an untrusted zip with bounded sizes; refuse traversal and bombs."""

    def __init__(self, path: Path):
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise PackageError(f"not a readable zip file ({error})") from None
        infos = self.zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise PackageError(f"{len(infos):,} entries, more than the {MAX_MEMBERS:,} allowed")
        self.members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            normal = posixpath.normpath(name.replace("\\", "/"))
            if (
                name.startswith(("/", "\\"))
                or re.match(r"^[A-Za-z]:", name)
                or normal == ".."
                or normal.startswith("../")
                or "\x00" in name
            ):
                raise PackageError(f"refused: entry {name!r} points outside the package")
            if info.flag_bits & 0x1:
                raise PackageError(f"refused: entry {name!r} is encrypted")
            if normal in self.members:
                raise PackageError(f"refused: the entry {name!r} appears twice")
            if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(
                info.compress_size, 1
            ):
                ratio = info.file_size // max(info.compress_size, 1)
                raise PackageError(f"refused: entry {name!r} expands {ratio} times (a zip bomb?)")
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise PackageError("refused: the package expands to more than 4 GiB")
            if not info.is_dir():
                self.members[normal] = info

    def read(self, name: str, limit: int) -> bytes:
        """A member's bytes; refuses more than ``limit`` whatever the header claims."""
        info = self.members.get(name)
        if info is None:
            raise KeyError(name)
        try:
            with self.zip.open(info) as handle:
                data = handle.read(limit + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as error:
            raise PackageError(f"entry {name!r} cannot be read ({error})") from None
        if len(data) > limit:
            raise PackageError(f"entry {name!r} is larger than {limit:,} bytes")
        return data

    def close(self) -> None:
        self.zip.close()


class PackageFolder:
    """An unzipped content package: the same reads as SafeZip, confined to the folder."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.members = {
            p.relative_to(self.root).as_posix(): p
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and p.resolve().is_relative_to(self.root)  # no symlink escapes
        }

    def read(self, name: str, limit: int) -> bytes:
        path = self.members.get(name)
        if path is None:
            raise KeyError(name)
        if path.stat().st_size > limit:
            raise PackageError(f"file {name!r} is larger than {limit:,} bytes")
        return path.read_bytes()

    def close(self) -> None:
        pass


def load_package(
    path: Path,
    *,
    default_section: str | None = None,
    default_topic: str | None = None,
) -> tuple[list[tuple[Item, str]], list[Problem]]:
    """Items of a QTI 2.1/3.0 content package (a zip, or its unzipped folder), per item."""
    source = str(path)
    try:
        package: SafeZip | PackageFolder = PackageFolder(path) if path.is_dir() else SafeZip(path)
    except PackageError as error:
        return [], [Problem(source, "", str(error))]
    try:
        return _load_package(package, source, default_section, default_topic)
    except PackageError as error:
        return [], [Problem(source, "", str(error))]
    finally:
        package.close()


def _load_package(
    package: SafeZip | PackageFolder,
    source: str,
    default_section: str | None,
    default_topic: str | None,
) -> tuple[list[tuple[Item, str]], list[Problem]]:
    if "imsmanifest.xml" not in package.members:
        return [], [Problem(source, "imsmanifest.xml", "missing: not an IMS content package")]
    try:
        manifest = parse_xml(package.read("imsmanifest.xml", MAX_MANIFEST_BYTES))
    except QtiError as error:
        where = f"imsmanifest.xml, {error.location}" if error.location else "imsmanifest.xml"
        return [], [Problem(source, where, str(error))]
    items: list[tuple[Item, str]] = []
    problems: list[Problem] = []
    resources = [r for r in manifest.iter() if local_name(r.tag) == "resource"]
    item_resources = [r for r in resources if r.get("type", "").startswith("imsqti_item_xmlv")]
    if not item_resources:
        problems.append(Problem(source, "imsmanifest.xml", "the package lists no QTI items"))
    for resource in item_resources:
        href = resource.get("href", "")
        where = href or f"resource {resource.get('identifier', '?')}"
        try:
            member = _member_path("", href)
            data = package.read(member, MAX_XML_BYTES)
        except (ImageError, KeyError):
            problems.append(Problem(source, where, f"the item file {href!r} is not in the package"))
            continue
        meta = _read_metadata(resource)

        def fetch(reference: str, member: str = member) -> bytes:
            name = _member_path(posixpath.dirname(member), reference)
            if name not in package.members:
                raise ImageError(f"image {reference!r} is not in the package")
            return package.read(name, MAX_IMAGE_BYTES)

        item, found = _build(
            data,
            source,
            where,
            fetch,
            meta,
            default_section,
            default_topic,
            image_names=_image_names(meta),
            item_dir=posixpath.dirname(member),
        )
        problems.extend(found)
        if item is not None:
            items.append((item, f"{where} (item {item.id})"))
    return items, problems


def read_test_file(path: Path) -> tuple[str, bytes]:
    """(where, bytes) of a QTI assessment test: an .xml file, or the test resource
    (``imsqti_test_xmlv*``) of a content package (zip or unzipped folder)."""
    if path.is_file() and path.suffix.lower() != ".zip":
        if path.stat().st_size > MAX_XML_BYTES:
            raise PackageError(f"larger than {MAX_XML_BYTES:,} bytes")
        return str(path), path.read_bytes()
    package: SafeZip | PackageFolder = PackageFolder(path) if path.is_dir() else SafeZip(path)
    try:
        if "imsmanifest.xml" not in package.members:
            raise PackageError("no imsmanifest.xml: not an IMS content package")
        try:
            manifest = parse_xml(package.read("imsmanifest.xml", MAX_MANIFEST_BYTES))
        except QtiError as error:
            raise PackageError(f"imsmanifest.xml: {error}") from None
        tests = [
            r.get("href", "")
            for r in manifest.iter()
            if local_name(r.tag) == "resource"
            and r.get("type", "").startswith("imsqti_test_xmlv")
        ]
        if len(tests) != 1:
            raise PackageError(f"the package lists {len(tests)} assessment tests; one is needed")
        try:
            return f"{path} ({tests[0]})", package.read(_member_path("", tests[0]), MAX_XML_BYTES)
        except (ImageError, KeyError):
            raise PackageError(f"the test file {tests[0]!r} is not in the package") from None
    finally:
        package.close()


def load_item_file(
    path: Path,
    *,
    default_section: str | None = None,
    default_topic: str | None = None,
) -> tuple[list[tuple[Item, str]], list[Problem]]:
    """One QTI 2.1/3.0 item file; images are read relative to it."""
    item, problems = _build(
        path.read_bytes(),
        str(path),
        "",
        lambda reference: read_local_image(path.parent, reference),
        {},
        default_section,
        default_topic,
    )
    return ([(item, f"item {item.id}")] if item else []), problems


def _image_names(meta: dict[str, Any]) -> dict[str, str]:
    """Package path -> image name, from the metadata; a bad href is reported on fetch."""
    names = {}
    for name, href in meta.get("images", {}).items():
        try:
            names[_member_path("", href)] = name
        except ImageError:
            continue
    return names


def _member_path(base: str, reference: str) -> str:
    normal = posixpath.normpath(
        posixpath.join(base, check_relative_reference(reference, allow_parent=True))
    )
    if normal == ".." or normal.startswith("../"):
        raise ImageError(f"{reference!r} points outside the package")
    return normal


def _build(
    data: bytes,
    source: str,
    where: str,
    fetch: Callable[[str], bytes],
    meta: dict[str, Any],
    default_section: str | None,
    default_topic: str | None,
    *,
    image_names: dict[str, str] | None = None,
    item_dir: str = "",
) -> tuple[Item | None, list[Problem]]:
    image_names = image_names or {}

    def image_name(reference: str) -> str:
        member = posixpath.normpath(posixpath.join(item_dir, reference))
        return image_names.get(member, reference)

    try:
        parsed = parse_item(data, image_name=image_name)
    except QtiError as error:
        place = ", ".join(part for part in (where, error.location) if part)
        return None, [Problem(source, place, str(error))]
    except RecursionError:
        return None, [Problem(source, where, "the XHTML is nested too deeply to read")]
    item_id = meta.get("id") or parsed.identifier
    if item_id:
        where = f"{where} (item {item_id})" if where else f"item {item_id}"
    problems = [Problem(source, where, reason) for reason in parsed.reasons]
    warnings = [Problem(source, where, reason, warning=True) for reason in parsed.warnings]
    fields = _fields(parsed, meta)
    assets = []
    # The metadata lists every image in the item's own order; then any the body adds.
    wanted = dict(meta.get("images", {}))
    for name, reference in parsed.images.items():
        wanted.setdefault(name, reference)
    for name, reference in wanted.items():
        try:
            if name in meta.get("images", {}):
                # The metadata href is relative to the package root, not to the item file.
                blob = fetch(posixpath.relpath(reference, item_dir or "."))
            else:
                blob = fetch(reference)
            assets.append(make_asset(name, blob))
        except ImageError as error:
            problems.append(Problem(source, where, str(error)))
        except PackageError as error:
            problems.append(Problem(source, where, str(error)))
    if problems:
        return None, problems + warnings
    fields["images"] = assets
    apply_defaults(fields, default_section, default_topic)
    if not fields.get("section"):
        return None, [
            Problem(
                source,
                where,
                "no section: the item has no cat-engine metadata; give one with --section",
            ),
            *warnings,
        ]
    item, found = build_item(fields, source, where)
    return item, found + warnings


def _fields(parsed: ParsedItem, meta: dict[str, Any]) -> dict[str, Any]:
    fields = dict(parsed.fields)
    fields["id"] = meta.get("id") or parsed.identifier
    for name in ("section", "topic", "difficulty", "irt", "enemies", "catalog"):
        if name in meta:
            fields[name] = meta[name]
    # Carried Markdown replaces the converted text only where the XHTML is unchanged.
    carried = meta.get("texts", {})
    for part, (text, check) in carried.items():
        if part in parsed.texts and markdown_check(parsed.texts[part]) == check:
            if part == "stem":
                fields["stem"] = text
            elif part.startswith("option:"):
                fields["options"][part.removeprefix("option:")] = text
    return fields


def _read_metadata(resource: ET.Element) -> dict[str, Any]:
    element = resource.find(f".//{{{CAT_NS}}}item")
    if element is None:
        return {}
    meta: dict[str, Any] = {}
    for name in ("id", "section", "topic", "difficulty"):
        if element.get(name) is not None:
            meta[name] = element.get(name)
    irt = element.find(f"{{{CAT_NS}}}irt")
    if irt is not None:
        params: dict[str, Any] = dict(irt.attrib)
        if "thresholds" in params:
            params["thresholds"] = params["thresholds"].split()
        meta["irt"] = params
    enemies = [(e.text or "").strip() for e in element.findall(f"{{{CAT_NS}}}enemy")]
    if enemies:
        meta["enemies"] = enemies
    meta["images"] = {
        e.get("name", ""): e.get("href", "") for e in element.findall(f"{{{CAT_NS}}}image")
    }
    catalog = element.find(f"{{{CAT_NS}}}catalog")
    if catalog is not None:
        # The cards exactly as kept (pieces of the stem, supports QTI 2.1 has no place
        # for); unreadable JSON leaves the item's own catalog in charge.
        with contextlib.suppress(ValueError, RecursionError):
            meta["catalog"] = json.loads(catalog.text or "[]")
    meta["texts"] = {
        e.get("part", ""): (e.text or "", e.get("check", ""))
        for e in element.findall(f"{{{CAT_NS}}}text")
    }
    return meta


# Writing ----------------------------------------------------------------------------------
def export_qti(
    items: Iterable[Item], path: str | os.PathLike[str], version: QtiVersion = "2.1"
) -> Path:
    """Write a QTI content package (zip) of ``items``, atomically (temp file + rename)."""
    if version not in RESOURCE_TYPES:
        raise ValueError(f"QTI version must be 2.1 or 3.0, not {version!r}")
    items = list(items)
    _check_xml_safe(items)
    path = Path(path)
    ns = MANIFEST_NS[version]
    # Unqualified names under a literal xmlns: ElementTree writes no default namespace else.
    manifest = ET.Element("manifest", {"xmlns": ns, "identifier": "MANIFEST-cat-engine"})
    metadata = ET.SubElement(manifest, "metadata")
    ET.SubElement(metadata, "schema").text = (
        "QTIv2.1 Package" if version == "2.1" else "QTI Package"
    )
    ET.SubElement(metadata, "schemaversion").text = "1.0.0" if version == "2.1" else "3.0.0"
    ET.SubElement(manifest, "organizations")
    resources = ET.SubElement(manifest, "resources")
    used: set[str] = set()
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in items:
            stem = _unique(re.sub(r"[^A-Za-z0-9._-]", "_", item.id), used)
            href = f"items/{stem}.xml"
            taken: set[str] = set()
            src_for = {
                image.name: f"{stem}/{export_file_name(image.name, image.media_type, taken)}"
                for image in item.images
            }
            try:
                root = item_to_xml(item, version, src_for)
                xml = _keep_cr(ET.tostring(root, encoding="utf-8", xml_declaration=True))
                item_metadata = _metadata(item, xml, src_for)
            except RecursionError:
                raise ValueError(
                    f"item {item.id}: its HTML is nested too deeply to write as QTI"
                ) from None
            archive.writestr(href, xml)
            resource = ET.SubElement(
                resources,
                "resource",
                {"identifier": f"RES-{stem}", "type": RESOURCE_TYPES[version], "href": href},
            )
            resource_meta = ET.SubElement(resource, "metadata")
            resource_meta.append(item_metadata)
            ET.SubElement(resource, "file", {"href": href})
            for image in item.images:
                image_href = f"items/{src_for[image.name]}"
                archive.writestr(image_href, image.data)
                ET.SubElement(resource, "file", {"href": image_href})
        ET.indent(manifest)
        archive.writestr(
            "imsmanifest.xml",
            _keep_cr(ET.tostring(manifest, encoding="utf-8", xml_declaration=True)),
        )
    return path


_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _check_xml_safe(items: list[Item]) -> None:
    """Refuse, before writing anything, text that XML 1.0 cannot carry (control characters)."""
    for item in items:
        texts = {"stem": item.stem, "topic": item.topic, "difficulty": item.difficulty or ""}
        texts |= {f"option {label}": text for label, text in item.options.items()}
        texts |= {f"image name {image.name!r}": image.name for image in item.images}
        for n, card in enumerate(item.catalog):
            texts |= {f"catalog card {n} ({name})": getattr(card, name)
                      for name in ("catalog", "lang", "text", "anchor")}
        for where, text in texts.items():
            found = _XML_UNSAFE.search(text)
            if found:
                raise ValueError(
                    f"item {item.id}: the {where} holds the control character "
                    f"U+{ord(found.group()):04X}, which QTI (XML) cannot carry"
                )


def _keep_cr(xml: bytes) -> bytes:
    # An XML parser turns a raw carriage return into a newline; a character reference
    # survives. ElementTree writes markup with "\n" only, so every "\r" here is content.
    return xml.replace(b"\r", b"&#13;")


def _unique(name: str, used: set[str]) -> str:
    candidate, counter = name, 1
    while candidate.lower() in used:
        counter += 1
        candidate = f"{name}-{counter}"
    used.add(candidate.lower())
    return candidate


def _metadata(item: Item, xml: bytes, src_for: dict[str, str]) -> ET.Element:
    element = ET.Element(
        f"{{{CAT_NS}}}item", {"id": item.id, "section": item.section, "topic": item.topic}
    )
    if item.difficulty is not None:
        element.set("difficulty", item.difficulty)
    if item.irt is not None:
        attributes = {"model": item.irt.model, "a": repr(item.irt.a)}
        if item.irt.b is not None:
            attributes["b"] = repr(item.irt.b)
        attributes["c"] = repr(item.irt.c)
        attributes["d"] = repr(item.irt.d)
        if item.irt.thresholds:
            attributes["thresholds"] = " ".join(repr(t) for t in item.irt.thresholds)
        ET.SubElement(element, f"{{{CAT_NS}}}irt", attributes)
    for enemy in item.enemies:
        ET.SubElement(element, f"{{{CAT_NS}}}enemy").text = enemy
    if item.catalog:
        ET.SubElement(element, f"{{{CAT_NS}}}catalog").text = json.dumps(
            catalog_json(item.catalog), ensure_ascii=False
        )
    for image in item.images:
        ET.SubElement(
            element,
            f"{{{CAT_NS}}}image",
            {"name": image.name, "href": f"items/{src_for[image.name]}"},
        )
    # Convert the written XHTML back exactly as an import would, and fingerprint the result:
    # on import the Markdown is taken as written only if that fingerprint still matches.
    names = {src: name for name, src in src_for.items()}
    converted = parse_item(xml, image_name=lambda ref: names.get(ref, ref)).texts
    texts = {"stem": item.stem} | {f"option:{k}": v for k, v in item.options.items()}
    for part, text in texts.items():
        ET.SubElement(
            element, f"{{{CAT_NS}}}text", {"part": part, "check": markdown_check(converted[part])}
        ).text = text
    return element
