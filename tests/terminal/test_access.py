"""A candidate whose accommodation asks for it is offered the items' catalog supports."""

from __future__ import annotations

import pytest

from item_bank.model import CatalogCard
from item_bank.render import terminal_access

pytestmark = pytest.mark.browser

EXAM = None  # built in the site fixture from the team's small exam

#: Replaces the platform's speech engine (headless chromium has no voice): records the text.
RECORD_SPEECH = """
window.__spoken = [];
Object.defineProperty(window, "speechSynthesis", {
  value: { speak: function (u) { window.__spoken.push(u.text); }, cancel: function () {} },
});
"""


def spoken_card(part: str, text: str, anchor: str = "") -> CatalogCard:
    return CatalogCard(part=part, catalog=f"c-{part}", support="spoken", html=text, text=text,
                       anchor=anchor)


def with_catalog(item):
    cards = (
        spoken_card("stem", f"Dengarkan baik-baik: soal {item.id[-1]}"),
        spoken_card("option:A", "pilihan pertama dibacakan"),
        CatalogCard(part="stem", catalog="c-stem", support="simplified-language",
                    html="<p>Pilih yang <b>benar</b>.</p>", text="Pilih yang benar."),
        CatalogCard(part="stem", catalog="c-stem", support="braille", html="⠃", text="⠃"),
    )
    return item.model_copy(update={"catalog": cards})


@pytest.fixture(scope="module")
def bank():
    from cat_engine.testing import fixture_items

    return [with_catalog(item) for item in
            fixture_items({"TWK": (6, "key"), "TIU": (6, "key"), "TKP": (8, "weights")})]


@pytest.fixture(scope="module")
def site(tmp_path_factory, bank):
    from cat_engine.testing import SMALL_EXAM, prepare_site

    folder = tmp_path_factory.mktemp("access-site")
    exam = folder / "exam.toml"
    exam.write_text(SMALL_EXAM.replace(
        "tunanetra = 3",
        'tunanetra = { minutes = 3, supports = ["spoken", "simplified-language"] }'))
    return prepare_site(folder / "site", candidates=2, exam=str(exam), items=bank,
                        accommodations={1: {"accommodation": "tunanetra"}})


@pytest.fixture(scope="module")
def server(site):
    from cat_engine.testing import ServerProcess

    with ServerProcess(site) as running:
        yield running


def test_the_accommodated_candidate_hears_the_catalog_and_sees_the_simpler_text(
        page, server, site, bank, start_exam_in_terminal):
    from playwright.sync_api import expect

    page.add_init_script(RECORD_SPEECH)
    registration = site.registrations[1]
    start_exam_in_terminal(page, server.url, registration, site.pins[registration], site.token)
    # The simpler text shows once the item has loaded.
    expect(page.locator("#item-access .alt-text")).to_have_text("Pilih yang benar.")
    stem = page.locator("#item-stem").inner_text()
    item = next(i for i in bank if i.stem == stem.strip())
    shown = page.locator("#item-options .option-html").all_inner_texts()
    page.click("#item-listen")
    spoken = page.evaluate("window.__spoken")
    options = [
        "pilihan pertama dibacakan" if text.strip() == item.options["A"] else text.strip()
        for text in shown
    ]
    assert spoken == [". ".join(
        [f"Dengarkan baik-baik: soal {item.id[-1]}"]
        + [f"Pilihan {letter}: {text}" for letter, text in zip("ABCDE", options, strict=True)]
    )]


def test_other_candidates_are_not_offered_the_supports(page, server, site,
                                                         start_exam_in_terminal):
    from playwright.sync_api import expect

    registration = site.registrations[0]
    start_exam_in_terminal(page, server.url, registration, site.pins[registration], site.token)
    expect(page.locator("#item-stem")).not_to_be_empty()
    expect(page.locator("#item-listen")).to_have_count(0)
    expect(page.locator(".alt-text")).to_have_count(0)


def test_terminal_access_follows_the_shown_order_and_the_supports_asked(bank) -> None:
    item = bank[0]
    access = terminal_access(item, (2, 0, 1, 3, 4), ("spoken",))
    assert access == {"spoken": {
        "stem": [["", f"Dengarkan baik-baik: soal {item.id[-1]}"]],
        "options": [[], [["", "pilihan pertama dibacakan"]], [], [], []],
    }}
    # Braille is kept with the item, but no terminal support gives it.
    assert terminal_access(item, (0, 1, 2, 3, 4), ()) == {}
    plain = item.model_copy(update={"catalog": ()})
    assert terminal_access(plain, (0, 1), ("simplified-language",)) == {}
    assert terminal_access(plain, (0, 1), ("spoken",))["spoken"]["stem"] == []
