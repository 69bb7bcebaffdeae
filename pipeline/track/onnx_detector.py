"""A learned person detector the user brings: a YOLO-family ONNX export, run on the CPU by onnxruntime.

Learned detectors find people that HOG misses (partly hidden, seen from above, small, moving cameras), but no
weights ship with this project and none are downloaded: the user names a local file. That file is untrusted
data: it is opened by onnxruntime's CPU provider alone, with no custom-op libraries, and what it outputs is
checked before it is read.

The frame is letterboxed to the model's input (aspect kept, padded with grey 114, RGB, scaled to [0, 1], NCHW),
and the first output is decoded in whichever layout YOLO exports write:

- YOLOv5 / v7: [1, N, 5 + C] rows (cx, cy, w, h, objectness, C class scores); score = objectness × class score.
- YOLOv8 / v9 / v11: [1, 4 + C, N] (cx, cy, w, h, C class scores), no objectness. Told apart from the above by
  which axis is the small one (N is thousands of anchors).
- End-to-end, NMS inside (YOLOv10, Ultralytics `nms=True`): [1, N, 6] rows (x0, y0, x1, y1, score, class).
  A YOLOv5 single-class model has the same shape; the end-to-end layout is the one whose class column holds
  whole numbers and whose boxes all have x0 ≤ x1 and y0 ≤ y1.

A row is a person when its best class is `person_class` (as Ultralytics' own NMS labels a box) and its score
reaches `conf`; overlapping persons are merged by NMS unless the model did that already. When the model's
metadata names its classes (Ultralytics and YOLOv5 exports do), columns after them (mask coefficients,
keypoints) are ignored.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cv2
import numpy as np

from pipeline.track.detection import Detections

DYNAMIC_SIZE = 640  # input side used when the model's input size is not fixed
PAD = 114  # letterbox grey, as in the YOLO training pipelines
LAYOUTS = (
    "[1, N, 5 + C] (YOLOv5/v7), [1, 4 + C, N] (YOLOv8/v9/v11) or [1, N, 6] (end-to-end: x0, y0, x1, y1, score, class)"
)
INPUT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def letterbox(frame: np.ndarray, height: int, width: int) -> tuple[np.ndarray, tuple[float, float, int, int]]:
    """BGR frame → NCHW float [1, 3, height, width] RGB in [0, 1], aspect kept and padded with grey; and the
    (x scale, y scale, left pad, top pad) that undo it: frame x = (input x - left) / x scale."""
    h, w = frame.shape[:2]
    r = min(height / h, width / w)
    nw, nh = max(1, min(width, round(w * r))), max(1, min(height, round(h * r)))
    left, top = (width - nw) // 2, (height - nh) // 2
    img = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR)
    img = cv2.copyMakeBorder(
        img, top, height - nh - top, left, width - nw - left, cv2.BORDER_CONSTANT, value=(PAD, PAD, PAD)
    )
    blob = img[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(blob), (nw / w, nh / h, left, top)


def class_count(metadata: dict[str, str]) -> int | None:
    """The number of classes an export's metadata names (`names`: a dict or list literal), else None."""
    text = metadata.get("names", "")
    if not text or len(text) > 200_000:
        return None
    try:
        names = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return len(names) if isinstance(names, dict | list | tuple) and names else None


def looks_end_to_end(rows: np.ndarray) -> bool:
    """[N, 6] rows: (x0, y0, x1, y1, score, class) rather than YOLOv5's (cx, cy, w, h, objectness, class score)."""
    cls = rows[:, 5]
    return bool(np.all(cls == np.round(cls)) and np.all(rows[:, 2] >= rows[:, 0]) and np.all(rows[:, 3] >= rows[:, 1]))


