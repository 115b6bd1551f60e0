"""IMS QTI 2.1 and 3.0 assessment items with one single-choice ``choiceInteraction``.

Both versions are read through one parser: QTI 3.0's ``qti-kebab-case`` names are mapped to
QTI 2.1's camelCase ones first. XML is parsed by defusedxml with DTDs refused outright, so
no external entity is fetched and no entity expansion bomb goes off.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from item_bank.formats.common import export_number
from item_bank.formats.images import ImageError, check_relative_reference
from item_bank.formats.markup import XhtmlToMarkdown, local_name, markdown_to_elements
from item_bank.formats.qti_catalog import (
    apip_accessibility_21,
    catalog_info_30,
    part_catalogs,
    read_catalog,
)
from item_bank.model import Item

QtiVersion = Literal["2.1", "3.0"]
NAMESPACES = {
    "2.1": "http://www.imsglobal.org/xsd/imsqti_v2p1",
    "3.0": "http://www.imsglobal.org/xsd/imsqtiasi_v3p0",
}
SCHEMA_LOCATIONS = {
    "2.1": "http://www.imsglobal.org/xsd/qti/qtiv2p1/imsqti_v2p1.xsd",
    "3.0": "https://purl.imsglobal.org/spec/qti/v3p0/schema/xsd/imsqti_asiv3p0_v1p0.xsd",
}
TEMPLATES = {
    ("2.1", "key"): "http://www.imsglobal.org/question/qti_v2p1/rptemplates/match_correct",
    ("2.1", "weights"): "http://www.imsglobal.org/question/qti_v2p1/rptemplates/map_response",
    ("3.0", "key"): "https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/match_correct.xml",
    ("3.0", "weights"): "https://purl.imsglobal.org/spec/qti/v3p0/rptemplates/map_response.xml",
}
XSI = "http://www.w3.org/2001/XMLSchema-instance"
#: Parts of an item QTI allows but cat-engine cannot show or score; reported, never dropped.
_UNSUPPORTED_PARTS = {
    "templateDeclaration": "template variables (cloned items)",
    "templateProcessing": "template processing (cloned items)",
    "modalFeedback": "feedback",
    "feedbackBlock": "feedback",
    "feedbackInline": "feedback",
    "templateBlock": "template content",
    "templateInline": "template content",
    "printedVariable": "printed variables",
    "rubricBlock": "rubric blocks",
    "include": "XInclude",
    "infoControl": "info controls",
    "companionMaterialsInfo": "companion materials",
    "assessmentStimulusRef": "shared stimuli (a passage kept in another file)",
}
#: QTI element names (normalised) that QTI 3.0 spells qti-kebab-case in problem reasons.
_QTI30_NAMES = {
    "assessmentItem", "itemBody", "choiceInteraction", "simpleChoice", "responseDeclaration",
    "outcomeDeclaration", "correctResponse", "mapping", "mapEntry", "prompt",
    "textEntryInteraction", "extendedTextInteraction", "orderInteraction",
    "associateInteraction", "matchInteraction", "gapMatchInteraction", "inlineChoiceInteraction",
    "hottextInteraction", "hotspotInteraction", "sliderInteraction", "uploadInteraction",
    "drawingInteraction", "mediaInteraction", "customInteraction", "portableCustomInteraction",
    "graphicOrderInteraction", "graphicAssociateInteraction", "graphicGapMatchInteraction",
    "selectPointInteraction", "positionObjectInteraction", "endAttemptInteraction",
    *(set(_UNSUPPORTED_PARTS) - {"include"}),
}  # fmt: skip
_IGNORED_PARTS = {"outcomeDeclaration", "responseProcessing", "stylesheet", "responseDeclaration"}


class QtiError(ValueError):
    """The document is not a QTI item cat-engine can read; the message says why."""

    def __init__(self, message: str, location: str = ""):
        super().__init__(message)
        #: Where in the document, when known ("line 3, column 14").
        self.location = location


def parse_xml(data: bytes) -> ET.Element:
    """Parse untrusted XML: no DTD, no entities, no external references."""
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise QtiError(
            f"refused: the XML declares a DTD or entities ({type(error).__name__}); "
            "QTI needs neither and they are how XXE and entity-expansion attacks work"
        ) from None
    except SafeET.ParseError as error:
        line, column = getattr(error, "position", (0, 0))
        raise QtiError(
            f"not well-formed XML ({str(error).split(':')[0]})", f"line {line}, column {column}"
        ) from None
    except (ValueError, RecursionError) as error:
        raise QtiError(f"not readable XML: {error}") from None


def _camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def normalise(root: ET.Element) -> QtiVersion:
    """Strip namespaces; map QTI 3.0 ``qti-choice-interaction`` to ``choiceInteraction``."""
    version: QtiVersion = "3.0" if local_name(root.tag).startswith("qti-") else "2.1"
    for element in root.iter():
        name = local_name(element.tag)
        if name.startswith("qti-"):
            element.tag = _camel(name[4:])
            for attribute in list(element.attrib):
                if "-" in attribute and not attribute.startswith(("data-", "{")):
                    element.attrib[_camel(attribute)] = element.attrib.pop(attribute)
        else:
            element.tag = name
    return version


def markdown_check(markdown: str) -> str:
    """Fingerprint of Markdown converted from XHTML: tells an untouched export from an edit."""
    return hashlib.sha256(markdown.encode()).hexdigest()[:32]


@dataclass
class ParsedItem:
    """What one QTI item yields before its images and metadata are attached."""

    identifier: str
    version: QtiVersion
    fields: dict[str, Any] = field(default_factory=dict)
    #: image name -> normalised reference relative to the item file
    images: dict[str, str] = field(default_factory=dict)
    #: "stem" or "option:<label>" -> the Markdown converted from its XHTML
    texts: dict[str, str] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    #: What is kept (or harmlessly left out) but worth telling the author.
    warnings: list[str] = field(default_factory=list)


def parse_item(data: bytes, *, image_name: Callable[[str], str] = lambda ref: ref) -> ParsedItem:
    """Read one assessment item; raises QtiError when it is not one at all.

    Whatever the item holds that cat-engine cannot represent is listed in ``reasons``.
    """
    root = parse_xml(data)
    version = normalise(root)
    if root.tag != "assessmentItem":
        raise QtiError(f"not a QTI assessment item (the root element is <{root.tag}>)")
    parsed = ParsedItem(identifier=root.get("identifier", ""), version=version)
    reasons = parsed.reasons

    def at(element: ET.Element, *attributes: str) -> str:
        return spelled(element, version, *attributes)

    if not parsed.identifier:
        reasons.append(f"{at(root)}: the item has no identifier")

    for element in root.iter():
        if element.tag in _UNSUPPORTED_PARTS:
            reasons.append(f"{at(element)}: {_UNSUPPORTED_PARTS[element.tag]} not supported")
    body = root.find("itemBody")
    if body is None:
        reasons.append(f"{at(root)}: the item has no {spelled_name('itemBody', version)}")
        return parsed
    interactions = [e for e in body.iter() if e.tag.endswith("Interaction")]
    choices = [e for e in interactions if e.tag == "choiceInteraction"]
    choice_name = spelled_name("choiceInteraction", version)
    for tag in sorted({e.tag for e in interactions if e.tag != "choiceInteraction"}):
        reasons.append(f"<{spelled_name(tag, version)}>: only {choice_name} is supported")
    if len(choices) != 1:
        reasons.append(f"{at(body)}: an item needs exactly one {choice_name}, this one has "
                       f"{len(choices)}")
    others = [e for e in interactions if e.tag != "choiceInteraction"]
    if len(choices) != 1 or others:
        return parsed
    interaction = choices[0]

    def on_image(src: str, _alt: str) -> str:
        try:
            reference = check_relative_reference(src, allow_parent=True)
        except ImageError as error:
            reasons.append(str(error))
            return src.strip() or "missing-image"
        name = image_name(reference)
        parsed.images[name] = reference
        return name

    def replace_interaction(element: ET.Element) -> str | None:
        if element is not interaction:
            return None
        prompt = element.find("prompt")
        return converter.convert(prompt) if prompt is not None else ""

    converter = XhtmlToMarkdown(
        on_image, skip=replace_interaction, skipped=lambda element: element is interaction
    )
    parsed.texts["stem"] = converter.convert(body)
    parsed.fields["stem"] = parsed.texts["stem"]
    options: dict[str, str] = {}
    fixed: list[str] = []
    option_converter = XhtmlToMarkdown(on_image, skip=lambda _e: None)
    for choice in interaction.iter("simpleChoice"):
        label = choice.get("identifier", "")
        text = option_converter.convert(choice)
        if label in options:
            reasons.append(f"{at(choice, 'identifier')}: two choices share this identifier")
        options[label] = text
        parsed.texts[f"option:{label}"] = text
        # shuffle="false": the author wants the choices in the order given, all of them.
        if choice.get("fixed", "false").strip() in ("true", "1") or interaction.get(
            "shuffle", "true"
        ).strip() in ("false", "0"):
            fixed.append(label)
    parsed.fields["options"] = options
    if fixed:
        parsed.fields["fixed"] = fixed
    catalog = read_catalog(root, body, interaction, parsed.warnings.append)
    if catalog:
        parsed.fields["catalog"] = catalog
    unsupported = sorted(set(converter.unsupported + option_converter.unsupported))
    if unsupported:
        reasons.append(f"unsupported content: <{'>, <'.join(unsupported)}>")
    _read_objects_media(body, reasons)

    max_choices = interaction.get("maxChoices", "1")
    if max_choices != "1":
        reasons.append(f"{at(interaction, 'maxChoices')}: multiple response is not supported")
    _read_scoring(root, interaction, version, parsed.fields, reasons)
    return parsed


def spelled_name(tag: str, version: QtiVersion) -> str:
    """A normalised element name as the document spells it (QTI 3.0: ``qti-kebab-case``)."""
    if version == "3.0" and tag in _QTI30_NAMES:
        return "qti-" + re.sub(r"(?<!^)([A-Z])", r"-\1", tag).lower()
    return tag


def spelled(element: ET.Element, version: QtiVersion, *attributes: str) -> str:
    """``<name identifier='...' attr='...'>`` of an element as written, for problem reasons."""
    parts = [spelled_name(element.tag, version)]
    for name in dict.fromkeys(("identifier", *attributes)):
        value = element.get(name)
        if value is not None:
            if version == "3.0":
                name = re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower()
            parts.append(f"{name}={value!r}")
    return f"<{' '.join(parts)}>"


def _read_objects_media(body: ET.Element, reasons: list[str]) -> None:
    for element in body.iter():
        if element.tag in ("audio", "video", "iframe", "embed"):
            reasons.append(f"unsupported media <{element.tag}>")
        elif element.tag == "object":
            media = element.get("type", "")
            if not media.startswith("image/"):
                reasons.append(f"unsupported media <object type={media!r}>")


def _read_scoring(
    root: ET.Element,
    interaction: ET.Element,
    version: QtiVersion,
    fields: dict[str, Any],
    reasons: list[str],
) -> None:
    response_id = interaction.get("responseIdentifier", "")
    declaration = next(
        (d for d in root.iter("responseDeclaration") if d.get("identifier") == response_id),
        None,
    )
    if declaration is None:
        where = spelled(interaction, version, "responseIdentifier")
        reasons.append(f"{where}: no {spelled_name('responseDeclaration', version)} "
                       "with this identifier")
        return
    where = spelled(declaration, version, "cardinality")
    cardinality = declaration.get("cardinality", "")
    if cardinality != "single":
        reasons.append(f"{where}: only single cardinality is supported")
        return
    correct = [
        (v.text or "").strip() for c in declaration.iter("correctResponse") for v in c.iter("value")
    ]
    mapping = declaration.find("mapping")
    processing = root.find("responseProcessing")
    template = processing.get("template", "") if processing is not None else ""
    use_mapping = mapping is not None and (not correct or "map_response" in template)
    if use_mapping:
        assert mapping is not None
        try:
            default = float(mapping.get("defaultValue", "0"))
            entries = {
                entry.get("mapKey", ""): float(entry.get("mappedValue", ""))
                for entry in mapping.iter("mapEntry")
            }
        except ValueError:
            reasons.append(f"{where}: a mapEntry's mappedValue or the mapping's defaultValue "
                           "is not a number")
            return
        fields["weights"] = {
            label: entries.get(label, default) for label in fields.get("options", {})
        } | {label: value for label, value in entries.items() if label not in fields["options"]}
    elif len(correct) == 1:
        fields["key"] = correct[0]
    elif correct:
        reasons.append(f"{where}: {len(correct)} correct responses given, a single-choice item "
                       "needs one")
    else:
        reasons.append(f"{where}: neither a correctResponse (key) nor a mapping (weights) is "
                       "declared")


# Writing ----------------------------------------------------------------------------------
def item_to_xml(item: Item, version: QtiVersion, src_for: dict[str, str]) -> ET.Element:
    """The QTI item of ``item``; ``src_for`` maps each image name to its href."""
    ns = NAMESPACES[version]

    def q(name: str) -> str:
        # QTI 3.0 spells every QTI element qti-kebab-case; XHTML names stay as they are.
        # Names stay unqualified and the root declares xmlns: ElementTree cannot write a
        # default namespace otherwise.
        if version == "3.0":
            name = "qti-" + re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower()
        return name

    def a(name: str) -> str:
        return re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower() if version == "3.0" else name

    root = ET.Element(
        q("assessmentItem"),
        {
            "xmlns": ns,
            a("identifier"): item.id,
            a("title"): item.id,
            a("adaptive"): "false",
            a("timeDependent"): "false",
            f"{{{XSI}}}schemaLocation": f"{ns} {SCHEMA_LOCATIONS[version]}",
        },
    )
    declaration = ET.SubElement(
        root,
        q("responseDeclaration"),
        {a("identifier"): "RESPONSE", a("cardinality"): "single", a("baseType"): "identifier"},
    )
    if item.key is not None:
        correct = ET.SubElement(declaration, q("correctResponse"))
        ET.SubElement(correct, q("value")).text = item.key
    else:
        mapping = ET.SubElement(declaration, q("mapping"), {a("defaultValue"): "0"})
        for label, weight in (item.weights or {}).items():
            ET.SubElement(
                mapping,
                q("mapEntry"),
                {a("mapKey"): label, a("mappedValue"): repr(export_number(weight))},
            )
    ET.SubElement(
        root,
        q("outcomeDeclaration"),
        {a("identifier"): "SCORE", a("cardinality"): "single", a("baseType"): "float"},
    )
    body = ET.SubElement(root, q("itemBody"))
    stem = list(markdown_to_elements(item.stem, src_for))
    body.extend(_with_catalogs(item, version, "stem", body, stem))
    interaction = ET.SubElement(
        body,
        q("choiceInteraction"),
        {
            a("responseIdentifier"): "RESPONSE",
            a("shuffle"): "false" if set(item.fixed) == set(item.options) else "true",
            a("maxChoices"): "1",
        },
    )
    for label, text in item.options.items():
        attributes = {a("identifier"): label}
        if label in item.fixed:
            attributes[a("fixed")] = "true"
        choice = ET.SubElement(interaction, q("simpleChoice"), attributes)
        children = list(markdown_to_elements(text, src_for))
        if len(children) == 1 and local_name(children[0].tag) == "p":
            # A one-paragraph option is written inline, as QTI authors usually do.
            holder = ET.Element("p")
            holder.text = children[0].text
            holder.extend(list(children[0]))
            choice.text = holder.text
            children = list(holder)
        choice.extend(_with_catalogs(item, version, f"option:{label}", choice, children))
    if item.catalog and version == "3.0":
        root.append(catalog_info_30(item.catalog))
    ET.SubElement(
        root, q("responseProcessing"), {a("template"): TEMPLATES[(version, item.scoring)]}
    )
    if version == "2.1":
        apip = apip_accessibility_21(item.catalog, _element_id)
        if apip is not None:
            root.append(apip)
    return root


def _element_id(part: str) -> str:
    """The ``id`` a QTI 2.1 export gives the body element of a part (APIP links to it)."""
    return "cat-stem" if part == "stem" else f"cat-option-{part.removeprefix('option:')}"


def _with_catalogs(
    item: Item, version: QtiVersion, part: str, holder: ET.Element, children: list[ET.Element]
) -> list[ET.Element]:
    """Attach the part's catalogs to its content. QTI 3.0: ``data-catalog-idref`` on the
    choice, and on a ``div`` around the content for each further catalog (the stem's all);
    QTI 2.1: an ``id`` the APIP access elements link to."""
    catalogs = part_catalogs(item.catalog, part)
    if not catalogs:
        return children
    if version == "2.1":
        if part != "stem":
            holder.set("id", _element_id(part))
            return children
        div = ET.Element("div", {"id": _element_id(part)})
        div.extend(children)
        return [div]
    if part != "stem":
        holder.set("data-catalog-idref", catalogs.pop(0))
    text, holder.text = (holder.text, None) if catalogs else (holder.text, holder.text)
    for n, catalog_id in enumerate(reversed(catalogs)):
        div = ET.Element("div", {"data-catalog-idref": catalog_id})
        if n == 0:
            div.text = text
        div.extend(children)
        children = [div]
    return children
