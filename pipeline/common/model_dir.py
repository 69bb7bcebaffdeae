"""The model directory `gait train` writes: its layout, its content version, and publishing and reading it at a URI.

Every stage that reads a model (index, evaluate, serve, pose) and the one that writes it (train) go through this
module, which imports no TensorFlow: the `.keras` files inside are loaded by `pipeline.models.io`.

Layout: pose/model.keras (stage 1, absent for silhouette models), gait/model.keras (the embedder),
presence/model.keras, config.json (the training config, input shapes and classes), metrics.json, history.csv,
curves.png, evaluation/ (reports written beside the model, not part of it) and `version`, written last.

At a URI (`s3://`, `gs://`, any `pyarrow.fs` filesystem) as well as on local disk.

Why: on a cluster the model is trained on one node and read by index and evaluation actors and Serve replicas on
others, so it has to live where every node can read it. Object stores have no rename, so a model cannot be
swapped in whole there as `gait train` does on disk: `publish` deletes the old `version` first, uploads every
other file, and writes `version` LAST. A reader that finds a `version` therefore finds the complete model it
names. TensorFlow loads from local files, so `local_model` keeps one downloaded copy per URI and version in a
local cache: fetched once per node, fetched again only when the remote `version` changes, and renamed into
place complete, so concurrent readers (replicas, actors) never see a half-downloaded copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.common.atomic import atomic_write_bytes
from pipeline.common.storage import copy_tree, is_remote, join, read_bytes, replace_dir, resolve

VERSION_FILE = "version"  # the content hash of everything else; written last, so its presence marks a whole model
DEFAULT_OPEN_SET_THRESHOLD = 0.5  # cosine similarity; only for a model that `gait evaluate` has not measured
REPORTS_DIR = "evaluation"  # reports about the model kept beside it: not part of it, not hashed, not fetched
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"  # one row per stage and epoch
STRANGERS_FILE = "strangers.parquet"  # in REPORTS_DIR: the evaluation's probe vectors, the endpoint's strangers
CURVES_FILE = "curves.png"  # the training curves
_ATTEMPTS = 3
_CHUNK = 1 << 20


def model_file(model_dir: str | os.PathLike[str], part: str) -> Path:
    """The `.keras` file of one part of a local model directory: pose, gait or presence."""
    if part not in ("pose", "gait", "presence"):
        raise ValueError(f"a model directory has pose, gait and presence parts, not {part!r}")
    return Path(model_dir) / part / "model.keras"


def read_config(model_dir: str | os.PathLike[str]) -> dict:
    """config.json of a local model directory: the training config, input shapes, classes."""
    return json.loads((Path(model_dir) / CONFIG_FILE).read_text())


def is_complete(model_dir: str | os.PathLike[str]) -> bool:
    """A local directory holding a whole model: its `version` and its embedder are there."""
    return (Path(model_dir) / VERSION_FILE).is_file() and model_file(model_dir, "gait").is_file()


def directory_version(path: str | os.PathLike[str]) -> str:
    """A content hash of a directory: sha256 over the sorted relative names and bytes of every file under it,
    first 16 hex characters. A top-level `version` file is left out, so the hash of a model directory can be
    written into it and checked later, and so are the evaluation reports kept beside the model."""
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(str(root))
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for rel, file in files:
        if rel == VERSION_FILE or rel.startswith(REPORTS_DIR + "/"):
            continue
        digest.update(rel.encode() + b"\0" + file.stat().st_size.to_bytes(8, "big"))
        with file.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    """Where downloaded models are kept: `$GAIT_CACHE`, else `~/.cache/gait/models`."""
    env = os.environ.get("GAIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gait" / "models"


def remote_version(uri: str) -> str | None:
    """The `version` of the model at `uri` (None while there is none: absent, or being published)."""
    fs, path = resolve(uri)
    try:
        return read_bytes(fs, join(path, VERSION_FILE)).decode().strip() or None
    except FileNotFoundError:
        return None


def upload_dir(local_dir: str | os.PathLike[str], uri: str | os.PathLike[str], *, marker: str) -> None:
    """Put the local directory `local_dir` at `uri` in place of what is there, `marker` (a file readers take as
    the mark of a complete directory) deleted first and written last. Local targets (a path, `file://`) are
    copied beside the target and swapped in by renames."""
    src = str(Path(local_dir).absolute())
    fs, dst = resolve(uri)
    dst = dst.rstrip("/")
    local = pafs.LocalFileSystem()
    if fs.type_name == "local":
        staging = f"{os.path.dirname(dst)}/.{os.path.basename(dst)}.upload-{uuid.uuid4().hex[:8]}"
        try:
            copy_tree(local, src, fs, staging)
            replace_dir(fs, staging, dst, marker=marker)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return
    if fs.get_file_info(join(dst, marker)).type == pafs.FileType.File:
        fs.delete_file(join(dst, marker))  # from here on readers see no (or an incomplete) directory
    if fs.get_file_info(dst).type == pafs.FileType.Directory:
        fs.delete_dir_contents(dst)
    copy_tree(local, src, fs, dst, last=marker)


def publish(local_dir: str | os.PathLike[str], uri: str | os.PathLike[str]) -> str:
    """Upload the complete model directory `local_dir` to `uri`, replacing what is there; returns its version.
    On an object store the old `version` is deleted first and the new one written LAST (see the module's doc)."""
    version_file = Path(local_dir) / VERSION_FILE
    if not version_file.is_file():
        raise FileNotFoundError(f"{local_dir} is not a complete model directory (no {VERSION_FILE} file)")
    upload_dir(local_dir, uri, marker=VERSION_FILE)
    return version_file.read_text().strip()


def _cache_dir(uri: str, version: str) -> Path:
    key = hashlib.sha256(f"{uri.rstrip('/')}\n{version}".encode()).hexdigest()[:24]
    return cache_root() / key


def _download(uri: str, dest: Path) -> None:
    """Every file of the model at `uri` (its reports left out) into the new local directory `dest`."""
    fs, path = resolve(uri)
    copy_tree(fs, path, pafs.LocalFileSystem(), str(dest), skip=(REPORTS_DIR,))


def local_model(uri_or_path: str | os.PathLike[str]) -> Path:
    """A local directory holding the model: a local path (or `file://` URI) as it is; a remote URI through the
    cache, downloaded only when no copy of its current `version` is there."""
    if not is_remote(uri_or_path):
        s = os.fspath(uri_or_path)
        return Path(resolve(s)[1]) if s.lower().startswith("file://") else Path(s)
    uri = os.fspath(uri_or_path).rstrip("/")
    for _ in range(_ATTEMPTS):
        version = remote_version(uri)
        if version is None:
            raise FileNotFoundError(
                f"{uri} is not a complete model directory (no {VERSION_FILE}: absent or being published)"
            )
        final = _cache_dir(uri, version)
        if (final / VERSION_FILE).is_file():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        try:
            try:
                _download(uri, tmp)
            except FileNotFoundError:  # a file went while we listed or read: being published again
                continue
            got = (tmp / VERSION_FILE).read_text().strip() if (tmp / VERSION_FILE).is_file() else None
            if got != version or remote_version(uri) != version:
                continue  # published again while we downloaded: the files may be of two versions; start over
            tmp.chmod(0o755)  # mkdtemp's 0700 would keep other users of a shared cache out
            try:
                os.rename(tmp, final)
            except OSError:  # another process put the same version there first
                if not (final / VERSION_FILE).is_file():
                    raise
            return final
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    raise RuntimeError(f"{uri} changed on every one of {_ATTEMPTS} downloads; is it being published in a loop?")


class ModelInfo:
    """What downstream stages need from a model directory: its version, input column and clip shape.

    `model_dir` is a local path or a URI (`s3://`, `gs://`): `dir` is then the local cached copy
    and `uri` what to hand to actors and replicas on other nodes."""

    def __init__(self, model_dir: str | Path) -> None:
        self.dir = local_model(model_dir)
        self.uri = os.fspath(model_dir) if is_remote(model_dir) else str(self.dir.absolute())
        if not is_complete(self.dir):
            raise FileNotFoundError(f"{model_dir} is not a complete model directory (gait/model.keras, version)")
        self.version = (self.dir / VERSION_FILE).read_text().strip()
        self.config = read_config(self.dir)
        self.column = self.config["column"]  # frames (HumanPoseNN first) or silhouettes
        w, h = self.config["input_size"]
        self.clip_shape = (
            (self.config["clip_len"], h, w, 3) if self.column == "frames" else (self.config["clip_len"], h, w)
        )
        self.preprocess = self.config["preprocess"]

    def open_set_threshold(self) -> tuple[float, str] | None:
        """The serving endpoint's threshold that `gait evaluate` measured for this version of the model, and
        what it was chosen on (REPORTS_DIR/metrics.json, `methods.network.open_set`); None before then."""
        fs, path = resolve(join(self.uri, REPORTS_DIR, "metrics.json"))
        try:
            metrics = json.loads(read_bytes(fs, path))
        except FileNotFoundError:
            return None
        chosen = metrics.get("methods", {}).get("network", {}).get("open_set", {})
        if metrics.get("model_version") != self.version or "threshold" not in chosen:
            return None
        why = f"gait evaluate: {100 * chosen['target_far']:g}% of strangers named, on {chosen['threshold_from']}"
        return float(chosen["threshold"]), why

    def strangers(self) -> tuple[np.ndarray, np.ndarray, float] | None:
        """The evaluation's probe vectors, their people and the target false-accept rate, for this version of the
        model (`write_strangers`); None before an evaluation that kept them. The serving Classifier scores them
        against its registry (pipeline.identify.strangers)."""
        fs, path = resolve(join(self.uri, REPORTS_DIR, STRANGERS_FILE))
        try:
            table = pq.read_table(pa.BufferReader(read_bytes(fs, path)))
        except FileNotFoundError:
            return None
        meta = table.schema.metadata or {}
        if meta.get(b"model_version", b"").decode() != self.version:  # kept by another version of the model
            return None
        vectors = np.asarray(table["vector"].combine_chunks().flatten().to_numpy(), np.float32)
        people = np.asarray(table["subject"].to_pylist(), dtype=str)
        return vectors.reshape(len(people), -1), people, float(meta[b"target_far"].decode())

    def choose_threshold(
        self, given: float | None = None, given_by: str = "set for this deployment"
    ) -> tuple[float, str]:
        """The open-set threshold to answer by, and why: the one given, else the measured one (read now), else
        DEFAULT_OPEN_SET_THRESHOLD."""
        if given is not None:
            return float(given), given_by
        return self.open_set_threshold() or (
            DEFAULT_OPEN_SET_THRESHOLD,
            "the default: this model has no evaluation (gait evaluate measures one)",
        )


def write_strangers(
    out_dir: str | os.PathLike[str], vectors: np.ndarray, people: np.ndarray, version: str, far: float
) -> Path:
    """The evaluation's probe vectors (one per sequence) and their people, for `ModelInfo.strangers`: numbers
    and names only (Parquet), written whole or not at all."""
    v = np.ascontiguousarray(vectors, np.float32)
    table = pa.table(
        {
            "subject": pa.array(np.asarray(people).astype(str).tolist(), pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), v.shape[1]),
        }
    ).replace_schema_metadata({"model_version": version, "target_far": repr(float(far))})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    path = Path(out_dir) / STRANGERS_FILE
    atomic_write_bytes(path, sink.getvalue().to_pybytes())
    return path
