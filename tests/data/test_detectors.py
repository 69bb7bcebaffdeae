"""The multi-person detectors: HOG on OpenCV's real pedestrian clip, and the ONNX detector on small YOLO-layout
models built here.

Each test model is a tiny real detector: it finds the bounding box of the red pixels of its input (channel 0
above 0.5, so the frame must arrive as RGB in [0, 1] with grey padding) and reports it as a person, beside
constant rows (in letterboxed input pixels) for a second person, a duplicate of it, another class, a low score
and a box reaching into the padding. The frame is 480×270, so the letterbox pads above and below.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.ingest.schema import row_frames
from pipeline.ingest.shards import load_clips
from pipeline.track.detectors import make_detector
from pipeline.track.hog import HogDetector
from pipeline.track.onnx_detector import OnnxDetector
from tests.data.conftest import write_video

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")  # Debian's opencv-doc (.ci/run installs it)
FW, FH = 480, 270  # the test frame: wider than tall
RED = (120, 60, 240, 201)  # the red rectangle drawn into the frame (frame pixels; multiples of 3 map exactly)
# Constant rows, as (frame box, score, class): the model holds them in letterboxed input pixels.
P = ((45, 45, 90, 180), 0.8, 0)  # a person
P_DUP = ((48, 48, 93, 183), 0.7, 0)  # the same person again (IoU 0.84): NMS merges it into P
P_NEAR = ((60, 45, 105, 180), 0.6, 0)  # another person beside P (IoU 0.5): an end-to-end model keeps both
OTHER = ((300, 60, 360, 210), 0.9, 1)  # not a person
LOW = ((390, 75, 450, 240), 0.1, 0)  # a person below conf
EDGE = ((420, -45, 465, 75), 0.6, 0)  # reaches into the padding above the frame: clipped to y = 0
CLASSES = 3
PAD_ROWS = 40  # rows of zeros after the real ones: N must exceed 4 + C for the layouts to be told apart


def to_input(box: tuple[float, ...], size: int) -> list[float]:
    """Frame box → letterboxed input pixels for a size×size input (the frame fills the width)."""
    r = size / FW
    top = (size - FH * r) / 2
    x0, y0, x1, y1 = box
    return [x0 * r, y0 * r + top, x1 * r, y1 * r + top]


def encode(layout: str, box: list[float], score: float, cls: int, extra: int = 0) -> list[float]:
    """One prediction row in a layout's own format (before the v8 transpose)."""
    x0, y0, x1, y1 = box
    cxcywh = [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]
    if layout == "e2e":
        return [x0, y0, x1, y1, score, float(cls)]
    obj = 0.9 if layout == "v5" else 1.0
    scores = [0.01] * CLASSES
    scores[cls] = score / obj
    if cls != 0:
        scores[0] = 0.3  # a person score above conf that is not the row's best class: still not a person
    return cxcywh + ([obj] if layout == "v5" else []) + scores + [3.0] * extra


