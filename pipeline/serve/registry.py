"""The identity registry: who is enrolled, their vectors, and an audit log of enrolments and deletions, in SQL.

A SQLite file by default (embedded, nothing to run), MySQL/MariaDB by URL (`mysql+pymysql://user:pw@host/db`).
Gait vectors identify people, so they are personal data: deleting an identity deletes its vectors in the same
transaction (by name, or by the identity's id, which works whatever the name), and the audit log keeps what was
done, when and by whom, never a vector. Every change is one transaction and bumps `generation`, which serving
replicas poll to pick up a new gallery without a restart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from pipeline.identify.gallery import MEAN_ROW, read_gallery
from pipeline.identify.gallery import vectors as gallery_vectors

NAME_MAX = 128

metadata = MetaData()
identities = Table(
    "identities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(NAME_MAX), nullable=False, unique=True),
    Column("created_at", DateTime(), nullable=False),
)
vectors = Table(
    "vectors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("identity_id", Integer, ForeignKey("identities.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("model_version", String(64), nullable=False),
    Column("source", String(256), nullable=False),
    Column("vector", LargeBinary, nullable=False),  # float32, little-endian
)
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(), nullable=False),
    Column("action", String(16), nullable=False),  # enroll, delete
    Column("identity", String(NAME_MAX), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("detail", String(512), nullable=False),
)
sightings = Table(
    "sightings",  # who a camera saw when (for "who was last seen on camera X"); kept SIGHTINGS_DAYS days
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(), nullable=False, index=True),
    Column("camera", String(64), nullable=False, index=True),
    Column("identity", String(NAME_MAX), nullable=False),  # a name or "unknown"
    Column("similarity", Float, nullable=True),
)
SIGHTINGS_DAYS = 7
imports = Table(
    "gallery_imports",  # galleries already enrolled: a restart does not bring back people deleted since
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("gallery", String(512), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("at", DateTime(), nullable=False),
    UniqueConstraint("gallery", "model_version"),  # two replicas importing at once: one wins
)
state = Table(
    "registry_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", Integer, nullable=False),
)


@dataclass(frozen=True)
class Identity:
    name: str
    vectors: int
    created_at: str
    id: int  # stable for the identity's lifetime: deletion by id works whatever characters the name has


def _now() -> dt.datetime:
    """UTC without a zone: what SQLite and MySQL DATETIME columns both keep as given."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def valid_name(name: Any) -> str:
    """A name is 1–128 printable characters; anything else is a client error, never stored. Any printable
    character may be in a name (`/`, `%`, `..`), so erasure never depends on one: `delete_id` takes the id."""
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX or not name.isprintable():
        raise ValueError(f"an identity name is 1 to {NAME_MAX} printable characters")
    return name.strip()


