"""The HTTP API on a real Ray Serve application (the tiny model), over real HTTP: every endpoint, the token
rules, clear errors for bad input, enrolment and deletion through the registry, and a fuzz of malformed
requests after which the server is still healthy."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pytest
import requests

from tests.data.conftest import read_frames, write_video
from tests.serve.conftest import AUTH, TOKEN
from tests.serve.test_dialogflow import request as webhook_request

NOT_AN_IMAGE = json.dumps({"frames": [base64.b64encode(b"no image").decode()]}).encode()
TRUNCATED = b'--xx\r\nContent-Disposition: form-data; name="video"'
PART = b'--b\r\nContent-Disposition: form-data; name="video"; filename="a.mp4"\r\n\r\n'


def _post_video(url: str, path: Path, **kw) -> requests.Response:
    return requests.post(url, data=path.read_bytes(), headers={"Content-Type": "video/mp4"}, timeout=120, **kw)


def _enrolled(server: str) -> list[str]:
    return [i["name"] for i in requests.get(f"{server}/identities", headers=AUTH, timeout=30).json()["identities"]]


def _erase(server: str, names: list[str]) -> None:
    """The registry is the session's: a test that enrols people erases them, so that no later test meets them."""
    for name in names:
        requests.delete(f"{server}/identities/{quote(name, safe='')}", headers=AUTH, timeout=30)


def test_health_and_docs(server):
    h = requests.get(f"{server}/health", timeout=30).json()
    assert h["status"] == "ok" and h["admin"] is True and h["model_version"]
    metrics = requests.get(f"{server}/metrics", timeout=30)
    assert metrics.status_code == 200 and "gait_http_requests_total" in metrics.text
    assert 'route="/health"' in metrics.text
    spec = requests.get(f"{server}/openapi.json", timeout=30).json()
    assert {"/identify", "/embed", "/pose", "/presence", "/identities", "/identities/{name}", "/health"} <= set(
        spec["paths"]
    )


def test_token_rules(server, videos):
    v = next(iter(videos.values()))[0]
    files = {"video": (v.name, v.read_bytes(), "video/mp4")}
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
        assert requests.get(f"{server}/identities", headers=headers, timeout=30).status_code == 401
        r = requests.post(f"{server}/identities", data={"name": "x"}, files=files, headers=headers, timeout=60)
        assert r.status_code == 401 and r.json()["error"]
        assert requests.delete(f"{server}/identities/x", headers=headers, timeout=30).status_code == 401
        assert requests.delete(f"{server}/identities/a/b", headers=headers, timeout=30).status_code == 401
        assert requests.delete(f"{server}/identities?id=1", headers=headers, timeout=30).status_code == 401


def test_enrol_identify_delete(server, videos):
    people = sorted(videos)[:2]
    try:
        _enrol_identify_delete(server, videos, people)
    finally:
        _erase(server, people)


def _enrol_identify_delete(server: str, videos: dict[str, list[Path]], people: list[str]) -> None:
    for person in people:
        files = [("video", (p.name, p.read_bytes(), "video/mp4")) for p in videos[person][:2]]
        r = requests.post(f"{server}/identities", data={"name": person}, files=files, headers=AUTH, timeout=120)
        assert r.status_code == 201, r.text
        assert r.json()["identity"] == person and r.json()["vectors"] >= 2
    assert set(_enrolled(server)) == set(people)

    probe = videos[people[0]][2]
    r = _post_video(f"{server}/identify?top_k=2", probe)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["identity"] in (*people, "unknown") and answer["clips"] >= 1
    assert [c["identity"] for c in answer["candidates"]] and len(answer["candidates"]) <= 2
    assert all(-1.0 <= c["similarity"] <= 1.0 for c in answer["candidates"])

    # the same walk as frames in JSON gives the same vector as the video
    cap = cv2.VideoCapture(str(probe))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(base64.b64encode(cv2.imencode(".png", frame)[1].tobytes()).decode())
    e_video = _post_video(f"{server}/embed", probe).json()
    e_frames = requests.post(f"{server}/embed", json={"frames": frames}, timeout=120).json()
    assert e_video["dimension"] == 16 and len(e_video["vector"]) == 16
    np.testing.assert_allclose(e_video["vector"], e_frames["vector"], atol=0.05)

    gone = requests.delete(f"{server}/identities/{people[0]}", headers=AUTH, timeout=30)
    assert gone.status_code == 200 and gone.json()["vectors"] >= 2
    assert requests.delete(f"{server}/identities/{people[0]}", headers=AUTH, timeout=30).status_code == 404
    after = _post_video(f"{server}/identify?top_k=5", probe).json()
    assert people[0] not in [c["identity"] for c in after["candidates"]]  # its SVM class and vectors are gone


