"""The admin token: where it comes from, when the server refuses to start, constant-time comparison."""

from __future__ import annotations

import pytest

from pipeline.serve.auth import load_token, require_token_for_admin, token_matches

TOKEN = "s3cret-token-0123456789"


def test_token_from_env_or_file(tmp_path):
    assert load_token({"GAIT_TOKEN": TOKEN}) == TOKEN
    f = tmp_path / "token"
    f.write_text(TOKEN + "\n")
    assert load_token({"GAIT_TOKEN_FILE": str(f)}) == TOKEN
    assert load_token({}) is None
    with pytest.raises(ValueError):
        load_token({"GAIT_TOKEN": "short"})


def test_admin_needs_a_token():
    with pytest.raises(SystemExit):
        require_token_for_admin(None, admin=True)
    require_token_for_admin(None, admin=False)
    require_token_for_admin(TOKEN, admin=True)


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (f"Bearer {TOKEN}x", False),
        (f"Basic {TOKEN}", False),
        (TOKEN, False),
        ("", False),
        (None, False),
    ],
)
def test_token_matches(header, ok):
    assert token_matches(TOKEN, header) is ok
    assert token_matches(None, header) is False