def yolo_model(
    path: Path,
    layout: str,
    rows: list[tuple[tuple[int, ...], float, int]],
    size: int | None = 320,
    extra: int = 0,
    metadata: dict[str, str] | None = None,
) -> Path:
    """A model whose first row is the box of its input's red pixels (a person, score ≈ 0.9 when there are any)
    and whose other rows are `rows`, in `layout`: "v5" [1, N, 5+C], "v8" [1, 4+C, N] or "e2e" [1, N, 6].
    size None: a dynamic input (the detector then feeds 640×640)."""
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: np.ndarray) -> None:
        inits.append(numpy_helper.from_array(np.asarray(value), name))

    inits: list = []
    fed = size or 640
    body = [encode(layout, to_input(box, fed), score, cls, extra) for box, score, cls in rows]
    width = len(encode(layout, [0, 0, 1, 1], 0.5, 0, extra))
    body += [[0.0] * width] * PAD_ROWS
    const("zero", np.array(0, np.int64))
    const("one", np.array([1], np.int64))
    const("half", np.array(0.5, np.float32))
    const("axis0", np.array([0], np.int64))
    const("to_cxcywh", np.array([[0.5, 0, -1, 0], [0, 0.5, 0, -1], [0.5, 0, 1, 0], [0, 0.5, 0, 1]], np.float32))
    const("rows", np.array(body, np.float32))
    const("obj_gain", np.array([[0.95]], np.float32))
    const("cls_gain", np.array([[0.9] + [0.01] * (CLASSES - 1)], np.float32))
    const("cls_fixed", np.array([[0.95] + [0.01] * (CLASSES - 1)], np.float32))
    const("score_gain", np.array([[0.9]], np.float32))
    const("class0", np.array([[0.0]], np.float32))
    if extra:
        const("extra", np.full((1, extra), 3.0, np.float32))
    node = helper.make_node
    nodes = [
        node("Gather", ["images", "zero"], ["red"], axis=1),  # [1, H, W]: channel 0 of RGB
        node("Greater", ["red", "half"], ["hit"]),
        node("Cast", ["hit"], ["mask"], to=TensorProto.FLOAT),
        node("ReduceMax", ["mask"], ["cols"], axes=[1], keepdims=0),  # [1, W]
        node("ReduceMax", ["mask"], ["lines"], axes=[2], keepdims=0),  # [1, H]
        node("ArgMax", ["cols"], ["x0"], axis=1, keepdims=0),
        node("ArgMax", ["cols"], ["xl"], axis=1, keepdims=0, select_last_index=1),
        node("Add", ["xl", "one"], ["x1"]),
        node("ArgMax", ["lines"], ["y0"], axis=1, keepdims=0),
        node("ArgMax", ["lines"], ["yl"], axis=1, keepdims=0, select_last_index=1),
        node("Add", ["yl", "one"], ["y1"]),
        node("Concat", ["x0", "y0", "x1", "y1"], ["xyxy_i"], axis=0),
        node("Cast", ["xyxy_i"], ["xyxy_f"], to=TensorProto.FLOAT),
        node("Unsqueeze", ["xyxy_f", "axis0"], ["xyxy"]),  # [1, 4]
        node("ReduceMax", ["cols"], ["found"], axes=[1], keepdims=1),  # [1, 1]: 1 when any pixel is red
        node("MatMul", ["xyxy", "to_cxcywh"], ["cxcywh"]),
    ]
    tail = ["extra"] if extra else []
    if layout == "v5":
        nodes += [
            node("Mul", ["found", "obj_gain"], ["obj"]),
            node("Concat", ["cxcywh", "obj", "cls_fixed", *tail], ["found_row"], axis=1),
        ]
    elif layout == "v8":
        nodes += [
            node("Mul", ["found", "cls_gain"], ["cls"]),
            node("Concat", ["cxcywh", "cls", *tail], ["found_row"], axis=1),
        ]
    else:
        nodes += [
            node("Mul", ["found", "score_gain"], ["score"]),
            node("Concat", ["xyxy", "score", "class0"], ["found_row"], axis=1),
        ]
    nodes += [
        node("Concat", ["found_row", "rows"], ["all_rows"], axis=0),
        node("Unsqueeze", ["all_rows", "axis0"], ["batched"]),
        node("Transpose", ["batched"], ["output0"], perm=[0, 2, 1])
        if layout == "v8"
        else node("Identity", ["batched"], ["output0"]),
    ]
    n = len(body) + 1
    out_shape = [1, width, n] if layout == "v8" else [1, n, width]
    dims = [1, 3, size, size] if size else ["batch", 3, "height", "width"]
    graph = helper.make_graph(
        nodes,
        f"tiny-{layout}",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)],
        inits,
    )
    return save(graph, path, metadata)


