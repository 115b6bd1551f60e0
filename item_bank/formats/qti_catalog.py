"""Accessibility information of QTI items: QTI 3.0 catalogs and QTI 2.1 APIP access elements.

QTI 3.0 attaches ``qti-catalog`` elements (in ``qti-catalog-info``) to parts of the item body
through ``data-catalog-idref``; each ``qti-card`` of a catalog gives one support (``spoken``,
``braille``, ``glossary-on-screen``...), its content in ``qti-html-content``, possibly per
language in ``qti-card-entry``. QTI 2.1 items carry the same through APIP's
``apipAccessibility``: access elements linked to body elements by ``id``, with ``spokenText``
and ``brailleTextString``. Both become :class:`item_bank.model.CatalogCard` rows.

Nothing here refuses an item: a card the terminal cannot use, or one that cannot be kept (a
file reference), is a warning. Works on trees already passed through ``qti.normalise``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from typing import Any
from xml.sax.saxutils import escape

from pydantic import ValidationError

from item_bank.formats.common import readable_reasons
from item_bank.model import TERMINAL_SUPPORTS, CatalogCard

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
APIP_NS = "http://www.imsglobal.org/xsd/apip/apipv1p0/imsapip_qtiv1p0"
ET.register_namespace("apip", APIP_NS)
#: APIP related-element content -> the QTI 3.0 support it is (see the APIP to QTI 3 guide).
_APIP_SUPPORTS = {
    "spokenText": "spoken",
    "textToSpeechPronunciation": "ext:text-to-speech-pronunciation",
    "brailleTextString": "braille",
}
#: The supports written back as APIP in QTI 2.1 (the rest ride in the package metadata).
_APIP_WRITTEN = {"spoken": ("spoken", "spokenText"), "braille": ("brailleText",
                                                                 "brailleTextString")}


def collapse(text: str) -> str:
    return " ".join(text.split())


def _text_of(element: ET.Element, skip: frozenset[ET.Element] | set = frozenset()) -> str:
    """The text of ``element`` as read aloud: images by their alt text, ``skip`` left out."""
    pieces: list[str] = []

    def walk(node: ET.Element) -> None:
        if node in skip:
            return
        if node.tag == "img":
            pieces.append(f" {node.get('alt', '')} ")
        pieces.append(node.text or "")
        for child in node:
            walk(child)
            pieces.append(child.tail or "")

    walk(element)
    return collapse("".join(pieces))


def inner_xml(element: ET.Element) -> str:
    """The content of ``element`` as markup: its text and children, verbatim."""
    head = escape(element.text or "")
    return head + "".join(ET.tostring(child, encoding="unicode") for child in element)


def _anchors(body: ET.Element, interaction: ET.Element) -> dict[ET.Element, tuple[str, str]]:
    """Each body element -> (part, anchor): the part it lies in, and its own text when it is
    only a piece of that part ("" when it stands for the whole part)."""
    owner: dict[ET.Element, ET.Element] = {}
    for choice in interaction.iter("simpleChoice"):
        for element in choice.iter():
            owner[element] = choice
    stem_text = _text_of(body, skip=set(owner))
    places: dict[ET.Element, tuple[str, str]] = {}
    for element in body.iter():
        choice = owner.get(element)
        if choice is not None:
            part = f"option:{choice.get('identifier', '')}"
            whole = element is choice or _text_of(element) == _text_of(choice)
        else:
            part = "stem"
            # The choices' words belong to the options, not to a piece of the stem.
            own = _text_of(element, skip=set(owner))
            whole = element.tag in ("itemBody", "prompt") or own == stem_text
            places[element] = (part, "" if whole else own)
            continue
        places[element] = (part, "" if whole else _text_of(element))
    return places


def read_catalog(
    root: ET.Element,
    body: ET.Element,
    interaction: ET.Element,
    warn: Callable[[str], None],
) -> list[dict[str, Any]]:
    """The cards of a normalised item, in document order, as CatalogCard fields."""
    places = _anchors(body, interaction)
    by_ref: dict[str, list[tuple[str, str]]] = {}
    by_id: dict[str, tuple[str, str]] = {}
    for element, place in places.items():
        ref = element.get("data-catalog-idref")
        if ref:
            by_ref.setdefault(ref, []).append(place)
        if element.get("id"):
            by_id[element.get("id", "")] = place
    cards: list[dict[str, Any]] = []
    known: set[str] = set()
    for catalog in (c for info in root.iter("catalogInfo") for c in info.iter("catalog")):
        catalog_id = catalog.get("id", "")
        known.add(catalog_id)
        where = f"<qti-catalog id={catalog_id!r}>"
        if not catalog_id:
            warn(f"{where}: a catalog without an id is kept with the whole item")
        for card in catalog.findall("card"):
            support = card.get("support", "")
            entries = card.findall("cardEntry") or [card]
            for entry in entries:
                lang = entry.get(XML_LANG) or entry.get("lang") or ""
                content = entry.find("htmlContent")
                if content is None:
                    media = entry.find("fileHref")
                    href = (media.text or "").strip() if media is not None else ""
                    warn(f"{where} <qti-card support={support!r}>: content in a file "
                         f"({href or 'no qti-html-content'}) is not carried into the bank")
                    continue
                for part, anchor in by_ref.get(catalog_id) or [("item", "")]:
                    card = _card(part, catalog_id or "catalog", support, lang, content,
                                 anchor, f"{where} <qti-card support={support!r}>", warn)
                    if card is not None:
                        cards.append(card)
    for info in root.iter("catalogInfo"):
        for media in info.findall("fileHref"):
            href = media.get("src") or (media.text or "").strip()
            warn(f"<qti-catalog-info> <qti-file-href>: a catalog in another file ({href}) is "
                 "not read")
    for ref in sorted(set(by_ref) - known):
        warn(f"data-catalog-idref={ref!r} names no catalog of the item; ignored")
    for access in (a for info in root.iter("apipAccessibility")
                   for a in info.iter("accessElement")):
        cards.extend(_read_access_element(access, by_id, warn))
    for support in sorted({c["support"] for c in cards} - set(TERMINAL_SUPPORTS)):
        warn(f"accessibility support {support!r} is kept with the item and exported again, "
             "but no terminal offers it")
    return cards


def _read_access_element(
    access: ET.Element, by_id: dict[str, tuple[str, str]], warn: Callable[[str], None]
) -> Iterable[dict[str, Any]]:
    identifier = access.get("identifier", "") or "access"
    where = f"<apip:accessElement identifier={identifier!r}>"
    links = [link.get("qtiLinkIdentifierRef", "") for link in access.iter("contentLinkInfo")]
    places = [by_id[link] for link in links if link in by_id]
    for link in links:
        if link not in by_id:
            warn(f"{where}: qtiLinkIdentifierRef={link!r} names no element of the item body")
    related = access.find("relatedElementInfo")
    for element in related.iter() if related is not None else ():
        if element is related or len(element):
            continue  # containers (spoken, brailleText): their leaves carry the content
        support = _APIP_SUPPORTS.get(element.tag, f"ext:apip-{element.tag}")
        if not (element.text or "").strip():
            warn(f"{where} <apip:{element.tag}>: no text content; not kept")
            continue
        for part, anchor in places or [("item", "")]:
            card = _card(part, identifier, support, element.get(XML_LANG, ""), element, anchor,
                         f"{where} <apip:{element.tag}>", warn)
            if card is not None:
                yield card


def _card(part: str, catalog: str, support: str, lang: str, content: ET.Element, anchor: str,
          where: str, warn: Callable[[str], None]) -> dict[str, Any] | None:
    """The fields of one card, or None (with a warning) when the model cannot hold it."""
    fields = dict(part=part, catalog=catalog[:128], support=support, lang=lang,
                  html=inner_xml(content), text=_text_of(content), anchor=anchor[:2_000])
    try:
        CatalogCard.model_validate(fields)
    except ValidationError as error:
        reasons = "; ".join(readable_reasons(error))
        warn(f"{where}: not kept ({reasons})")
        return None
    files = sorted({value for element in content.iter() for name, value in element.attrib.items()
                    if name in ("src", "href", "data")})
    if files:
        warn(f"{where}: kept, but the file(s) it refers to are not carried into the bank: "
             f"{', '.join(files)}")
    return fields


# Writing ----------------------------------------------------------------------------------
def _groups(cards: Iterable[CatalogCard]) -> dict[str, list[CatalogCard]]:
    groups: dict[str, list[CatalogCard]] = {}
    for card in cards:
        groups.setdefault(card.catalog, []).append(card)
    return groups


def part_catalogs(cards: Iterable[CatalogCard], part: str) -> list[str]:
    """Catalog ids attached to ``part``, first seen first."""
    return list(dict.fromkeys(c.catalog for c in cards if c.part == part))


def _content(parent: ET.Element, name: str, html: str) -> None:
    holder = ET.fromstring(f"<wrap>{html}</wrap>")
    content = ET.SubElement(parent, name)
    content.text = holder.text
    content.extend(list(holder))


def catalog_info_30(cards: Iterable[CatalogCard]) -> ET.Element:
    """``qti-catalog-info``: one catalog per id, one card per support, entries per language."""
    info = ET.Element("qti-catalog-info")
    for catalog_id, group in _groups(cards).items():
        catalog = ET.SubElement(info, "qti-catalog", {"id": catalog_id})
        seen: dict[tuple[str, str, str], None] = {}
        supports: dict[str, ET.Element] = {}
        for card in group:
            key = (card.support, card.lang, card.html)
            if key in seen:  # one catalog referenced from several places: one card
                continue
            seen[key] = None
            holder = supports.get(card.support)
            if holder is None:
                holder = ET.SubElement(catalog, "qti-card", {"support": card.support})
                supports[card.support] = holder
            if card.lang:
                entry = ET.SubElement(holder, "qti-card-entry", {XML_LANG: card.lang})
                _content(entry, "qti-html-content", card.html)
            else:
                _content(holder, "qti-html-content", card.html)
    return info


def apip_accessibility_21(cards: Iterable[CatalogCard], element_id: Callable[[str], str]
                          ) -> ET.Element | None:
    """APIP ``apipAccessibility`` for the spoken and braille cards; None when there are none.

    ``element_id(part)`` is the ``id`` the body element of that part was given.
    """
    written = [c for c in cards if c.support in _APIP_WRITTEN and c.part != "item"]
    if not written:
        return None

    def apip(name: str) -> str:
        return f"{{{APIP_NS}}}{name}"

    root = ET.Element(apip("apipAccessibility"))
    info = ET.SubElement(root, apip("accessibilityInfo"))
    for catalog_id, group in _groups(written).items():
        access = ET.SubElement(info, apip("accessElement"), {"identifier": catalog_id})
        for part in dict.fromkeys(c.part for c in group):
            link = ET.SubElement(access, apip("contentLinkInfo"),
                                 {"qtiLinkIdentifierRef": element_id(part)})
            ET.SubElement(link, apip("objectLink"))
        related = ET.SubElement(access, apip("relatedElementInfo"))
        done: set[tuple[str, str]] = set()
        for n, card in enumerate(group):
            if (card.support, card.html) in done:
                continue
            done.add((card.support, card.html))
            outer, leaf = _APIP_WRITTEN[card.support]
            holder = ET.SubElement(related, apip(outer))
            attributes = {"contentLinkIdentifier": f"{catalog_id}-{n}"}
            if card.lang:
                attributes[XML_LANG] = card.lang
            text = ET.SubElement(holder, apip(leaf), attributes)
            text.text = card.text
    return root


def catalog_json(cards: Iterable[CatalogCard]) -> list[dict[str, Any]]:
    """Cards as plain data (JSON Lines, package metadata)."""
    return [card.model_dump(exclude_defaults=True) for card in cards]