def test_identify_answers_each_person_of_a_two_person_clip(server, videos, tmp_path):
    """Two people walking at once (two synthetic walks side by side, one in each half): each is found, tracked
    and identified on their own, with their boxes. Each is enrolled from the very walk shown, so the right
    answer is unambiguous even for the tests' tiny model, provided nobody else is enrolled: its vectors of two
    people differ by a cosine of about 0.01, and a third person left in the session's registry by the test above
    (enrolled from two walks) was once nearer to the left walker than their own walk (0.998)."""
    before = _enrolled(server)
    assert not before, f"enrolled before this test: {before}"
    left_subject, right_subject = sorted(videos)[3], sorted(videos)[4]
    walks = {}
    try:
        for name, subject in (("pair-left", left_subject), ("pair-right", right_subject)):
            walks[name] = [v for v in videos[subject] if v.stem.endswith("090")][-1]
            files = [("video", (walks[name].name, walks[name].read_bytes(), "video/mp4"))]
            r = requests.post(f"{server}/identities", data={"name": name}, files=files, headers=AUTH, timeout=120)
            assert r.status_code == 201, r.text
        left, right = read_frames(walks["pair-left"]), read_frames(walks["pair-right"])
        width = left[0].shape[1]
        clip = write_video(tmp_path / "two.mp4", [np.hstack([a, b]) for a, b in zip(left, right, strict=False)])
        r = _post_video(f"{server}/identify?top_k=3", clip)
        assert r.status_code == 200, r.text
        people = r.json()["people"]
        assert len(people) == 2, [(p["track_id"], p["first_frame"], p["last_frame"]) for p in people]
        people.sort(key=lambda p: np.median([b[1] for b in p["boxes"]]))
        assert [p["identity"] for p in people] == ["pair-left", "pair-right"], people
        for p, inside in zip(people, ((0, width), (width, 2 * width)), strict=True):
            boxes = np.array(p["boxes"])
            assert len(boxes) >= 8 and p["first_frame"] == boxes[0, 0] and p["last_frame"] == boxes[-1, 0]
            centres = (boxes[:, 1] + boxes[:, 3]) / 2
            assert ((centres > inside[0]) & (centres < inside[1])).all(), (p["identity"], centres)
        assert {p["track_id"] for p in people} == {people[0]["track_id"], people[1]["track_id"]}
        assert r.json()["identity"] == people[0]["identity"] or r.json()["identity"] == people[1]["identity"]
        # enrolment takes a video of one person: the two-person clip is refused, saying why
        files = [("video", ("two.mp4", clip.read_bytes(), "video/mp4"))]
        r = requests.post(f"{server}/identities", data={"name": "two"}, files=files, headers=AUTH, timeout=120)
        assert r.status_code == 422 and "2 people" in r.json()["error"]
    finally:
        _erase(server, list(walks))


def test_every_enrolled_name_can_be_erased(server, server_args, videos):
    """Names with `/`, `%` or dot segments: enrolled, listed with their ids, and erased over HTTP by name (a `/`
    URL-encoded or not) or by id (whatever the name); their vectors leave the registry."""
    from sqlalchemy import func, select

    from pipeline.serve.registry import Registry, audit, identities, vectors

    walk = videos[sorted(videos)[0]][0]
    ids, counts = {}, {}
    for name in ("ann/b", "c/d", "x%2Fy", "../ann", "ann"):
        files = [("video", (walk.name, walk.read_bytes(), "video/mp4"))]
        r = requests.post(f"{server}/identities", data={"name": name}, files=files, headers=AUTH, timeout=120)
        assert r.status_code == 201, r.text
        assert r.json()["identity"] == name and r.json()["vectors"] >= 1
        ids[name], counts[name] = r.json()["id"], r.json()["vectors"]
    listed = requests.get(f"{server}/identities", headers=AUTH, timeout=30).json()["identities"]
    assert {(p["name"], p["id"], p["vectors"]) for p in listed} >= {(n, ids[n], counts[n]) for n in ids}

    def delete(path: str) -> requests.Response:
        return requests.delete(f"{server}/identities{path}", headers=AUTH, timeout=30)

    # by name: a `/` unencoded or as %2F, a `%` as %25; "x%2Fy" sent unencoded means "x/y", nobody
    for name, path in (("ann/b", "/ann/b"), ("c/d", "/c%2Fd"), ("x%2Fy", "/" + quote("x%2Fy", safe=""))):
        if name == "x%2Fy":
            assert delete("/x%2Fy").status_code == 404
        gone = delete(path)
        assert gone.status_code == 200, gone.text
        assert gone.json() == {"deleted": name, "vectors": counts[name]}
        assert delete(path).status_code == 404
    # by id: the name does not matter ("../ann" as a path would be resolved away by a browser or urllib3)
    gone = delete(f"?id={ids['../ann']}")
    assert gone.status_code == 200, gone.text
    assert gone.json() == {"deleted": "../ann", "id": ids["../ann"], "vectors": counts["../ann"]}
    assert delete(f"?id={ids['../ann']}").status_code == 404
    for bad in ("", "?id=", "?id=abc", "?id=99999999999999999999999", "/"):
        assert delete(bad).status_code in (404, 422), bad
    left = set(_enrolled(server))
    assert "ann" in left and not left & {"ann/b", "c/d", "x%2Fy", "../ann"}

    registry = Registry(server_args.registry_url, "any")
    erased = [ids[n] for n in ("ann/b", "c/d", "x%2Fy", "../ann")]
    with registry.engine.connect() as conn:  # rows gone, not hidden: every model version, every table
        for column in (vectors.c.identity_id, identities.c.id):
            assert conn.execute(select(func.count()).where(column.in_(erased))).scalar() == 0, column
        logged = conn.execute(select(audit.c.identity).where(audit.c.action == "delete")).scalars().all()
    assert {"ann/b", "c/d", "x%2Fy", "../ann"} <= set(logged)
    assert delete(f"?id={ids['ann']}").json()["deleted"] == "ann"


