"""`results merge --database-url`: the national merge with its data in PostgreSQL writes the
very bytes the in-memory merge writes, and on a bad file or a registration seen twice it
writes nothing and leaves nothing in the database."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from cat_engine.testing import postgres_database
from item_bank import keys as keyfiles
from scoring.integrity.sample import sample_file
from tests.integrity.test_merge import invoke

ADMIN_URL = os.environ.get("CAT_ENGINE_TEST_POSTGRES_URL")

#: Formations with the special rule sets. In this (seeded) sample, DIS and PAPUA have tie
#: groups starting at ranks 90 and 42: their cuts (3 x 30, 3 x 14) fall inside them.
FORMATIONS = [("UMUM", "general", 4), ("CUM", "cum-laude", 2), ("DIS", "disability", 30),
              ("PAPUA", "papua", 14)]
#: Names a CSV must quote, and letters outside Latin-1.
NAMES = ["Budi, Santoso", 'Siti "Ani" Rahma', "Nguyễn Thị Ánh", "Дмитрий Соколов",
         "Ōshima Łukasz", "Wayan\tSudarsana"]


@pytest.fixture(scope="module")
def database():
    if not ADMIN_URL:
        pytest.skip("CAT_ENGINE_TEST_POSTGRES_URL not set")
    with postgres_database(ADMIN_URL) as url:
        yield url


@pytest.fixture
def sites(tmp_path):
    """Four sites' genuine signed files, their keys, and the formations table."""
    keys = tmp_path / "keys"
    keys.mkdir()
    files = []
    for index in range(4):
        key = Ed25519PrivateKey.generate()
        keyfiles.write_public_key(key, keys / f"site{index}.pub")
        path = tmp_path / f"site{index}.results"
        path.write_bytes(sample_file(key, index, 150, [(c, r) for c, r, _v in FORMATIONS],
                                     names=NAMES))
        files.append(path)
    table = tmp_path / "formations.csv"
    table.write_text("code,name,vacancies,rule_set\n" + "".join(
        f"{c},Formasi {c},{v},{r}\n" for c, r, v in FORMATIONS))
    return files, keys, table


def _schemas(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'merge\\_%' "
                "ORDER BY nspname"))]
    finally:
        engine.dispose()


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_postgres_writes_the_same_bytes_as_memory(sites, tmp_path, database):
    files, keys, table = sites
    args = [*files, "--formations", table, "--site-keys", keys]
    memory = invoke("results", "merge", *args, "--out", tmp_path / "memory")
    assert memory.exit_code == 0, memory.output
    before = _schemas(database)
    stored = invoke("results", "merge", *args, "--out", tmp_path / "pg",
                    "--database-url", database)
    assert stored.exit_code == 0, stored.output
    assert "600 candidates from 4 files" in stored.output
    # One process (no forked verifiers, no forked CSV writer): the same bytes again.
    single = invoke("results", "merge", *args, "--out", tmp_path / "single", "--jobs", "1")
    assert single.exit_code == 0, single.output
    a, b = _tree(tmp_path / "memory"), _tree(tmp_path / "pg")
    assert sorted(a) == sorted(b) and len(a) == 6 + 256
    for name in a:
        assert a[name] == b[name], f"{name} differs between memory and PostgreSQL"
    assert _tree(tmp_path / "single") == a
    # The inputs reach the cases that matter: a tie group across a cut, someone unranked,
    # names the CSV had to quote.
    rows = list(csv.DictReader((tmp_path / "pg" / "ranking.csv").open(encoding="utf-8")))
    assert any(r["tie_at_cut"] == "True" for r in rows)
    assert any(r["rank"] == "" for r in rows)
    assert {r["name"] for r in rows} == set(NAMES)
    # The run's data stays in its own schema, ranked.
    (schema,) = sorted(set(_schemas(database)) - set(before))
    assert f"schema {schema}" in stored.output
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            assert conn.execute(text(f'SELECT count(*) FROM "{schema}".ranked')).scalar() == 600
            assert conn.execute(text(
                f"SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}' "
                "AND tablename = 'candidates'")).scalar() == 0
    finally:
        engine.dispose()


def test_a_bad_file_writes_nothing_and_leaves_no_schema(sites, tmp_path, database):
    files, keys, table = sites
    raw = files[2].read_bytes()
    files[2].write_bytes(raw[:300] + (b"A" if raw[300:301] != b"A" else b"B") + raw[301:])
    before = _schemas(database)
    out = tmp_path / "national"
    result = invoke("results", "merge", *files, "--formations", table, "--site-keys", keys,
                    "--out", out, "--database-url", database)
    assert result.exit_code == 2, result.output
    assert f"{files[2]}: " in result.output and "nothing was merged" in result.output
    assert not out.exists()
    assert _schemas(database) == before
    assert not list(tmp_path.glob(".merge-*"))


