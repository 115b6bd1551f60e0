"""Item text between Markdown (how cat-engine stores it) and XHTML (how QTI carries it).

XHTML → Markdown keeps paragraphs, headings, emphasis, lists, tables, code, sub/superscript
and images; Markdown → XHTML goes through the same markdown-it and nh3 pipeline as the
terminal renderer, then is rebuilt as well-formed XML elements.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from html.parser import HTMLParser

from item_bank.render import sanitized_html

#: Elements that hold inline content and become one Markdown block each.
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_TRANSPARENT = {
    "div",
    "span",
    "section",
    "article",
    "aside",
    "header",
    "footer",
    "nav",
    "figure",
    "figcaption",
    "caption",
    "thead",
    "tbody",
    "tfoot",
    "small",
    "big",
    "abbr",
    "acronym",
    "cite",
    "dfn",
    "q",
    "kbd",
    "samp",
    "var",
    "tt",
    "address",
    "label",
    "bdo",
    "colgroup",
    "col",
    "dl",
    "dt",
    "dd",
    "a",
}
#: Inline tags Markdown has no syntax for; kept as raw HTML, which the renderer allows.
_RAW_INLINE = {"sub", "sup", "u", "s", "del", "ins"}
_INLINE_MARK = {"em": "*", "i": "*", "strong": "**", "b": "**"}
_BLOCKS = {"p", "ul", "ol", "li", "table", "tr", "blockquote", "pre", "hr", *_HEADINGS}
#: Marks a <br> until a paragraph is tidied; NUL cannot occur in XML text.
_BR = "\x00"
_ESCAPE = re.compile(r"([\\`*_\[\]<>&|#!~])")

ImageHook = Callable[[str, str], str]
"""(src, alt) -> the image name to write in Markdown, given an img/object reference."""


def local_name(tag: object) -> str:
    """An element's name without namespace."""
    return str(tag).rsplit("}", 1)[-1] if isinstance(tag, str) else ""


