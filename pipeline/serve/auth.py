"""The bearer token that guards enrolment, deletion and the list of identities.

Read from `GAIT_TOKEN`, or from the file named by `GAIT_TOKEN_FILE` (a Kubernetes or Docker secret), never
from the command line (it would show in `ps`). Compared in constant time.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

MIN_LENGTH = 16


def load_token(env: dict[str, str] | None = None) -> str | None:
    """The configured token, or None when there is none. A token file that is set but unreadable is an error."""
    env = dict(os.environ) if env is None else env
    token = env.get("GAIT_TOKEN")
    if not token and env.get("GAIT_TOKEN_FILE"):
        token = Path(env["GAIT_TOKEN_FILE"]).read_text().strip()
    if token and len(token) < MIN_LENGTH:
        raise ValueError(f"the admin token must be at least {MIN_LENGTH} characters")
    return token or None


def require_token_for_admin(token: str | None, admin: bool) -> None:
    """The server refuses to start with enrolment enabled and no token."""
    if admin and not token:
        raise SystemExit(
            "enrolment and deletion are enabled but no token is set: export GAIT_TOKEN (16+ characters) or "
            "GAIT_TOKEN_FILE, or start with --no-admin"
        )


def token_matches(expected: str | None, header: str | None) -> bool:
    """`Authorization: Bearer <token>` against the expected token, in constant time."""
    if not expected or not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())