def test_an_announcement_that_cannot_be_written_leaves_no_schema(sites, tmp_path, database):
    files, keys, table = sites
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    before = _schemas(database)
    result = invoke("results", "merge", *files, "--formations", table, "--site-keys", keys,
                    "--out", blocker / "national", "--database-url", database)
    assert result.exit_code == 2, result.output
    assert "cannot write" in result.output and "Traceback" not in result.output
    assert _schemas(database) == before


def test_a_registration_at_two_sites_is_refused_as_in_memory(sites, tmp_path, database):
    files, keys, table = sites
    # Site 0's file again under another site's key: every number of it sat twice.
    key = Ed25519PrivateKey.generate()
    keyfiles.write_public_key(key, keys / "copy.pub")
    copy = tmp_path / "copy.results"
    copy.write_bytes(sample_file(key, 0, 150, [(c, r) for c, r, _v in FORMATIONS], seed=9))
    args = [*files, copy, "--formations", table, "--site-keys", keys]
    before = _schemas(database)
    in_memory = invoke("results", "merge", *args, "--out", tmp_path / "m")
    stored = invoke("results", "merge", *args, "--out", tmp_path / "p",
                    "--database-url", database)
    assert in_memory.exit_code == stored.exit_code == 2
    assert "registration 0000000000000000 sat twice" in stored.output
    assert "... and 140 more" in stored.output
    assert stored.output == in_memory.output
    assert not (tmp_path / "m").exists() and not (tmp_path / "p").exists()
    assert _schemas(database) == before


def test_a_url_that_is_not_postgresql_is_refused(sites, tmp_path):
    files, keys, table = sites
    result = invoke("results", "merge", *files, "--formations", table, "--site-keys", keys,
                    "--out", tmp_path / "n", "--database-url", f"sqlite:///{tmp_path}/x.db")
    assert result.exit_code == 2 and "is not PostgreSQL" in result.output
    assert not (tmp_path / "n").exists()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_sql_ranks_as_numpy_does(database, data):
    """On any candidates (scores from a few values, so ties everywhere; any statuses and
    vacancies), the ranking PostgreSQL computes is the in-memory merge's: ranks, ties, the
    cut, the order, and what the page shards and the PDF read."""
    import numpy as np

    from cat_engine.services.announce import MemoryRanked, plain
    from cat_engine.services.national import NationalRun
    from scoring.exam import load_exam
    from scoring.integrity.merge import Formation, Part, merge

    exam = load_exam("skd")
    formations = [Formation(c, c, data.draw(st.integers(0, 3), label=f"vacancies {c}"), r)
                  for c, r in (("A", "general"), ("B", "disability"), ("C", None))]
    # The columns from a drawn seed: hypothesis's own lists stay short and alike, and ties
    # at a cut need a few dozen candidates.
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    parts, reg = [], 0
    for index in range(int(rng.integers(1, 4))):
        n = int(rng.integers(1, 30))

        def col(values, n=n):
            return rng.choice(np.asarray(values), n)
        parts.append(Part(
            f"f{index}", f"site{index}", "S1",
            np.asarray([f"R{reg + i:04d}" for i in range(n)]),
            np.asarray([f"N{reg + i}" for i in range(n)], dtype=object),
            col(["A", "B", "C"]), col(["finished", "finished", "absent"]).astype(object),
            {"TWK": col([60.0, 65.0]), "TIU": col([55.0, 80.0]), "TKP": col([160.0, 166.0])},
            np.asarray([f"CODE{reg + i}" for i in range(n)], dtype=object)))
        reg += n
    expected = MemoryRanked(merge(parts, formations, exam), chunk=7)
    with NationalRun(database, formations, 4) as run:
        for part in parts:
            run.load(part, exam)
        run.rank()
        got = run.ranked()

        def rows(source):
            whole = source.whole()
            return [plain(source, c, whole) for c in source.chunks()]

        def flat(chunks):
            return {k: [v for c in chunks for v in c[k]] for k in chunks[0]} if chunks else {}

        ranking = flat(rows(expected))
        assert len(ranking["registration"]) == reg
        assert flat(rows(got)) == ranking
        assert got.going_on_counts() == expected.going_on_counts()
        for (b1, c1), (b2, c2) in zip(got.shards(4), expected.shards(4), strict=True):
            assert b1 == b2
            assert plain(got, c1, got.whole()) == plain(expected, c2, expected.whole())