class Registry:
    """Identities and their vectors for one model version, in the database at `url`."""

    def __init__(self, url: str, model_version: str) -> None:
        self.url = url
        self.model_version = model_version
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            if conn.execute(select(state.c.generation).where(state.c.id == 1)).scalar() is None:
                conn.execute(insert(state).values(id=1, generation=0))

    def generation(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(state.c.generation).where(state.c.id == 1)).scalar_one())

    def enroll(self, name: str, vecs: np.ndarray, sources: list[str], actor: str = "api") -> Identity:
        """Add vectors to `name` (created if new), all or nothing."""
        with self.engine.begin() as conn:
            self._enroll(conn, name, vecs, sources, actor)
        return next(i for i in self.identities() if i.name == valid_name(name))

    def import_gallery(self, gallery: str, people: dict[str, tuple[np.ndarray, list[str]]]) -> bool:
        """Enrol `people` (name → vectors, sources) from `gallery` once per model version, in one transaction;
        False when that gallery was imported before (people deleted since stay deleted)."""
        try:
            with self.engine.begin() as conn:
                # The marker first: a second importer (another replica starting) conflicts here and rolls back.
                conn.execute(insert(imports).values(gallery=gallery, model_version=self.model_version, at=_now()))
                for name, (vecs, srcs) in sorted(people.items()):
                    self._enroll(conn, name, vecs, srcs, f"gallery {gallery}"[:128])
        except IntegrityError:
            return False
        return True

    def _enroll(self, conn: Any, name: str, vecs: np.ndarray, sources: list[str], actor: str) -> None:
        name = valid_name(name)
        vecs = np.asarray(vecs, np.float32)
        if vecs.ndim != 2 or len(vecs) == 0 or len(sources) != len(vecs):
            raise ValueError("enrolment needs one or more vectors, each with its source")
        ident = conn.execute(select(identities.c.id).where(identities.c.name == name)).scalar()
        if ident is None:
            ident = conn.execute(insert(identities).values(name=name, created_at=_now())).inserted_primary_key[0]
        conn.execute(
            insert(vectors),
            [
                {
                    "identity_id": ident,
                    "model_version": self.model_version,
                    "source": str(src)[:256],
                    "vector": v.astype("<f4").tobytes(),
                }
                for v, src in zip(vecs, sources, strict=True)
            ],
        )
        conn.execute(
            insert(audit).values(
                at=_now(), action="enroll", identity=name, actor=actor[:128], detail=f"{len(vecs)} vectors"
            )
        )
        self._bump(conn)

    def delete(self, name: str, actor: str = "api") -> int:
        """Remove `name` and every vector of it; returns how many vectors went. KeyError if unknown."""
        name = valid_name(name)
        with self.engine.begin() as conn:
            ident = conn.execute(select(identities.c.id).where(identities.c.name == name)).scalar()
            if ident is None:
                raise KeyError(name)
            return self._delete(conn, int(ident), name, actor)

    def delete_id(self, ident: int, actor: str = "api") -> tuple[str, int]:
        """Remove identity `ident` (its `Identity.id`) and every vector of it, whatever its name; returns
        (name, vectors gone). KeyError if unknown. Erasure that never depends on how a name travels in a URL."""
        with self.engine.begin() as conn:
            name = conn.execute(select(identities.c.name).where(identities.c.id == ident)).scalar()
            if name is None:
                raise KeyError(ident)
            return name, self._delete(conn, ident, name, actor)

    def _delete(self, conn: Any, ident: int, name: str, actor: str) -> int:
        gone = conn.execute(delete(vectors).where(vectors.c.identity_id == ident)).rowcount
        conn.execute(delete(identities).where(identities.c.id == ident))
        conn.execute(delete(sightings).where(sightings.c.identity == name))
        conn.execute(
            insert(audit).values(
                at=_now(), action="delete", identity=name, actor=actor[:128], detail=f"id {ident}, {gone} vectors"
            )
        )
        self._bump(conn)
        return int(gone)

    def identities(self) -> list[Identity]:
        q = (
            select(identities.c.id, identities.c.name, identities.c.created_at, func.count(vectors.c.id))
            .select_from(identities.outerjoin(vectors))
            .group_by(identities.c.id, identities.c.name, identities.c.created_at)
            .order_by(identities.c.name, identities.c.id)
        )
        with self.engine.connect() as conn:
            return [Identity(n, int(c), t.isoformat() + "Z", int(i)) for i, n, t, c in conn.execute(q)]

    def vectors(self) -> tuple[list[str], np.ndarray]:
        """(name per vector, vectors [N, D]) of this model version."""
        q = (
            select(identities.c.name, vectors.c.vector)
            .join(identities)
            .where(vectors.c.model_version == self.model_version)
            .order_by(vectors.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        if not rows:
            return [], np.zeros((0, 0), np.float32)
        return [r[0] for r in rows], np.stack([np.frombuffer(r[1], "<f4") for r in rows]).astype(np.float32)

    def record_sighting(self, camera: str, identity: str, similarity: float | None) -> None:
        """A camera's identification; sightings older than SIGHTINGS_DAYS go in the same transaction."""
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(delete(sightings).where(sightings.c.at < now - dt.timedelta(days=SIGHTINGS_DAYS)))
            conn.execute(
                insert(sightings).values(
                    at=now, camera=camera[:64], identity=identity[:NAME_MAX], similarity=similarity
                )
            )

    def last_sighting(self, camera: str | None = None, known_only: bool = False) -> dict[str, Any] | None:
        q = select(sightings).order_by(sightings.c.id.desc()).limit(1)
        if camera:
            q = q.where(sightings.c.camera == camera)
        if known_only:
            q = q.where(sightings.c.identity != "unknown")
        with self.engine.connect() as conn:
            row = conn.execute(q).mappings().first()
        if row is None:
            return None
        return dict(row) | {"seconds_ago": (_now() - row["at"]).total_seconds()}

    def audit_log(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit).order_by(audit.c.id)).mappings().all()
        return [dict(r) | {"at": r["at"].isoformat() + "Z"} for r in rows]

    def _bump(self, conn: Any) -> None:
        conn.execute(update(state).where(state.c.id == 1).values(generation=state.c.generation + 1))


def seed_from_gallery(registry: Registry, gallery: str, leave_out: frozenset[str] = frozenset()) -> bool:
    """Enrol the labelled sequences of a `gait index` gallery (their mean vectors), once; sources in
    `leave_out` are not enrolled (the demo keeps its probe out)."""

    t = read_gallery(gallery, model_version=registry.model_version)
    t = t.filter(t["clip_index"].to_numpy() == MEAN_ROW)
    people: dict[str, tuple[list[np.ndarray], list[str]]] = {}
    vecs = gallery_vectors(t) if len(t) else np.zeros((0, 0), np.float32)
    for i, (subject, source) in enumerate(zip(t["subject"].to_pylist(), t["source"].to_pylist(), strict=True)):
        if subject and source not in leave_out:
            v, s = people.setdefault(str(subject), ([], []))
            v.append(vecs[i])
            s.append(str(source))
    return registry.import_gallery(gallery, {n: (np.stack(v), s) for n, (v, s) in people.items()})


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Foreign keys on (SQLite leaves them off), and a busy timeout so two replicas can share the file."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
