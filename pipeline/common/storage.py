"""Where inputs live: local paths and `file://`, `s3://`, `gs://` URIs through one `pyarrow.fs` interface.

Discovery runs on the driver and decoding on workers, so every path handed on is a string that `resolve`
turns back into (filesystem, path) on any node: a plain absolute path for local files, a URI for object stores.
"""

from __future__ import annotations

import os
import re
import uuid
from urllib.parse import unquote, urlparse

import pyarrow.fs as pafs

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_stream(src: str) -> bool:
    """A live source, not a file: a camera index ("0", "1") or an rtsp/rtsps/http/https URL."""
    s = str(src).strip()
    return s.isdigit() or s.lower().startswith(STREAM_SCHEMES)


def resolve(uri_or_path: str | os.PathLike[str]) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path) for a local path, a `file://` URI, or any URI pyarrow knows (`s3://`, `gs://`, ...)."""
    s = os.fspath(uri_or_path)
    if s.lower().startswith("file://"):
        # Parsed here rather than by pyarrow, which rejects unescaped spaces in file URIs.
        parsed = urlparse(s)
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"file URI with a remote host is not supported: {s}")
        return pafs.LocalFileSystem(), os.path.abspath(unquote(parsed.path))
    if _URI.match(s):
        return pafs.FileSystem.from_uri(s)
    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(s))


def to_uri(fs: pafs.FileSystem, path: str) -> str:
    """A string that `resolve` maps back to (fs, path): the plain path for local files, scheme://path otherwise."""
    kind = fs.type_name
    if kind == "local":
        return path
    scheme = {"s3": "s3", "gcs": "gs"}.get(kind, kind)
    return f"{scheme}://{path.lstrip('/')}"


def is_remote(uri_or_path: str | os.PathLike[str]) -> bool:
    """Whether this names a non-local filesystem (`s3://`, `gs://`, ...), not a local path or a `file://` URI."""
    s = os.fspath(uri_or_path)
    return bool(_URI.match(s)) and not s.lower().startswith("file://")


def join(root: str, *parts: str) -> str:
    """`root/part/...` for pyarrow paths and URIs alike (no os.path: object-store paths always use "/")."""
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def copy_tree(
    src_fs: pafs.FileSystem,
    src: str,
    dst_fs: pafs.FileSystem,
    dst: str,
    *,
    last: str | None = None,
    skip: tuple[str, ...] = (),
    threads: int = 8,
) -> list[str]:
    """Copy every file below `src` to the same relative path below `dst` (relative names are returned).

    `last` (a relative name) is copied only once every other file is in place, so a reader that takes it as the
    mark of a complete directory never sees a partial one; `skip` leaves out top-level names (files or folders).
    Within one filesystem the copies are server-side (S3 CopyObject); between two they stream through here.
    """
    from concurrent.futures import ThreadPoolExecutor

    src, dst = src.rstrip("/"), dst.rstrip("/")
    rels = [f[len(src) + 1 :] for f in list_files(src_fs, src)]
    rels = [r for r in rels if r.split("/", 1)[0] not in skip]
    same = src_fs.type_name == dst_fs.type_name and src_fs.equals(dst_fs)
    local_dst = dst_fs.type_name == "local"

    def copy(rel: str) -> None:
        target = join(dst, rel)
        if local_dst:
            dst_fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        if same:
            dst_fs.copy_file(join(src, rel), target)
        else:
            pafs.copy_files(join(src, rel), target, source_filesystem=src_fs, destination_filesystem=dst_fs)

    first = [r for r in rels if r != last]
    with ThreadPoolExecutor(max(1, min(threads, len(first) or 1))) as pool:
        list(pool.map(copy, first))
    if last in rels:
        copy(last)
    return rels


def replace_dir(fs: pafs.FileSystem, staging: str, final: str, *, marker: str) -> None:
    """Put the complete directory `staging` at `final` (same filesystem); the old `final`, if any, goes.

    Locally two renames, the old one removed only once the new one is in place. Object stores have no rename,
    so readers must rely on `marker` (a relative file name they read as "complete"): the old marker is deleted
    first, then the rest of the old directory, the new files are copied in with the marker last, and the
    staging copy is deleted.
    """
    staging, final = staging.rstrip("/"), final.rstrip("/")
    if fs.type_name == "local":
        parent, name = final.rsplit("/", 1)
        old = f"{parent}/.{name}.old-{uuid.uuid4().hex[:8]}"
        if fs.get_file_info(final).type != pafs.FileType.NotFound:
            fs.move(final, old)
        fs.move(staging, final)
        if fs.get_file_info(old).type != pafs.FileType.NotFound:
            fs.delete_dir(old)
        return
    if fs.get_file_info(join(final, marker)).type == pafs.FileType.File:
        fs.delete_file(join(final, marker))
    if fs.get_file_info(final).type == pafs.FileType.Directory:
        fs.delete_dir_contents(final)
    copy_tree(fs, staging, fs, final, last=marker)
    fs.delete_dir(staging)


def list_files(fs: pafs.FileSystem, root: str) -> list[str]:
    """Every file below `root` (recursive), sorted; directories are left out."""
    return [i.path for i in list_file_infos(fs, root)]


def list_file_infos(fs: pafs.FileSystem, root: str) -> list[pafs.FileInfo]:
    """Every file below `root` (recursive) with its size and modification time, sorted by path."""
    infos = fs.get_file_info(pafs.FileSelector(root.rstrip("/") or "/", recursive=True))
    return sorted((i for i in infos if i.type == pafs.FileType.File), key=lambda i: i.path)


def exists(fs_or_uri: pafs.FileSystem | str, path: str | None = None) -> bool:
    """Whether a file or directory exists: `exists(fs, path)` or `exists(uri_or_path)`."""
    if isinstance(fs_or_uri, pafs.FileSystem):
        fs, p = fs_or_uri, path
        if p is None:
            raise TypeError("exists(fs, path) needs a path")
    else:
        fs, p = resolve(fs_or_uri)
    return fs.get_file_info(p).type != pafs.FileType.NotFound


def is_dir(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type == pafs.FileType.Directory


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as fh:
        return fh.read()
