"""Safe rendering: nothing executable or external ever reaches a terminal from an item."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itemkit import make_png, sample_items

from item_bank.model import ImageAsset, Item
from item_bank.render import ALLOWED_TAGS, render_item_for_terminal, render_markdown

PNG = ImageAsset(name="img/fig1.png", media_type="image/png", data=make_png())
IMAGES = {PNG.name: PNG}
ATTACKS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<img src=javascript:alert(1)>",
    '<a href="javascript:alert(1)">klik</a>',
    "[klik](javascript:alert(1))",
    "[klik](http://evil.example/)",
    "![x](http://evil.example/track.png)",
    '<svg onload="alert(1)"><circle/></svg>',
    '<iframe src="http://evil.example"></iframe>',
    '<p style="background:url(javascript:alert(1))" onclick="x()">p</p>',
    '<img src="data:text/html;base64,PHNjcmlwdD4=">',
    "<style>body{display:none}</style>",
    '<object data="http://evil.example/x.swf"></object>',
    "<form action=http://evil.example><input name=a></form>",
    '<math><mtext><table><mglyph><style><img src=x onerror="alert(1)">',
    "<!--<img src=x onerror=alert(1)>-->",
    '<base href="http://evil.example/">',
    "<meta http-equiv=refresh content=0;url=http://evil.example>",
]


class Audit(HTMLParser):
    """Every tag and attribute of rendered HTML, as a browser would parse them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, {k: v or "" for k, v in attrs}))


def image_sources(html: str) -> list[str]:
    return [attrs.get("src", "") for tag, attrs in Audit(html).found if tag == "img"]


def assert_safe(html: str) -> None:
    """Only allow-listed tags; no handler, style trick or URL but our own image data."""
    for tag, attrs in Audit(html).found:
        assert tag in ALLOWED_TAGS, (tag, html)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, html)
            assert name in {"src", "alt", "title", "style", "start"}, (tag, name, html)
            if name == "src":
                assert tag == "img" and value.startswith("data:image/png;base64,"), html
            if name == "style":
                assert re.fullmatch(r"text-align:(left|right|center)", value), html


@pytest.mark.parametrize("attack", ATTACKS)
def test_known_attacks_never_survive(attack):
    html = render_markdown(f"Soal {attack} selesai", IMAGES)
    assert_safe(html)
    assert image_sources(html) == []
    assert "Soal" in html  # an unclosed <style> may swallow the rest, never more


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(ATTACKS) | st.text(max_size=20) | st.sampled_from(
    ["<", ">", '"', "'", "=", " on", "error", "![a](img/fig1.png)", "*", "\n\n", "`", "&#x6a;"]
), max_size=10))  # fmt: skip
def test_any_mix_of_attacks_and_text_stays_safe(parts):
    html = render_markdown("".join(parts), IMAGES)
    assert_safe(html)
    expected = "data:image/png;base64," + base64.b64encode(PNG.data).decode()
    assert all(src == expected for src in image_sources(html))


def test_images_become_data_uris_of_the_embedded_asset():
    html = render_markdown("Lihat ![pola *bangun*](img/fig1.png) di sini", IMAGES)
    (src,) = image_sources(html)
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1]) == PNG.data
    assert 'alt="pola bangun"' in html


def test_an_unknown_image_is_its_alt_text():
    html = render_markdown("Lihat ![gambar <b>hilang</b>](nope.png)", IMAGES)
    assert "<img" not in html and "gambar" in html and "<b>" not in html


def test_markdown_structure_is_kept():
    html = render_markdown(
        "*a* **b**\n\n- x\n- y\n\n| P | Q |\n|--:|---|\n| 1 | 2 |\n\nH<sub>2</sub>O", {}
    )
    for fragment in ("<em>a</em>", "<strong>b</strong>", "<li>x</li>", "<table>", "<sub>2</sub>"):
        assert fragment in html
    assert '<th style="text-align:right">P</th>' in html


def test_terminal_view_labels_in_shown_order_and_reveals_no_answer():
    keyed, weighted = sample_items()
    view = render_item_for_terminal(keyed, ["E", "B", "A", "D", "C"])
    assert [o["label"] for o in view["options"]] == ["A", "B", "C", "D", "E"]
    assert [o["html"] for o in view["options"]] == [
        "<p>36</p>",
        "<p>32</p>",
        "<p>24</p>",
        "<p>28</p>",
        "<p>30</p>",
    ]
    assert set(view) == {"stem_html", "options"}
    assert all(set(o) == {"label", "html"} for o in view["options"])
    assert image_sources(view["stem_html"])[0].startswith("data:image/png;base64,")
    text = repr(render_item_for_terminal(weighted, list(weighted.options)))
    assert "4.5" not in text and "weight" not in text and "key" not in text


def test_terminal_view_refuses_an_order_that_is_not_a_permutation():
    keyed = sample_items()[0]
    for order in (["A", "B"], ["A", "A", "B", "C", "D"], ["A", "B", "C", "D", "Z"]):
        with pytest.raises(ValueError, match="not a permutation"):
            render_item_for_terminal(keyed, order)


def test_option_text_never_carries_the_authored_label_of_the_key():
    item = Item(
        id="Q", section="S", stem="s", options={"ChoiceA": "x", "ChoiceB": "y"}, key="ChoiceB"
    )
    view = render_item_for_terminal(item, ["ChoiceB", "ChoiceA"])
    assert "Choice" not in repr(view)
