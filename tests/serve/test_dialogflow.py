"""The Dialogflow ES webhook's answers to WebhookRequests in the documented format, from the registry."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from pipeline.serve.dialogflow import WebhookError, answer, basic_auth_ok
from pipeline.serve.registry import Registry


def request(intent: str, **params) -> dict:
    """A WebhookRequest as Dialogflow ES sends it (v2 API)."""
    return {
        "responseId": "response-id",
        "session": "projects/agent/agent/sessions/abc123",
        "queryResult": {
            "queryText": "who was last seen on camera door",
            "parameters": params,
            "allRequiredParamsPresent": True,
            "intent": {"name": "projects/agent/agent/intents/1", "displayName": intent},
            "intentDetectionConfidence": 1,
            "languageCode": "en",
        },
        "originalDetectIntentRequest": {"payload": {}},
    }


@pytest.fixture
def registry(tmp_path) -> Registry:
    r = Registry(f"sqlite:///{tmp_path}/r.db", "v1")
    for i, name in enumerate(["alice", "bob", "carol"]):
        r.enroll(name, np.eye(4, dtype=np.float32)[i : i + 1], ["s"])
    return r


def text_of(response: dict) -> str:
    assert response["fulfillmentMessages"][0]["text"]["text"][0] == response["fulfillmentText"]
    return response["fulfillmentText"]


def test_count(registry):
    assert text_of(answer(registry, request("people.count"))) == "3 people are enrolled."


def test_last_seen_and_anyone(registry):
    assert "Nobody known" in text_of(answer(registry, request("camera.last_seen", camera="door")))
    assert "Nobody has been seen on camera door" in text_of(answer(registry, request("camera.anyone", camera="door")))
    registry.record_sighting("door", "bob", 0.9)
    registry.record_sighting("garden", "alice", 0.8)
    registry.record_sighting("door", "unknown", 0.2)
    t = text_of(answer(registry, request("camera.last_seen", camera="door")))
    assert t.startswith("bob was last seen on camera door") and "seconds ago" in t
    assert text_of(answer(registry, request("camera.last_seen"))).startswith("alice was last seen on any camera")
    assert "someone I do not know" in text_of(answer(registry, request("camera.anyone", camera="door")))
    registry.delete("bob")  # deleting a person deletes their sightings too
    assert "Nobody known" in text_of(answer(registry, request("camera.last_seen", camera="door")))


def test_unknown_intent_and_bad_requests(registry):
    assert "cannot answer" in text_of(answer(registry, request("weather.today")))
    for bad in ({}, {"queryResult": []}, {"queryResult": {"intent": {}}}, [], "x"):
        with pytest.raises(WebhookError):
            answer(registry, bad)


def test_basic_auth():
    env = {"GAIT_DIALOGFLOW_USER": "df", "GAIT_DIALOGFLOW_PASSWORD": "pw"}
    good = "Basic " + base64.b64encode(b"df:pw").decode()
    assert basic_auth_ok(good, env)
    assert not basic_auth_ok("Basic " + base64.b64encode(b"df:no").decode(), env)
    assert not basic_auth_ok(None, env) and not basic_auth_ok("Bearer x", env) and not basic_auth_ok("Basic ***", env)
    assert basic_auth_ok(None, {})  # not configured