class OnnxDetector:
    """People in each frame by a YOLO-family ONNX export (module docstring), as boxes in the frame's pixels.

    model: the .onnx file. conf: the least score kept. iou: NMS overlap above which the weaker box goes.
    person_class: the class index of "person" (0 in COCO). threads: onnxruntime's intra-op threads."""

    def __init__(
        self, model: str | Path, conf: float = 0.25, iou: float = 0.45, person_class: int = 0, threads: int = 1
    ) -> None:
        import onnxruntime as ort

        path = Path(model)
        if not path.is_file():
            raise ValueError(f"ONNX model not found: {path} (the onnx detector needs a local YOLO-family export)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # errors only: the file is checked below, warnings are noise
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types: a bad protobuf, a bad graph, …
            raise ValueError(f"{path} is not a valid ONNX model onnxruntime can run: {exc}") from exc
        inp = self.session.get_inputs()[0]
        if len(inp.shape) != 4:
            raise ValueError(f"{path}: the model's input {inp.name!r} has shape {inp.shape}; expected 4-D NCHW")
        if inp.type not in INPUT_TYPES:
            raise ValueError(f"{path}: the model's input is {inp.type}; expected a float image tensor")
        channels = inp.shape[1]
        if isinstance(channels, int) and channels != 3:
            raise ValueError(f"{path}: the model's input has {channels} channels; expected 3 (RGB)")
        h, w = inp.shape[2:]
        self.height = h if isinstance(h, int) and h > 0 else DYNAMIC_SIZE
        self.width = w if isinstance(w, int) and w > 0 else DYNAMIC_SIZE
        self.input_name = inp.name
        self.input_type = INPUT_TYPES[inp.type]
        out = self.session.get_outputs()[0]
        if out.shape and len(out.shape) != 3:  # an unknown rank is checked on the first frame
            raise ValueError(f"{path}: the model's first output has shape {out.shape}; supported: {LAYOUTS}")
        self.output_name = out.name
        self.classes = class_count(self.session.get_modelmeta().custom_metadata_map)
        self.path = path
        self.conf = conf
        self.iou = iou
        self.person_class = person_class
        self.layout: str | None = None  # "v5", "v8" or "e2e", fixed by the first output seen

    def prime(self, frames: list[np.ndarray]) -> None:
        """Nothing to learn: the model looks at one frame at a time."""

    def detect(self, frame: np.ndarray) -> Detections:
        """The people in one BGR uint8 frame."""
        blob, (sx, sy, left, top) = letterbox(frame, self.height, self.width)
        (out,) = self.session.run([self.output_name], {self.input_name: blob.astype(self.input_type, copy=False)})
        boxes, scores, nms = self.decode(np.asarray(out, np.float32))
        if nms and len(boxes):
            xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
            keep = np.ravel(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.conf, self.iou)).astype(int)
            boxes, scores = boxes[keep], scores[keep]
        h, w = frame.shape[:2]
        boxes = (boxes - [left, top, left, top]) / [sx, sy, sx, sy]
        boxes = np.clip(boxes, 0, [w, h, w, h])
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return Detections(boxes[ok].astype(np.float32), np.clip(scores[ok], 0, 1).astype(np.float32))

    def decode(self, out: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """The model's output → (person boxes [N, 4] xyxy in input pixels, scores [N], whether NMS is still
        needed), persons only and at least `conf`."""
        if out.ndim != 3 or out.shape[0] != 1 or out.shape[1] == out.shape[2]:
            raise ValueError(f"{self.path}: the model's output has shape {list(out.shape)}; supported: {LAYOUTS}")
        if self.layout is None:
            a, b = out.shape[1:]
            if b == 6 and a > b and looks_end_to_end(out[0]):
                self.layout = "e2e"
            elif a < b and a >= 5:
                self.layout = "v8"
            elif b < a and b >= 6:
                self.layout = "v5"
            else:
                raise ValueError(f"{self.path}: the model's output has shape {list(out.shape)}; supported: {LAYOUTS}")
        if self.layout == "e2e":
            rows = out[0]
            if rows.shape[1] != 6:
                raise ValueError(f"{self.path}: end-to-end output changed shape to {list(out.shape)}")
            keep = (np.round(rows[:, 5]) == self.person_class) & (rows[:, 4] >= self.conf)
            return rows[keep, :4], rows[keep, 4], False
        rows = out[0].T if self.layout == "v8" else out[0]
        first = 4 if self.layout == "v8" else 5
        cls = rows[:, first:]
        if self.classes is not None and self.classes < cls.shape[1]:
            cls = cls[:, : self.classes]  # mask coefficients or keypoints follow the class scores
        if not 0 <= self.person_class < cls.shape[1]:
            raise ValueError(f"{self.path}: person_class={self.person_class} but the model has {cls.shape[1]} classes")
        score = cls[:, self.person_class] * (rows[:, 4] if self.layout == "v5" else 1.0)
        keep = (np.argmax(cls, axis=1) == self.person_class) & (score >= self.conf)
        cx, cy, bw, bh = rows[keep, :4].T
        boxes = np.column_stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
        return boxes, score[keep], True
