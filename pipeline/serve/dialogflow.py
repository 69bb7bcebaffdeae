"""Dialogflow ES fulfillment: a WebhookRequest (queryResult.intent.displayName, queryResult.parameters,
session) → a WebhookResponse (fulfillmentText, fulfillmentMessages), answered from the registry.

Intents (display names; a Dialogflow agent maps its phrases to them):
- `people.count`       "how many people are enrolled"
- `camera.last_seen`   "who was last seen on camera {camera}"   (parameter `camera`; any camera if empty)
- `camera.anyone`      "is anyone at the {camera}"              (seen in the last `minutes`, default 2)
Sightings come from `/identify?camera=NAME` (what `gait watch --camera NAME` sends). Dialogflow's optional
basic auth is checked when GAIT_DIALOGFLOW_USER and GAIT_DIALOGFLOW_PASSWORD are set.
"""

from __future__ import annotations

import base64
import hmac
import os
from typing import Any

from pipeline.serve.registry import Registry

RECENT_MINUTES = 2.0


class WebhookError(ValueError):
    """The body is not a Dialogflow WebhookRequest."""


def basic_auth_ok(header: str | None, env: dict[str, str] | None = None) -> bool:
    env = dict(os.environ) if env is None else env
    user, password = env.get("GAIT_DIALOGFLOW_USER"), env.get("GAIT_DIALOGFLOW_PASSWORD")
    if not user or not password:
        return True  # not configured: Dialogflow sends no credentials
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        got = base64.b64decode(given.strip(), validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(got, f"{user}:{password}".encode())


def parse(body: Any) -> tuple[str, dict[str, Any], str]:
    """(intent display name, parameters, session) of a WebhookRequest."""
    if not isinstance(body, dict) or not isinstance(body.get("queryResult"), dict):
        raise WebhookError("expected a Dialogflow WebhookRequest with a queryResult")
    qr = body["queryResult"]
    intent = qr.get("intent") or {}
    name = intent.get("displayName") if isinstance(intent, dict) else None
    if not isinstance(name, str) or not name:
        raise WebhookError("queryResult.intent.displayName is missing")
    params = qr.get("parameters") or {}
    if not isinstance(params, dict):
        raise WebhookError("queryResult.parameters must be an object")
    session = body.get("session", "")
    return name, params, session if isinstance(session, str) else ""


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)} seconds ago"
    if seconds < 5400:
        return f"{int(seconds // 60)} minutes ago"
    return f"{seconds / 3600:.1f} hours ago"


def answer(registry: Registry, body: Any) -> dict[str, Any]:
    """The WebhookResponse for `body`."""
    intent, params, _session = parse(body)
    camera = str(params.get("camera") or "").strip()
    where = f"on camera {camera}" if camera else "on any camera"
    if intent == "people.count":
        n = len(registry.identities())
        text = f"{n} {'person is' if n == 1 else 'people are'} enrolled."
    elif intent == "camera.last_seen":
        seen = registry.last_sighting(camera or None, known_only=True)
        text = (
            f"Nobody known has been seen {where}."
            if seen is None
            else f"{seen['identity']} was last seen {where}, {_ago(seen['seconds_ago'])}."
        )
    elif intent == "camera.anyone":
        try:
            minutes = float(params.get("minutes") or RECENT_MINUTES)
        except (TypeError, ValueError):
            minutes = RECENT_MINUTES
        seen = registry.last_sighting(camera or None)
        if seen is None or seen["seconds_ago"] > minutes * 60:
            text = f"Nobody has been seen {where} in the last {minutes:g} minutes."
        elif seen["identity"] == "unknown":
            text = f"Yes, someone I do not know, {_ago(seen['seconds_ago'])} {where}."
        else:
            text = f"Yes, {seen['identity']}, {_ago(seen['seconds_ago'])} {where}."
    else:
        text = f"I cannot answer the intent {intent!r} yet."
    return {"fulfillmentText": text, "fulfillmentMessages": [{"text": {"text": [text]}}], "source": "gait"}