def constant_model(path: Path, output: np.ndarray, input_shape: list[int]) -> Path:
    """A model that outputs `output` (plus 0 × the input's mean, so that the input is used)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
            helper.make_node("Mul", ["mean", "nil"], ["nothing"]),
            helper.make_node("Add", ["pred", "nothing"], ["output0"]),
        ],
        "constant",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        [
            numpy_helper.from_array(output.astype(np.float32), "pred"),
            numpy_helper.from_array(np.array(0, np.float32), "nil"),
        ],
    )
    return save(graph, path)


def save(graph, path: Path, metadata: dict[str, str] | None = None) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, metadata or {})
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path


def frame(red: bool = True) -> np.ndarray:
    """The 480×270 test frame: black, with the red rectangle (or a blue one, which the model must not see)."""
    img = np.zeros((FH, FW, 3), np.uint8)
    x0, y0, x1, y1 = RED
    img[y0:y1, x0:x1] = (0, 0, 255) if red else (255, 0, 0)
    return img


def assert_boxes(found, expected: list[tuple[int, ...]], tol: float = 1.0) -> None:
    """`found` holds exactly the `expected` boxes (any order), each within `tol` frame pixels."""
    assert len(found) == len(expected), f"{found.boxes.round(1).tolist()} != {expected}"
    got = sorted(found.boxes.tolist())
    for g, e in zip(got, sorted(expected), strict=True):
        assert np.abs(np.array(g) - np.array(e)).max() <= tol, f"{g} != {e} (all: {got})"


CLIPPED_EDGE = (420, 0, 465, 75)


@pytest.mark.parametrize("layout", ["v5", "v8"])
def test_onnx_yolo_layouts_map_boxes_back_and_merge_duplicates(tmp_path, layout):
    path = yolo_model(tmp_path / f"{layout}.onnx", layout, [P, P_DUP, OTHER, LOW, EDGE])
    det = OnnxDetector(path)
    assert (det.height, det.width) == (320, 320)
    dets = det.detect(frame())
    assert dets.mask is None and dets.boxes.dtype == np.float32 and dets.scores.dtype == np.float32
    # The red box the model computed, P (its duplicate merged), the edge box clipped; OTHER and LOW dropped.
    assert_boxes(dets, [RED, P[0], CLIPPED_EDGE])
    by_x = dict(zip(dets.boxes[:, 0].round().astype(int).tolist(), dets.scores.tolist(), strict=True))
    assert by_x[45] == pytest.approx(0.8, abs=1e-4)  # v5: objectness × class score
    assert by_x[120] == pytest.approx(0.9025 if layout == "v5" else 0.9, abs=1e-4)
    # No red pixels (the rectangle is blue: the frame must be fed as RGB): the computed row scores 0.
    assert_boxes(det.detect(frame(red=False)), [P[0], CLIPPED_EDGE])


def test_onnx_end_to_end_layout_is_not_suppressed_again(tmp_path):
    path = yolo_model(tmp_path / "e2e.onnx", "e2e", [P, P_NEAR, OTHER, LOW, EDGE])
    det = make_detector("onnx", model=str(path))
    assert isinstance(det, OnnxDetector)
    det.prime([frame()])
    dets = det.detect(frame())
    assert det.layout == "e2e"
    assert_boxes(dets, [RED, P[0], P_NEAR[0], CLIPPED_EDGE])  # P_NEAR overlaps P at IoU 0.5, yet is kept


def test_onnx_single_class_yolov5_is_not_taken_for_end_to_end(tmp_path):
    # [1, N, 5 + 1] has the end-to-end shape [1, N, 6]; its class column holds scores, not class indices.
    x0, y0, x1, y1 = to_input(P[0], 320)
    rows = np.zeros((30, 6))
    rows[0] = [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, 0.9, 0.8 / 0.9]
    det = OnnxDetector(constant_model(tmp_path / "one-class.onnx", rows[None], [1, 3, 320, 320]))
    dets = det.detect(frame())
    assert det.layout == "v5"
    assert_boxes(dets, [P[0]])
    assert dets.scores[0] == pytest.approx(0.8, abs=1e-4)


def test_onnx_dynamic_input_is_fed_at_640(tmp_path):
    det = OnnxDetector(yolo_model(tmp_path / "dynamic.onnx", "v8", [P, P_DUP, OTHER], size=None))
    assert (det.height, det.width) == (640, 640)
    assert_boxes(det.detect(frame()), [RED, P[0]])  # P's row is in 640-pixel input coordinates


def test_onnx_class_names_in_metadata_bound_the_class_columns(tmp_path):
    # A segmentation-style export: 32 mask coefficients (all 3.0, above every class score) follow the classes.
    names = "{0: 'person', 1: 'bicycle', 2: 'car'}"
    path = yolo_model(tmp_path / "seg.onnx", "v8", [P, OTHER], extra=32, metadata={"names": names})
    assert_boxes(OnnxDetector(path).detect(frame()), [RED, P[0]])


def test_onnx_person_class_and_conf(tmp_path):
    path = yolo_model(tmp_path / "v8.onnx", "v8", [P, OTHER, LOW])
    assert_boxes(OnnxDetector(path, person_class=1).detect(frame()), [OTHER[0]])
    assert_boxes(OnnxDetector(path, conf=0.85).detect(frame()), [RED])
    assert_boxes(OnnxDetector(path, conf=0.05).detect(frame()), [RED, P[0], LOW[0]])
    with pytest.raises(ValueError, match="person_class=5 but the model has 3 classes"):
        OnnxDetector(path, person_class=5).detect(frame())


def test_onnx_bad_files_raise_value_errors(tmp_path):
    with pytest.raises(ValueError, match="ONNX model not found"):
        OnnxDetector(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\xffnot a model" * 64)
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        OnnxDetector(garbage)
    flat = constant_model(tmp_path / "flat.onnx", np.zeros((1, 6)), [1, 3, 64, 64])
    with pytest.raises(ValueError, match=r"shape \[1, 6\]; supported: .*YOLOv5.*YOLOv8.*end-to-end"):
        OnnxDetector(flat)
    square = constant_model(tmp_path / "square.onnx", np.zeros((1, 8, 8)), [1, 3, 64, 64])
    with pytest.raises(ValueError, match=r"shape \[1, 8, 8\]; supported"):
        OnnxDetector(square).detect(frame())
    vector_in = constant_model(tmp_path / "vector.onnx", np.zeros((1, 20, 6)), [1, 12])
    with pytest.raises(ValueError, match="expected 4-D NCHW"):
        OnnxDetector(vector_in)


@pytest.fixture(scope="module")
def vtest_frame() -> np.ndarray:
    """Frame 100 of OpenCV's pedestrian clip (768×576): several people walking across a car park."""
    assert VTEST.is_file(), f"{VTEST} is missing: apt-get install opencv-doc"
    cap = cv2.VideoCapture(str(VTEST))
    for _ in range(101):
        ok, img = cap.read()
        assert ok
    cap.release()
    return img


