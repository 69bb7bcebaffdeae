"""Where inputs live: local paths and `file://`, `s3://`, `gs://` URIs through one `pyarrow.fs` interface.

Discovery runs on the driver and decoding on workers, so every path handed on is a string that `resolve`
turns back into (filesystem, path) on any node: a plain absolute path for local files, a URI for object stores.
"""

from __future__ import annotations

import os
import re
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


def list_files(fs: pafs.FileSystem, root: str) -> list[str]:
    """Every file below `root` (recursive), sorted; directories are left out."""
    infos = fs.get_file_info(pafs.FileSelector(root.rstrip("/") or "/", recursive=True))
    return sorted(i.path for i in infos if i.type == pafs.FileType.File)


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
