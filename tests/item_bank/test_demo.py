"""The demo bank: sizes, determinism, distinct items, and keys checked by recomputation."""

from __future__ import annotations

import ast
import itertools
import operator
import re
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from item_bank.demo import KATA_BAKU, generate_demo_items, section_sizes
from item_bank.formats.images import sniff_media_type


@pytest.fixture(scope="module")
def bank():
    return generate_demo_items()


def key_text(item) -> str:
    return item.options[item.key]


def test_default_bank_holds_five_forms_of_each_section_all_distinct(bank):
    counts = Counter(item.section for item in bank)
    assert counts == {"TWK": 150, "TIU": 175, "TKP": 225}
    assert len({item.id for item in bank}) == len(bank)
    fingerprints = {
        (i.stem, frozenset(i.options.values()), frozenset(im.data for im in i.images)) for i in bank
    }
    assert len(fingerprints) == len(bank)


def test_every_section_has_several_topics_and_difficulties(bank):
    for section in ("TWK", "TIU", "TKP"):
        items = [i for i in bank if i.section == section]
        assert len({i.topic for i in items}) >= 5
        assert all(i.difficulty in {"mudah", "sedang", "sulit"} for i in items)
    tiu_topics = {i.topic for i in bank if i.section == "TIU"}
    assert {
        "deret angka",
        "aritmetika",
        "perbandingan kuantitatif",
        "silogisme",
        "figural",
    } <= tiu_topics


def test_deterministic_in_seed():
    assert generate_demo_items(300, seed=7) == generate_demo_items(300, seed=7)
    assert generate_demo_items(300, seed=7) != generate_demo_items(300, seed=8)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 5000))
def test_size_splits_like_a_form_and_adds_up(size):
    sizes = section_sizes(size)
    assert sum(sizes.values()) == size
    for section, share in {"TWK": 30, "TIU": 35, "TKP": 45}.items():
        assert abs(sizes[section] - size * share / 110) < 1


def test_a_scaled_bank_has_unique_ids_in_the_documented_shape():
    items = generate_demo_items(2000, seed=1)
    assert len(items) == 2000 and len({i.id for i in items}) == 2000
    assert all(re.fullmatch(r"(TWK|TIU|TKP)-\d{6}", i.id) for i in items)


def test_dichotomous_items_have_a_key_and_3pl_params_tkp_weights_1_to_5(bank):
    for item in bank:
        if item.section == "TKP":
            assert item.key is None and sorted(item.weights.values()) == [1, 2, 3, 4, 5]
            assert item.irt.model == "gpcm" and list(item.irt.thresholds) == sorted(
                item.irt.thresholds
            )
        else:
            assert item.key in item.options and item.weights is None
            assert item.irt.model == "3pl" and 0.3 <= item.irt.a <= 2.5
            assert -3 <= item.irt.b <= 3 and 0 < item.irt.c < 1 / len(item.options) + 1e-9
            assert len(set(item.options.values())) == len(item.options)


def test_difficulty_labels_order_the_irt_difficulty(bank):
    by_label = {label: [i.irt.b for i in bank if i.difficulty == label and i.irt.b is not None]
                for label in ("mudah", "sedang", "sulit")}  # fmt: skip
    means = {label: sum(b) / len(b) for label, b in by_label.items()}
    assert means["mudah"] < means["sedang"] < means["sulit"]


# Independent recomputation of every TIU key ------------------------------------------------
_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def evaluate(expression: str) -> Fraction:
    """Evaluate an Indonesian arithmetic expression: × for times, : for divided by, − minus."""
    text = expression.replace("×", "*").replace("−", "-").replace(":", "/")
    text = re.sub(r"(\d+)% dari (\d+)", r"(\1/100*\2)", text)
    text = re.sub(r"(\d+)/(\d+) dari (\d+)", r"(\1/\2*\3)", text)

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.BinOp):
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        assert isinstance(node, ast.Constant) and isinstance(node.value, int), ast.dump(node)
        return Fraction(node.value)

    return walk(ast.parse(text, mode="eval").body)


def next_term_candidates(terms: list[int]) -> set[Fraction]:
    """The continuations a candidate may defend: constant difference, constant ratio,
    constant second difference, two interleaved arithmetic series, sum of the last two."""
    t = [Fraction(x) for x in terms]
    d = [b - a for a, b in itertools.pairwise(t)]
    out = set()
    if len(set(d)) == 1:
        out.add(t[-1] + d[0])
    if 0 not in t and len({b / a for a, b in itertools.pairwise(t)}) == 1:
        out.add(t[-1] * t[-1] / t[-2])
    dd = [b - a for a, b in itertools.pairwise(d)]
    if len(set(dd)) == 1:
        out.add(t[-1] + d[-1] + dd[0])
    odd, even = t[0::2], t[1::2]
    if (
        len({b - a for a, b in itertools.pairwise(odd)}) == 1
        and len({b - a for a, b in itertools.pairwise(even)}) == 1
    ):
        out.add(odd[-1] + (odd[1] - odd[0]))  # six shown terms: the seventh is an "odd" one
    if all(t[i] == t[i - 1] + t[i - 2] for i in range(2, len(t))):
        out.add(t[-1] + t[-2])
    return out