def test_pose_and_presence(server, videos):
    cap = cv2.VideoCapture(str(next(iter(videos.values()))[0]))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 10)
    ok, frame = cap.read()
    assert ok
    png = cv2.imencode(".png", frame)[1].tobytes()
    pose = requests.post(f"{server}/pose", data=png, headers={"Content-Type": "image/png"}, timeout=60).json()
    assert len(pose["joints"]) == 16 and len(pose["joint_names"]) == 16
    pres = requests.post(f"{server}/presence", files={"image": ("f.png", png, "image/png")}, timeout=60).json()
    assert isinstance(pres["present"], bool) and 0.0 <= pres["probability"] <= 1.0


@pytest.mark.parametrize(
    ("path", "body", "ctype", "status"),
    [
        ("/identify", b"not a video at all", "video/mp4", 422),
        ("/identify", b"", "video/mp4", 422),
        ("/identify", b"hello", "text/plain", 415),
        ("/identify", b"{not json", "application/json", 422),
        ("/identify", json.dumps({"frames": "x"}).encode(), "application/json", 422),
        ("/identify", json.dumps({"frames": ["***"]}).encode(), "application/json", 422),
        (
            "/identify",
            json.dumps({"frames": [base64.b64encode(b"no image").decode()]}).encode(),
            "application/json",
            422,
        ),
        ("/identify?top_k=0", b"x", "video/mp4", 422),
        ("/identify?top_k=abc", b"x", "video/mp4", 422),
        ("/identify", b'--xx\r\nContent-Disposition: form-data; name="video"', "multipart/form-data; boundary=xx", 422),
        ("/pose", b"not an image", "image/png", 422),
        ("/pose", b"x", "video/mp4", 415),
        ("/presence", b"", "image/jpeg", 422),
        ("/embed", b"x" * (5 << 20), "video/mp4", 413),
    ],
)
def test_bad_input_gets_a_clear_json_error(server, path, body, ctype, status):
    r = requests.post(f"{server}{path}", data=body, headers={"Content-Type": ctype}, timeout=60)
    assert r.status_code == status, r.text
    assert r.json()["status"] == status and r.json()["error"]


def test_fuzz_never_500_and_stays_healthy(server):
    """1,000 malformed requests: random bytes, wrong types, huge JSON, truncated multipart."""
    rng = np.random.default_rng(0)
    paths = ["/identify", "/embed", "/pose", "/presence", "/identities", "/identities/x"]
    ctypes = ["video/mp4", "image/png", "application/json", "multipart/form-data; boundary=b", "text/plain", ""]
    statuses = set()
    with requests.Session() as s:
        for i in range(1000):
            kind = i % 5
            if kind == 0:
                body = rng.bytes(int(rng.integers(0, 4096)))
            elif kind == 1:
                body = json.dumps({"frames": [int(x) for x in rng.integers(0, 9, 5)], "top_k": "x"}).encode()
            elif kind == 2:
                body = b'{"frames": [' + b'"AAAA",' * int(rng.integers(1000, 20000)) + b'"A"]'
            elif kind == 3:
                body = b'--b\r\nContent-Disposition: form-data; name="video"; filename="a.mp4"\r\n\r\n' + rng.bytes(64)
            else:
                body = rng.bytes(16)
            path = paths[int(rng.integers(len(paths)))]
            method = s.delete if path == "/identities/x" and kind == 4 else s.post
            headers = {"Content-Type": ctypes[int(rng.integers(len(ctypes)))]}
            if i % 7 == 0:
                headers |= AUTH
            r = method(f"{server}{path}", data=body, headers=headers, timeout=60)
            statuses.add(r.status_code)
            assert r.status_code < 500 or r.status_code == 504, (path, headers, r.status_code, r.text[:200])
    assert requests.get(f"{server}/health", timeout=30).json()["status"] == "ok"
    assert statuses <= {401, 404, 405, 413, 415, 422}, statuses


def test_dialogflow_webhook_over_http(server, videos):
    probe = videos[sorted(videos)[2]][0]
    assert _post_video(f"{server}/identify?camera=door", probe).status_code == 200
    r = requests.post(f"{server}/dialogflow", json=webhook_request("camera.anyone", camera="door"), timeout=30)
    assert r.status_code == 200 and r.json()["fulfillmentText"].startswith("Yes, ")
    r = requests.post(f"{server}/dialogflow", json=webhook_request("people.count"), timeout=30)
    assert r.json()["fulfillmentText"].endswith("enrolled.")
    bad = requests.post(f"{server}/dialogflow", json={"queryResult": 3}, timeout=30)
    assert bad.status_code == 422 and bad.json()["error"]