class XhtmlToMarkdown:
    """Convert XHTML content to Markdown; unsupported elements are collected by name."""

    def __init__(
        self,
        on_image: ImageHook,
        *,
        skip: Callable[[ET.Element], str | None],
        skipped: Callable[[ET.Element], bool] = lambda _e: False,
    ):
        self.on_image = on_image
        #: Returns replacement Markdown for an element handled elsewhere (an interaction).
        self.skip = skip
        #: Whether ``skip`` replaces this element: a div around it is then a block.
        self.skipped = skipped
        self.unsupported: list[str] = []

    def convert(self, element: ET.Element) -> str:
        """The Markdown of ``element``'s content (not the element itself)."""
        return "\n\n".join(b for b in self._blocks(element) if b.strip()).strip()

    # Blocks -----------------------------------------------------------------------------
    def _blocks(self, element: ET.Element) -> list[str]:
        blocks: list[str] = []
        run: list[str] = []  # inline content waiting to become a paragraph

        def flush() -> None:
            text = _tidy("".join(run))
            if text:
                blocks.append(_guard_line_starts(text))
            run.clear()

        run.append(_text(element.text))
        for child in element:
            name = local_name(child.tag)
            replacement = self.skip(child)
            if replacement is not None:
                flush()
                blocks.append(replacement)
            elif name in _BLOCKS or (
                name in _TRANSPARENT
                and (_has_block(child) or any(self.skipped(e) for e in child.iter()))
            ):
                flush()
                blocks.extend(self._block(child, name))
            else:
                run.append(self._inline(child))
            run.append(_text(child.tail))
        flush()
        return blocks

    def _block(self, element: ET.Element, name: str) -> list[str]:
        if name == "p":
            text = _tidy(self._inline_content(element))
            return [_guard_line_starts(text)] if text else []
        if name in _HEADINGS:
            return ["#" * _HEADINGS[name] + " " + _tidy(self._inline_content(element))]
        if name in ("ul", "ol"):
            return [self._list(element, ordered=name == "ol")]
        if name == "blockquote":
            inner = "\n\n".join(self._blocks(element))
            return ["\n".join("> " + line if line else ">" for line in inner.splitlines())]
        if name == "pre":
            code = "".join(element.itertext()).strip("\n")
            fence = "```" if "```" not in code else "~~~~"
            return [f"{fence}\n{code}\n{fence}"]
        if name == "hr":
            return ["***"]
        if name == "table":
            return [self._table(element)]
        return self._blocks(element)

    def _list(self, element: ET.Element, *, ordered: bool) -> str:
        lines = []
        start = (
            int(element.get("start", "1")) if ordered and element.get("start", "1").isdigit() else 1
        )
        number = start
        for child in element:
            if local_name(child.tag) != "li":
                self.unsupported.append(local_name(child.tag))
                continue
            marker = f"{number}. " if ordered else "- "
            number += 1
            # A tight list item (no <p>) keeps its nested blocks on adjacent lines.
            tight = not any(local_name(c.tag) == "p" for c in child)
            body = ("\n" if tight else "\n\n").join(self._blocks(child))
            indent = " " * len(marker)
            body_lines = body.splitlines() or [""]
            lines.append(marker + body_lines[0])
            lines.extend(indent + line if line else "" for line in body_lines[1:])
        return "\n".join(lines)

    def _table(self, element: ET.Element) -> str:
        rows = [row for row in element.iter() if local_name(row.tag) == "tr"]
        grid = []
        for row in rows:
            cells = [c for c in row if local_name(c.tag) in ("td", "th")]
            grid.append(
                [
                    _tidy(self._inline_content(c).replace(_BR, " ")).replace("|", "\\|")
                    for c in cells
                ]
            )
        width = max((len(r) for r in grid), default=0)
        if not width:
            return ""
        grid = [r + [""] * (width - len(r)) for r in grid]
        lines = ["| " + " | ".join(grid[0]) + " |", "|" + "---|" * width]
        lines.extend("| " + " | ".join(r) + " |" for r in grid[1:])
        return "\n".join(lines)

    # Inline -----------------------------------------------------------------------------
    def _inline_content(self, element: ET.Element) -> str:
        parts = [_text(element.text)]
        for child in element:
            parts.append(self._inline(child))
            parts.append(_text(child.tail))
        return "".join(parts)

    def _inline(self, element: ET.Element) -> str:
        name = local_name(element.tag)
        if name == "br":
            return _BR
        if name == "img":
            alt = element.get("alt", "")
            return f"![{_escape(alt)}]({_destination(self.on_image(element.get('src', ''), alt))})"
        if name == "object":
            alt = _tidy("".join(element.itertext())) or element.get("label", "")
            data = element.get("data", "")
            return f"![{_escape(alt)}]({_destination(self.on_image(data, alt))})"
        inner = self._inline_content(element)
        if name in _INLINE_MARK:
            mark = _INLINE_MARK[name]
            stripped = inner.strip()
            if not stripped:
                return inner
            lead = " " if inner[:1].isspace() else ""
            trail = " " if inner[-1:].isspace() else ""
            return f"{lead}{mark}{stripped}{mark}{trail}"
        if name == "code":
            code = re.sub(r"[ \t\r\n]+", " ", "".join(element.itertext()))
            if not code:
                return ""
            fence = "`" * (max(map(len, re.findall(r"`+", code)), default=0) + 1)
            # CommonMark strips one space from each end, and needs one beside a backtick.
            pad = " " if code.startswith(("`", " ")) or code.endswith(("`", " ")) else ""
            return f"{fence}{pad}{code}{pad}{fence}"
        if name in _RAW_INLINE:
            return f"<{name}>{inner}</{name}>"
        if name not in _TRANSPARENT:
            self.unsupported.append(name)
        return inner


def _has_block(element: ET.Element) -> bool:
    return any(local_name(e.tag) in _BLOCKS for e in element.iter() if e is not element)