def check_tiu(item) -> None:
    stem, answer = item.stem, key_text(item)
    if item.topic == "deret angka":
        terms = [int(x) for x in re.search(r"deret (.*), \.\.\.", stem).group(1).split(", ")]
        assert next_term_candidates(terms) == {Fraction(int(answer))}, stem
        assert all(int(v) != int(answer) for k, v in item.options.items() if k != item.key)
    elif item.topic == "aritmetika":
        if m := re.fullmatch(r"Sebuah mobil menempuh jarak (\d+) km dalam (\d+) jam\..*", stem):
            expected = Fraction(int(m[1]), int(m[2]))
        elif m := re.fullmatch(r"Jika (\d+)x \+ (\d+) = (\d+), maka nilai x adalah \.\.\.", stem):
            expected = Fraction(int(m[3]) - int(m[2]), int(m[1]))
        else:
            m = re.fullmatch(r"(?:Hasil dari |Nilai dari )?(.*?) adalah \.\.\.", stem)
            expected = evaluate(m[1])
        assert Fraction(int(answer)) == expected, stem
        assert len({int(v) for v in item.options.values()}) == len(item.options)
    elif item.topic == "perbandingan kuantitatif":
        m = re.fullmatch(r"Jika P = (.*) dan Q = (.*), maka hubungan P dan Q adalah \.\.\.", stem)
        p, q = evaluate(m[1]), evaluate(m[2])
        assert answer == ("P > Q" if p > q else "P < Q" if p < q else "P = Q"), stem
    elif item.topic == "silogisme":
        premises = stem.split("\n\n")[0]
        if m := re.fullmatch(r"Semua (.+?) (\S+ .+)\. (\w+) adalah \1\.", premises):
            assert answer == f"{m[3]} {m[2]}.", stem
        else:
            m = re.fullmatch(r"Jika (.+), maka (.+)\. (.+)\.", premises)
            p, q, fact = m[1], m[2], m[3]
            if fact.lower() == p.lower():  # modus ponens
                assert answer.lower() == q.lower() + "."
            else:  # modus tollens: the fact is not-q, the answer not-p
                assert "tidak" in fact and "tidak" in answer and answer[:-1].lower() != p.lower()
    elif item.topic == "figural":
        pattern = next(i for i in item.images if i.name == "pola.svg").data.decode()
        shown = [int(a) for a in re.findall(r"rotate\((-?\d+) 30 30\)", pattern)]
        steps = {(b - a) % 360 for a, b in itertools.pairwise(shown)}
        assert len(shown) == 4 and len(steps) == 1
        expected = (shown[-1] + steps.pop()) % 360
        name = re.search(r"\]\((.+?)\)", answer)[1]
        chosen = next(i for i in item.images if i.name == name).data.decode()
        assert int(re.search(r"rotate\((-?\d+) 30 30\)", chosen)[1]) == expected
        others = [next(i for i in item.images if i.name == re.search(r"\]\((.+?)\)", t)[1])
                  for k, t in item.options.items() if k != item.key]  # fmt: skip
        assert all(f"rotate({expected} 30 30)" not in o.data.decode() for o in others)
        assert all(sniff_media_type(i.data) == "image/svg+xml" for i in item.images)
    else:
        raise AssertionError(f"unknown TIU topic {item.topic}")


def test_every_tiu_key_is_correct_by_recomputation(bank):
    tiu = [i for i in bank if i.section == "TIU"] + [
        i for i in generate_demo_items(1500, seed=5) if i.section == "TIU"
    ]
    for item in tiu:
        check_tiu(item)


BAKU = {baku for baku, _ in KATA_BAKU}
TIDAK_BAKU = {tidak for _, tidak in KATA_BAKU}


def test_twk_facts_key_the_right_option(bank):
    sila = {
        "pertama": "Ketuhanan Yang Maha Esa",
        "ketiga": "Persatuan Indonesia",
        "kelima": "Keadilan sosial bagi seluruh rakyat Indonesia",
    }
    for item in bank:
        m = re.fullmatch(r"Bunyi sila (\w+) Pancasila adalah \.\.\.", item.stem)
        if m and m[1] in sila:
            assert key_text(item) == sila[m[1]]
        if item.stem == "Hari Pahlawan diperingati setiap tanggal ...":
            assert key_text(item) == "10 November"
        if item.stem == "Penulisan kata baku yang tepat adalah ...":
            assert key_text(item) in BAKU
            assert all(v in TIDAK_BAKU for k, v in item.options.items() if k != item.key)


def test_tkp_best_response_is_the_one_that_serves_and_reports(bank):
    # The 5-weight responses of the generator share this spirit; the 1-weight ones refuse.
    for item in bank:
        if item.section == "TKP":
            best = item.options[max(item.weights, key=item.weights.get)]
            worst = item.options[min(item.weights, key=item.weights.get)]
            assert best != worst and len(best) > 10
