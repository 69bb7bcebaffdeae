"""The identity registry on SQLite (embedded) and on a real MariaDB server: enrol, list, delete, audit,
all-or-nothing writes."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from pipeline.serve.registry import Registry, identities, vectors
from tests.serve.conftest import new_mariadb_database


def _vecs(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(params=["sqlite", "mariadb"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/registry.db"
    return new_mariadb_database(request.getfixturevalue("mariadb_server"))


@pytest.fixture
def registry(db_url) -> Registry:
    return Registry(db_url, "v1")


def test_enrol_list_vectors_delete(registry):
    g0 = registry.generation()
    a = registry.enroll("alice", _vecs(3, 0), ["a1", "a2", "a3"], actor="test")
    registry.enroll("bob", _vecs(2, 1), ["b1", "b2"])
    registry.enroll("alice", _vecs(1, 2), ["a4"])  # more walks of a known person: same identity
    assert a.name == "alice" and a.vectors == 3
    assert [(i.name, i.vectors) for i in registry.identities()] == [("alice", 4), ("bob", 2)]
    names, vecs = registry.vectors()
    assert names.count("alice") == 4 and vecs.shape == (6, 8)
    np.testing.assert_allclose(vecs[:3], _vecs(3, 0))
    assert registry.generation() == g0 + 3

    assert registry.delete("alice", actor="test") == 4
    assert [i.name for i in registry.identities()] == ["bob"]
    names, _ = registry.vectors()
    assert set(names) == {"bob"}  # the vectors are gone, not hidden
    with registry.engine.connect() as conn:
        left = conn.execute(select(func.count()).select_from(vectors).where(vectors.c.source.like("a%"))).scalar()
    assert left == 0
    log = registry.audit_log()
    assert [(r["action"], r["identity"]) for r in log] == [
        ("enroll", "alice"),
        ("enroll", "bob"),
        ("enroll", "alice"),
        ("delete", "alice"),
    ]
    assert all("vector" not in r for r in log)
    with pytest.raises(KeyError):
        registry.delete("alice")


def test_every_name_can_be_erased_by_id(registry):
    """Any printable name is enrolled (`/`, `%`, dot segments), and every identity can be erased by its id, which
    does not depend on how a name travels in a URL; by name works too."""
    odd = ["ann/b", "x%2Fy", "../ann", "a b"]
    ids = {n: registry.enroll(n, _vecs(2, i), [f"{n} 1", f"{n} 2"]).id for i, n in enumerate(odd)}
    assert len(set(ids.values())) == len(odd)
    assert registry.enroll("ann/b", _vecs(1, 9), ["again"]).id == ids["ann/b"]  # more walks: the same id
    assert {(i.name, i.id, i.vectors) for i in registry.identities()} == {
        (n, ids[n], 3 if n == "ann/b" else 2) for n in odd
    }

    assert registry.delete_id(ids["ann/b"], actor="test") == ("ann/b", 3)
    assert registry.delete_id(ids["../ann"]) == ("../ann", 2)
    assert registry.delete("x%2Fy") == 2
    with pytest.raises(KeyError):
        registry.delete_id(ids["ann/b"])
    with pytest.raises(KeyError):
        registry.delete("ann/b")
    assert [i.name for i in registry.identities()] == ["a b"]
    with registry.engine.connect() as conn:  # the rows are gone, not hidden
        gone = [ids[n] for n in ("ann/b", "../ann", "x%2Fy")]
        for column in (vectors.c.identity_id, identities.c.id):
            assert conn.execute(select(func.count()).where(column.in_(gone))).scalar() == 0, column
    assert set(registry.vectors()[0]) == {"a b"}
    deletions = [(r["identity"], r["actor"], r["detail"]) for r in registry.audit_log() if r["action"] == "delete"]
    assert deletions == [
        ("ann/b", "test", f"id {ids['ann/b']}, 3 vectors"),
        ("../ann", "api", f"id {ids['../ann']}, 2 vectors"),
        ("x%2Fy", "api", f"id {ids['x%2Fy']}, 2 vectors"),
    ]


def test_a_failed_enrolment_leaves_the_previous_state(registry):
    registry.enroll("bob", _vecs(2, 1), ["b1", "b2"])
    before = (registry.identities(), registry.vectors()[1].copy(), registry.generation(), registry.audit_log())

    class Boom:
        def __str__(self) -> str:  # fails while the rows are being written, after the identity row
            raise RuntimeError("crash mid-enrolment")

    with pytest.raises(RuntimeError):
        registry.enroll("carol", _vecs(2, 3), ["c1", Boom()])
    after = (registry.identities(), registry.vectors()[1], registry.generation(), registry.audit_log())
    assert after[0] == before[0] and after[2] == before[2] and after[3] == before[3]
    np.testing.assert_array_equal(after[1], before[1])


@pytest.mark.parametrize("name", ["", "   ", "x" * 129, "bad\nname", None, 7])
def test_names_are_checked(registry, name):
    with pytest.raises(ValueError):
        registry.enroll(name, _vecs(1, 0), ["s"])


def test_gallery_import_happens_once(registry):
    people = {"p1": (_vecs(2, 0), ["s1", "s2"]), "p2": (_vecs(2, 1), ["s3", "s4"])}
    assert registry.import_gallery("/g", people) is True
    registry.delete("p1")
    assert registry.import_gallery("/g", people) is False  # a restart does not bring p1 back
    assert [i.name for i in registry.identities()] == ["p2"]


def test_vectors_are_per_model_version(db_url):
    url = db_url
    Registry(url, "v1").enroll("alice", _vecs(2, 0), ["a", "b"])
    names, vecs = Registry(url, "v2").vectors()
    assert names == [] and vecs.shape[0] == 0