def test_hog_finds_several_people_in_real_footage(vtest_frame):
    det = make_detector("hog")
    assert isinstance(det, HogDetector)
    det.prime([vtest_frame])
    dets = det.detect(vtest_frame)
    h, w = vtest_frame.shape[:2]
    assert len(dets) >= 2, dets.boxes
    assert dets.mask is None and dets.boxes.dtype == np.float32
    areas = (dets.boxes[:, 2] - dets.boxes[:, 0]) * (dets.boxes[:, 3] - dets.boxes[:, 1])
    assert (areas > 0).all() and (areas < h * w / 4).all()
    assert (dets.boxes >= 0).all() and (dets.boxes[:, [0, 2]] <= w).all() and (dets.boxes[:, [1, 3]] <= h).all()
    assert ((dets.scores > 0) & (dets.scores <= 1)).all()
    # Standing people: boxes taller than wide, even after the shrink toward the person.
    assert ((dets.boxes[:, 3] - dets.boxes[:, 1]) > (dets.boxes[:, 2] - dets.boxes[:, 0])).all()


def test_hog_finds_nobody_in_a_blank_frame():
    assert len(HogDetector().detect(np.full((576, 768, 3), 90, np.uint8))) == 0


def test_preprocess_follows_people_with_a_users_onnx_model(ray_local, tmp_path, capsys):
    """`gait preprocess SRC OUT --onnx-model M`, as the docs and the camera-motion error tell a user to run it:
    the model (here the test's, which sees the red walker) finds the person in every frame, ByteTrack follows
    them, and their clips are written with the model's boxes. A model file that is not there is said once."""
    model = yolo_model(tmp_path / "walker.onnx", "v8", [])
    frames, truth = [], {}
    for f in range(60):
        img = np.full((180, 240, 3), 60, np.uint8)  # red channel under 0.5: no one there but the walker
        x = 20 + 3 * f
        img[60:160, x : x + 30] = (0, 0, 255)
        frames.append(img)
        truth[f] = np.array([x, 60, x + 30, 160], np.float32)
    video = write_video(tmp_path / "walk.avi", frames)
    out = tmp_path / "shards"
    size = ["--size", "32x48", "--clip-len", "8", "--stride", "4", "--min-frames", "6"]
    assert main(["preprocess", str(video), str(out), "--onnx-model", str(model), *size]) == 0
    assert "1 written + 0 failed" in capsys.readouterr().out
    kept = [t for t in pq.read_table(out / "tracks.parquet").to_pylist() if t["dropped"] is None]
    assert len(kept) == 1 and kept[0]["last_frame"] - kept[0]["first_frame"] >= 55, kept
    clips = load_clips(str(out), ["boxes", "frame_start", "num_frames", "frame_index", "detected"])
    checked = 0
    for i in range(len(clips["boxes"])):
        for box, f in zip(clips["boxes"][i], row_frames(clips, i), strict=True):
            ix = max(0.0, min(box[2], truth[f][2]) - max(box[0], truth[f][0]))
            iy = max(0.0, min(box[3], truth[f][3]) - max(box[1], truth[f][1]))
            assert ix * iy / (30 * 100) > 0.8, (f, box.tolist(), truth[f].tolist())  # the mp4's colours blur
            checked += 1
    assert checked >= 50 and clips["detected"].all()
    with pytest.raises(SystemExit, match=r"--onnx-model .*missing\.onnx: no such file"):
        main(["preprocess", str(video), str(tmp_path / "other"), "--onnx-model", str(tmp_path / "missing.onnx")])
