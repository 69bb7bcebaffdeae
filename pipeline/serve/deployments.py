"""The two Ray Serve deployments behind the API: `Embedder` (clips → vectors, batched) and `Classifier`
(vectors → identities from the registry: nearest neighbours, the linear SVM, "unknown" under a threshold).

Each scales on its own: the embedder is the heavy one (a model on every frame; GPUs when asked), the classifier
is light and reads the registry. Enrolments reach every classifier replica without a restart: each one checks
the registry's generation before answering and reloads when it moved (the SVM is refitted in the background).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from ray import serve

from pipeline.common.model_dir import ModelInfo
from pipeline.identify.embed import load_embedder, mean_vector
from pipeline.identify.strangers import StrangerCheck
from pipeline.models.embedding import embed_clips_shared, set_threads
from pipeline.pose.estimate import PoseEstimator
from pipeline.serve.registry import Registry, seed_from_gallery
from pipeline.serve.svm_refit import SvmRefitter

LOG = logging.getLogger("ray.serve")


class Embedder:
    """Clips → unit vectors with the model directory's embedder; requests are batched by `@serve.batch`.
    `model_dir` may be a URI: each replica fetches it on its own node, through that node's cache."""

    def __init__(self, model_dir: str, threads: int = 0) -> None:
        set_threads(threads)
        self.info = ModelInfo(model_dir)
        self.model_dir = str(self.info.dir)  # the local copy: the pose and presence networks load from it later
        self.model = load_embedder(self.info.dir)
        self._pose: Any = None
        self._presence: Any = None

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def embed(self, requests: list[np.ndarray]) -> list[np.ndarray]:
        """Each request: clips [n, T, H, W(, C)] → its vectors [n, D]; the batch is one model call."""

        sizes = [len(r) for r in requests]
        vecs = embed_clips_shared(self.model, np.concatenate(requests))
        return list(np.split(vecs, np.cumsum(sizes)[:-1]))

    async def pose(self, frames_bgr: list[np.ndarray]) -> list[dict[str, Any]]:
        """Frames → the person's box and 16 joints per frame (x, y in frame pixels, confidence)."""

        if self._pose is None:
            self._pose = PoseEstimator(self.model_dir)
        return [
            {"box": None if r.box is None else [float(v) for v in r.box], "joints": r.joints.round(2).tolist()}
            for r in self._pose.estimate(frames_bgr)
        ]

    async def presence(self, frame_bgr: np.ndarray) -> float:
        """The probability that a person is in the frame (the presence network, on the whole frame)."""
        import cv2

        from pipeline.models.io import load_model

        if self._presence is None:
            self._presence = load_model(f"{self.model_dir}/presence/model.keras")
        size = tuple(self._presence.input_shape[1:3][::-1])
        x = cv2.cvtColor(cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        return float(np.asarray(self._presence(x[None].astype(np.float32) / 255.0, training=False))[0, 0])

    def version(self) -> str:
        return self.info.version


class Classifier:
    """Identities from the registry: per identity the best cosine similarity of the probe's mean vector to any
    of its vectors (nearest neighbour), the SVM's calibrated probability when 2+ identities have 2+ walks (fitted
    in the background, pipeline.serve.svm_refit: an answer never waits for it), and
    "unknown" when the best similarity is under the threshold: the one given, else the one `gait evaluate`
    measured for this model (strangers named at its target rate; pipeline.evaluate.open_set), else 0.5. That
    rate holds for an enrolment of the evaluation's size; each answer also says how often the threshold names a
    stranger against the people enrolled now (the evaluation's probes scored again: pipeline.identify.strangers)."""

    def __init__(self, registry_url: str, model_dir: str, threshold: float | None = None) -> None:
        self.info = ModelInfo(model_dir)
        self.registry = Registry(registry_url, self.info.version)
        self.generation = -1
        self.names: list[str] = []
        self.vectors = np.zeros((0, 0), np.float32)
        self.svm = SvmRefitter()  # fitted in the background: answers never wait for it
        self.strangers_named: dict[str, Any] | None = None  # each answer's; set per registry and threshold
        self.set_threshold(threshold)

    def reconfigure(self, config: dict[str, Any]) -> None:
        """`user_config` of the deployment, applied to live replicas by `serve deploy` (no restart): the
        open-set `threshold` (None: the model's measured one), and a `gallery` (a `gait index` output) whose
        labelled people are enrolled once; the next request reloads the vectors and starts the SVM's refit (every
        replica sees the registry's generation move)."""

        if "threshold" in config:
            self.set_threshold(config["threshold"])
        if config.get("gallery"):
            seed_from_gallery(self.registry, str(config["gallery"]))

    def set_threshold(self, threshold: float | None) -> None:
        """`threshold`, or with None the model's measured one, read now (an evaluation made since the replica
        started counts from the next reconfigure), or the default when it has none."""
        self.threshold, self.threshold_from = self.info.choose_threshold(threshold)
        try:
            self.cohort = self.info.strangers()
        except (OSError, ValueError, KeyError) as exc:  # an unreadable file beside the model costs the estimate only
            LOG.warning("the evaluation's strangers.parquet could not be read (%s); answers carry no estimate", exc)
            self.cohort = None
        self._check_strangers()

    def _check_strangers(self) -> None:
        """Score the evaluation's strangers against the people enrolled now (pipeline.identify.strangers), and
        say so in the log when this threshold names far more of them than the evaluation's target."""
        self.strangers_named = None
        if self.cohort is None or not self.names or self.vectors.shape[1] != self.cohort[0].shape[1]:
            return  # no evaluation kept, nobody enrolled, or vectors of another length than the evaluation's
        cohort, people, far = self.cohort
        check = StrangerCheck.of(cohort, people, self.vectors, self.names, far)
        if check is None:
            return
        said = self.strangers_named = check.describe(self.threshold)
        if said["estimate"] > 2 * far:
            LOG.warning(
                "at threshold %.4f about %.1f%% of strangers would be named against the %s (the target is %g%%); "
                "a threshold of %.4f would keep it",
                self.threshold,
                100 * said["estimate"],
                said["against"],
                100 * far,
                said["threshold_for_target"],
            )

    def _refresh(self) -> None:
        gen = self.registry.generation()
        if gen == self.generation:
            return
        names, vecs = self.registry.vectors()
        self.names, self.vectors = names, vecs
        self.svm.want(gen, vecs, names)
        self._check_strangers()
        self.generation = gen

    def identify(self, vectors: np.ndarray, top_k: int = 3) -> dict[str, Any]:
        self._refresh()
        probe = mean_vector(vectors)
        if not self.names:
            return {"identity": "unknown", "reason": "nobody is enrolled", "candidates": [], "similarity": None}
        sims = self.vectors @ probe
        best: dict[str, float] = {}
        for name, s in zip(self.names, sims.tolist(), strict=True):
            best[name] = max(best.get(name, -1.0), s)
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:top_k]
        probs: dict[str, float] = {}
        svm, _ = self.svm.current()  # the newest fit that has finished; its people only
        if svm is not None:
            p = svm.predict_proba(probe[None])[0]
            probs = {str(c): float(v) for c, v in zip(svm.classes, p, strict=True)}
        candidates = [
            {"identity": n, "similarity": round(s, 4), "svm_probability": round(probs[n], 4) if n in probs else None}
            for n, s in ranked
        ]
        top_name, top_sim = ranked[0]
        known = top_sim >= self.threshold
        return {
            "identity": top_name if known else "unknown",
            "similarity": round(top_sim, 4),
            "threshold": self.threshold,
            "threshold_from": self.threshold_from,
            # how often this threshold names a stranger against the people enrolled now (None: no evaluation kept)
            "strangers_named": self.strangers_named,
            "candidates": candidates,
        }

    def count(self) -> int:
        self._refresh()
        return len(set(self.names))