def _text(text: str | None) -> str:
    return _escape(re.sub(r"[ \t\r\n]+", " ", text)) if text else ""


def _escape(text: str) -> str:
    return _ESCAPE.sub(r"\\\1", text)


def _destination(name: str) -> str:
    return f"<{name}>" if re.search(r"[\s()<>]", name) else name


def _tidy(text: str) -> str:
    """Collapse spaces; a line break becomes Markdown's hard break, except at either end
    of a paragraph, where it shows nothing."""
    text = re.sub(r" {2,}", " ", text.replace("\n", " "))
    parts = [part.strip() for part in text.split(_BR)]
    while parts and not parts[0]:
        parts.pop(0)
    while parts and not parts[-1]:
        parts.pop()
    return "\\\n".join(parts)


def _guard_line_starts(text: str) -> str:
    """Escape what would turn a paragraph line into a list, heading or rule."""
    return "\n".join(
        re.sub(r"^(\d+)([.)])", r"\1\\\2", re.sub(r"^([-+=])", r"\\\1", line))
        for line in text.split("\n")
    )


# Markdown → XHTML -------------------------------------------------------------------------
#: Tags of QTI's XHTML subset that Markdown produces; others are reduced to span.
QTI_TAGS = frozenset(
    {
        "p",
        "br",
        "em",
        "strong",
        "b",
        "i",
        "sub",
        "sup",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "img",
        "span",
        "div",
    }
)
_VOID = {"br", "hr", "img"}


def markdown_to_html(text: str, src_for: Mapping[str, str]) -> str:
    """Sanitized HTML of Markdown, as a terminal would get it; image names become
    ``src_for[name]`` (unknown ones become their alt text)."""
    if not src_for:
        return _plain_html(text)
    return sanitized_html(text, src_for.get)


@functools.lru_cache(maxsize=16_384)
def _plain_html(text: str) -> str:
    # Options repeat across a bank ("P = Q", "Tidak dapat ditarik kesimpulan."): render once.
    return sanitized_html(text, lambda _name: None)


class _Builder(HTMLParser):
    """Rebuild sanitized HTML as namespaced XML elements under one root."""

    def __init__(self, root: ET.Element, namespace: str):
        super().__init__(convert_charrefs=True)
        self.stack = [root]
        self.ns = namespace
        self.last: ET.Element | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        name = tag if tag in QTI_TAGS else "span"
        element = ET.SubElement(
            self.stack[-1],
            f"{{{self.ns}}}{name}" if self.ns else name,
            # QTI's XHTML allows neither style nor start: keep only what an image needs.
            {k: v or "" for k, v in attrs if name == "img" and k in ("src", "alt")},
        )
        if name == "img":
            element.set("alt", element.get("alt", ""))
        self.last = None
        if tag in _VOID:
            self.last = element
        else:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID and len(self.stack) > 1:
            self.last = self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.last is not None:
            self.last.tail = (self.last.tail or "") + data
        else:
            parent = self.stack[-1]
            parent.text = (parent.text or "") + data


def markdown_to_elements(text: str, src_for: Mapping[str, str], namespace: str = "") -> ET.Element:
    """A throw-away root element whose children are the XHTML blocks of ``text``."""
    root = ET.Element("root")
    builder = _Builder(root, namespace)
    builder.feed(markdown_to_html(text, src_for))
    builder.close()
    _strip_block_whitespace(root)
    return root


def _strip_block_whitespace(element: ET.Element) -> None:
    # markdown-it puts newlines between blocks; they are not content.
    for child in element.iter():
        if (
            local_name(child.tag)
            in {"ul", "ol", "table", "thead", "tbody", "tr", "blockquote", "root"}
            and child.text
            and not child.text.strip()
        ):
            child.text = None
        for sub in child:
            if (
                sub.tail
                and not sub.tail.strip()
                and local_name(sub.tag) in _BLOCKS | {"thead", "tbody", "td", "th"}
            ):
                sub.tail = None
