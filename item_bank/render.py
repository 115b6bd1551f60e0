"""Item Markdown to safe HTML for a candidate's terminal.

markdown-it-py renders, nh3 sanitizes with an allow-list: no script, no event handler, no
link, no URL of any kind. Images are inlined as ``data:`` URIs built from the item's own
embedded ImageAssets, so a terminal never fetches item files by name (which would reveal
which item is shown, and could be replayed); an unknown image name is shown as its alt text.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import nh3
from markdown_it import MarkdownIt

from item_bank.model import ImageAsset, Item

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "em", "strong", "b", "i", "u", "s", "del", "ins", "sub", "sup", "code",
        "pre", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img", "span", "div",
    }
)  # fmt: skip
_ATTRIBUTES = {
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}


def _render_image(self: Any, tokens: Any, idx: int, options: Any, env: dict[str, Any]) -> str:
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children, options, env)
    # markdown-it percent-encodes the destination; the image is named as authored.
    src = token.attrGet("src") or ""
    uri = env["source_for"](src) or env["source_for"](unquote(src))
    if uri is None:
        return html.escape(alt)
    env["sources"].add(uri)
    title = token.attrGet("title")
    title_attr = f' title="{html.escape(title)}"' if title else ""
    return f'<img src="{html.escape(uri)}" alt="{html.escape(alt)}"{title_attr}>'


_SOURCELESS_IMG = re.compile(r'<img(?![^>]*\ssrc=)(?:[^>]*?\salt="([^"]*)")?[^>]*>')
_markdown = MarkdownIt("commonmark", {"html": True}).enable("table")
_markdown.add_render_rule("image", _render_image)


def sanitized_html(text: str, source_for: Callable[[str], str | None]) -> str:
    """Markdown to allow-listed HTML; an image named N gets ``src=source_for(N)``.

    Shared by the terminal (data: URIs) and the QTI export (file references). Images whose
    name ``source_for`` does not know are shown as their alt text.
    """
    env: dict[str, Any] = {"source_for": source_for, "sources": set()}
    rendered = _markdown.render(text, env)
    sources: set[str] = env["sources"]

    def only_our_images(tag: str, attribute: str, value: str) -> str | None:
        # Raw HTML in the Markdown could carry its own <img src>; only ours pass.
        if attribute == "src":
            return value if tag == "img" and value in sources else None
        return value

    cleaned = nh3.clean(
        rendered,
        tags=set(ALLOWED_TAGS),
        attributes=_ATTRIBUTES,
        attribute_filter=only_our_images,
        url_schemes={"data"},
        clean_content_tags={"script", "style", "iframe", "object", "embed", "template"},
        filter_style_properties={"text-align"},
        strip_comments=True,
        link_rel=None,
    )
    # An <img> whose src was refused would show a broken picture: show its alt text instead.
    return _SOURCELESS_IMG.sub(lambda m: m.group(1) or "", cleaned).strip()


def data_uri(image: ImageAsset) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def render_markdown(text: str, images: Mapping[str, ImageAsset]) -> str:
    """Sanitized HTML of an item's Markdown; images only as data: URIs of ``images``."""

    def source_for(name: str) -> str | None:
        image = images.get(name)
        return data_uri(image) if image is not None else None

    return sanitized_html(text, source_for)


def render_item_for_terminal(item: Item, option_order: Sequence[str]) -> dict[str, Any]:
    """What a terminal shows of an item: stem and options in the candidate's order.

    Options are labelled A, B, C... in the shown order; nothing about the key, the
    weights or the authored labels is included, so the page gives no answer away.
    """
    if sorted(option_order) != sorted(item.options) or len(set(option_order)) != len(option_order):
        raise ValueError(
            f"option order {list(option_order)} is not a permutation of item {item.id}'s "
            f"options {list(item.options)}"
        )
    images = {image.name: image for image in item.images}
    return {
        "stem_html": render_markdown(item.stem, images),
        "options": [
            {
                "label": chr(ord("A") + position),
                "html": render_markdown(item.options[label], images),
            }
            for position, label in enumerate(option_order)
        ],
    }


def terminal_access(
    item: Item, option_order: Sequence[int], supports: Sequence[str]
) -> dict[str, Any]:
    """The catalog texts a candidate's accommodation asks for, per support, as plain text.

    ``{"spoken": {"stem": [[anchor, text], ...], "options": [[[anchor, text], ...], ...]}}``
    with options in the shown order; an empty anchor stands for the whole part (the terminal
    speaks or shows the text instead of the part, or in place of the anchor's words). Only
    supports with at least one card appear (``spoken`` always: the terminal reads the item's
    own text where no card says otherwise); the terminal sets the texts as text, never HTML.
    Cards of the whole item (linked to no part) are kept for export but not shown.
    """
    labels = list(item.options)
    out: dict[str, Any] = {}
    for support in supports:
        cards = [c for c in item.catalog if c.support == support]
        # Reading aloud works on any item (its own text); other supports need a card.
        if not cards and support != "spoken":
            continue

        def texts(part: str, cards: list = cards) -> list[list[str]]:
            # One text per anchor: the first card (its first language) wins.
            chosen: dict[str, str] = {}
            for card in cards:
                if card.part == part:
                    chosen.setdefault(card.anchor, card.text)
            return [[anchor, text] for anchor, text in chosen.items()]

        out[support] = {
            "stem": texts("stem"),
            "options": [texts(f"option:{labels[i]}") for i in option_order],
        }
    return out
