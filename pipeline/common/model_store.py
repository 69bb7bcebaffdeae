"""Model directories at a URI (`s3://`, `gs://`, any `pyarrow.fs` filesystem) as well as on local disk.

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
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pyarrow.fs as pafs

from pipeline.ingest.storage import copy_tree, is_remote, join, read_bytes, replace_dir, resolve

VERSION_FILE = "version"  # as pipeline.models.io.VERSION_FILE (not imported: that module imports TensorFlow)
REPORTS_DIR = "evaluation"  # reports about the model kept beside it (pipeline.models.io.REPORTS_DIR): not fetched
_ATTEMPTS = 3


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
