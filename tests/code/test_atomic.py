"""Atomic file output: whole files only, with the permissions an ordinary write would give them."""

from __future__ import annotations

import os
import stat

import pytest

from pipeline.common.atomic import atomic_write_bytes, atomic_write_json


def test_written_files_are_readable_like_ordinary_files(tmp_path):
    mask = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "metrics.json", {"rank1": 0.9})
        atomic_write_bytes(tmp_path / "report.html", b"<html>")
    finally:
        os.umask(mask)
    for name in ("metrics.json", "report.html"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
    assert (tmp_path / "report.html").read_bytes() == b"<html>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "report.html"]  # no temporary left


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "text, not bytes")  # fails while writing the temporary file
    assert '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
