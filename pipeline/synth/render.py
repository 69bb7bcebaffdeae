"""Draws a walk into frames: shaded capsules and polygons, far parts first, over the jittered scene.

The silhouette mask is drawn with the same geometry as the colour frame, so ground truth and pixels agree by
construction. Coordinates are drawn with 4 fractional bits, so joints keep sub-pixel accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.common.skeleton import J
from pipeline.synth.appearance import Outfit, Person
from pipeline.synth.covariates import Covariate
from pipeline.synth.kinematics import Walk
from pipeline.synth.scene import Filming, Scene, background_frame, expose

SHIFT = 4
ONE = 1 << SHIFT
FAR_SHADE = 0.72
LIGHT = np.array([-0.6, -0.8])


@dataclass
class Rendered:
    """Frames (BGR), masks, 2-D joints (x, y, visibility) and person boxes (x0, y0, x1, y1; NaN if absent)."""

    frames: np.ndarray  # uint8 [T, H, W, 3] BGR
    masks: np.ndarray  # uint8 [T, H, W] 0/255
    joints: np.ndarray  # float32 [T, 16, 3]
    boxes: np.ndarray  # float32 [T, 4]


def _fx(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0] * ONE)), int(round(p[1] * ONE))


def _shade(col: tuple[int, int, int], k: float) -> tuple[int, int, int]:
    return tuple(int(min(255, c * k)) for c in col)  # type: ignore[return-value]


class Painter:
    """Draws into a colour canvas and a mask at once. The mask may be another window of the image plane:
    `mask_offset` is added to every point drawn into it (a mask larger than the frame sees what leaves it)."""

    def __init__(self, canvas: np.ndarray, mask: np.ndarray, mask_offset: np.ndarray | None = None) -> None:
        self.canvas, self.mask = canvas, mask
        self.mo = np.zeros(2) if mask_offset is None else np.asarray(mask_offset, float)

    def capsule(self, p0: np.ndarray, p1: np.ndarray, r: float, col: tuple[int, int, int]) -> None:
        t = max(1, int(round(2 * r)))
        cv2.line(self.canvas, _fx(p0), _fx(p1), col, t, cv2.LINE_AA, SHIFT)
        cv2.line(self.mask, _fx(p0 + self.mo), _fx(p1 + self.mo), 255, t, cv2.LINE_8, SHIFT)
        if t >= 4:  # a lit stripe toward the light: reads as a cylinder
            off = LIGHT * r * 0.35
            cv2.line(self.canvas, _fx(p0 + off), _fx(p1 + off), _shade(col, 1.3), max(1, t // 3), cv2.LINE_AA, SHIFT)

    def disc(self, c: np.ndarray, r: float, col: tuple[int, int, int], mask: bool = True) -> None:
        rr = max(ONE // 2, int(round(r * ONE)))
        cv2.circle(self.canvas, _fx(c), rr, col, -1, cv2.LINE_AA, SHIFT)
        if mask:
            cv2.circle(self.mask, _fx(c + self.mo), rr, 255, -1, cv2.LINE_8, SHIFT)

    def polygon(self, pts: np.ndarray, col: tuple[int, int, int], edge: float = 0.0) -> None:
        poly = np.round(pts * ONE).astype(np.int32)[None]
        mpoly = np.round((pts + self.mo) * ONE).astype(np.int32)[None]
        cv2.fillPoly(self.canvas, poly, col, cv2.LINE_AA, SHIFT)
        cv2.fillPoly(self.mask, mpoly, 255, cv2.LINE_8, SHIFT)
        if edge >= 0.5:
            t = max(1, int(round(2 * edge)))
            cv2.polylines(self.canvas, poly, True, col, t, cv2.LINE_AA, SHIFT)
            cv2.polylines(self.mask, mpoly, True, 255, t, cv2.LINE_8, SHIFT)


def _box_corners(centre: np.ndarray, ax: np.ndarray, ay: np.ndarray, size: tuple[float, float, float]) -> np.ndarray:
    """8 corners [T, 8, 3] of boxes centred at `centre` [T, 3], axes ax (width), ay (depth), up (height)."""
    w, d, h = size
    up = np.array([0.0, 0.0, 1.0])
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    offs = signs[:, 0, None] * ax * w / 2 + signs[:, 1, None] * ay * d / 2 + signs[:, 2, None] * up * h / 2
    return centre[:, None, :] + offs[None]


class WalkerDrawing:
    """One walk seen through a camera: projected once, then drawn frame by frame, far parts first.

    `draw(paint, t, off)` paints frame t's walker with its image-plane points moved by `off` (minus the camera
    shift); a scene of several walkers draws each one's whole body in turn, far walker to near."""

    def __init__(self, scene: Scene, walk: Walk, person: Person, outfit: Outfit, cov: Covariate, build: float) -> None:
        cam = scene.camera
        jw = walk.joints
        fwd3 = np.array([walk.forward[0], walk.forward[1], 0.0])
        left3 = np.array([-walk.forward[1], walk.forward[0], 0.0])
        up3 = np.array([0.0, 0.0, 1.0])
        seg = walk.segments

        # Extra 3-D points, all frames at once.
        # The head's circle touches the head-top joint, as the skull's top does.
        head_c = jw[:, J["upper_neck"]] + 0.55 * (jw[:, J["head_top"]] - jw[:, J["upper_neck"]])
        self.head_r = 0.45 * seg.head
        hair_c = head_c + up3 * self.head_r * 0.3 - fwd3 * self.head_r * 0.25
        hands = []
        for s in ("r", "l"):
            d = jw[:, J[f"{s}_wrist"]] - jw[:, J[f"{s}_elbow"]]
            d /= np.linalg.norm(d, axis=-1, keepdims=True) + 1e-9
            hands.append(jw[:, J[f"{s}_wrist"]] + 0.05 * d)
        extra3 = {"head": head_c, "hair": hair_c, "r_hand": hands[0], "l_hand": hands[1]}
        if cov.coat is not None:
            for s, sign in (("r", -1.0), ("l", 1.0)):
                hip, knee = jw[:, J[f"{s}_hip"]], jw[:, J[f"{s}_knee"]]
                extra3[f"{s}_hem"] = hip + 0.6 * (knee - hip) + left3 * sign * 0.07 * build
        bag_corners = None
        if cov.bag is not None:
            side = cov.bag_side
            side3 = left3 * side
            if cov.bag == "backpack":
                pel, tho = jw[:, J["pelvis"]], jw[:, J["thorax"]]
                centre = pel + 0.6 * (tho - pel) - fwd3 * (0.1 * build + cov.bag_size[1] / 2)
                bag_corners = _box_corners(centre, left3, fwd3, cov.bag_size)
            elif cov.bag == "shoulder":
                hip = jw[:, J["r_hip" if side < 0 else "l_hip"]]
                centre = hip + side3 * (0.1 * build + cov.bag_size[1] / 2) + up3 * 0.02
                bag_corners = _box_corners(centre, fwd3, side3, cov.bag_size)
                extra3["strap0"] = jw[:, J["l_shoulder" if side < 0 else "r_shoulder"]]
                extra3["strap1"] = centre + up3 * cov.bag_size[2] / 2
            else:  # hand
                wrist = jw[:, J["r_wrist" if side < 0 else "l_wrist"]]
                centre = wrist - up3 * (cov.bag_size[2] / 2 + 0.07)
                bag_corners = _box_corners(centre, fwd3, side3, cov.bag_size)
                extra3["strap0"] = wrist
                extra3["strap1"] = centre + up3 * cov.bag_size[2] / 2

        self.uv_j, self.dep_j = cam.project(jw)
        self.uv_toe, self.dep_toe = cam.project(walk.toes)
        self.uv_heel, self.dep_heel = cam.project(walk.heels)
        self.uv_x = {k: cam.project(v) for k, v in extra3.items()}
        self.uv_bag = cam.project(bag_corners) if bag_corners is not None else None
        self.f = cam.f
        self.person, self.outfit, self.cov, self.build = person, outfit, cov, build

    def depth(self, t: int) -> float:
        """Distance of the body (pelvis) from the camera at frame t: walkers are drawn in this order."""
        return float(self.dep_j[t, J["pelvis"]])

    def draw(self, paint: Painter, t: int, off: np.ndarray) -> None:
        """Paint frame t's walker, far parts first."""
        person, outfit, cov, build, f = self.person, self.outfit, self.cov, self.build, self.f
        uv_x, uv_bag = self.uv_x, self.uv_bag
        shirt = outfit.shirt if cov.coat is None else cov.coat
        sleeve = shirt if (outfit.long_sleeves or cov.coat is not None) else person.skin
        shoes = cov.shoe_colour or outfit.shoes
        arm_k = 1.25 if cov.coat is not None else 1.0
        torso_k = 1.3 if cov.coat is not None else 1.0
        thigh_k = 1.1 if cov.coat is not None else 1.0

        P = self.uv_j[t] + off
        D = self.dep_j[t]
        body_depth = D[J["pelvis"]]
        # (depth, method, args): drawn far to near; equal depths keep their order.
        cmds: list[tuple[float, str, tuple]] = []

        def px(r_m: float, depth: float) -> float:
            return f * r_m / depth

        def limb(a: np.ndarray, b: np.ndarray, da: float, db: float, r_m: float, col: tuple, bias: float = 0.0) -> None:
            depth = 0.5 * (da + db)
            c = _shade(col, FAR_SHADE) if depth > body_depth + 0.03 else col
            cmds.append((depth + bias, "capsule", (a, b, px(r_m, depth), c)))

        uv_heel, uv_toe, dep_heel, dep_toe = self.uv_heel, self.uv_toe, self.dep_heel, self.dep_toe
        for k, s in enumerate(("r", "l")):
            hip, knee, ank = (J[f"{s}_{x}"] for x in ("hip", "knee", "ankle"))
            limb(P[hip], P[knee], D[hip], D[knee], 0.068 * build * thigh_k, outfit.trousers)
            limb(P[knee], P[ank], D[knee], D[ank], 0.047 * build, outfit.trousers)
            limb(uv_heel[t, k] + off, uv_toe[t, k] + off, dep_heel[t, k], dep_toe[t, k], 0.034 * cov.foot_scale, shoes)
            sh, el, wr = (J[f"{s}_{x}"] for x in ("shoulder", "elbow", "wrist"))
            limb(P[sh], P[el], D[sh], D[el], 0.042 * build * arm_k, shirt, -0.01)
            limb(P[el], P[wr], D[el], D[wr], 0.034 * build * arm_k, sleeve, -0.012)
            hu, hd = uv_x[f"{s}_hand"]
            limb(P[wr], hu[t] + off, D[wr], hd[t], 0.038, person.skin, -0.013)

        torso = P[[J["r_shoulder"], J["l_shoulder"], J["l_hip"], J["r_hip"]]]
        cmds.append((body_depth, "polygon", (torso, shirt, px(0.045 * build * torso_k, body_depth))))
        cmds.append(
            (body_depth, "capsule", (P[J["pelvis"]], P[J["thorax"]], px(0.1 * build * torso_k, body_depth), shirt))
        )
        if cov.coat is not None:
            hem_r, hem_l = uv_x["r_hem"][0][t] + off, uv_x["l_hem"][0][t] + off
            coat = np.stack([P[J["r_shoulder"]], P[J["l_shoulder"]], hem_l, hem_r])
            cmds.append((body_depth - 0.02, "polygon", (coat, _shade(cov.coat, 0.92), px(0.07 * build, body_depth))))
        limb(P[J["thorax"]], P[J["upper_neck"]], D[J["thorax"]], D[J["upper_neck"]], 0.05 * build, person.skin, -0.03)
        head_d = uv_x["head"][1][t]
        cmds.append((head_d - 0.05, "disc", (uv_x["head"][0][t] + off, px(self.head_r, head_d), person.skin)))
        hair_d = uv_x["hair"][1][t]
        cmds.append((head_d - 0.05, "disc", (uv_x["hair"][0][t] + off, px(self.head_r * 0.82, hair_d), person.hair)))
        if uv_bag is not None:
            hull = cv2.convexHull((uv_bag[0][t] + off).astype(np.float32)).reshape(-1, 2)
            bag_d = float(uv_bag[1][t].mean())
            bag_col = cov.bag_colour if bag_d <= body_depth + 0.03 else _shade(cov.bag_colour, FAR_SHADE)
            cmds.append((bag_d, "polygon", (hull, bag_col, 0.6)))
            if "strap0" in uv_x:
                (s0, d0), (s1, d1) = uv_x["strap0"], uv_x["strap1"]
                strap_d = 0.5 * (d0[t] + d1[t]) - 0.04
                strap = (s0[t] + off, s1[t] + off, px(0.012, strap_d), _shade(cov.bag_colour, 0.7))
                cmds.append((strap_d, "capsule", strap))

        for _, method, args in sorted(cmds, key=lambda c: -c[0]):
            getattr(paint, method)(*args)


def render_walk(
    scene: Scene,
    filming: Filming,
    walk: Walk,
    person: Person,
    outfit: Outfit,
    cov: Covariate,
    build: float,
    rng: np.random.Generator,
) -> Rendered:
    """Render every frame of a walk; returns frames, masks and ground truth."""
    width, height = scene.size
    n = walk.joints.shape[0]
    drawing = WalkerDrawing(scene, walk, person, outfit, cov, build)
    shift = filming.shift

    frames = np.empty((n, height, width, 3), np.uint8)
    masks = np.zeros((n, height, width), np.uint8)
    noise = rng.standard_normal((n, height, width, 3), dtype=np.float32) * np.float32(filming.noise_sd)
    for t in range(n):
        canvas = background_frame(scene, shift[t])
        drawing.draw(Painter(canvas, masks[t]), t, -shift[t])
        frames[t] = expose(canvas, float(filming.gain[t]), filming.tint, noise[t])

    joints = np.empty((n, walk.joints.shape[1], 3), np.float32)
    joints[..., :2] = drawing.uv_j - shift[:, None, :]
    x, y = joints[..., 0], joints[..., 1]
    joints[..., 2] = ((x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)).astype(np.float32)
    boxes = np.full((n, 4), np.nan, np.float32)
    for t in range(n):
        bx, by, bw, bh = cv2.boundingRect(masks[t])
        if bw > 0:
            boxes[t] = (bx, by, bx + bw, by + bh)
    return Rendered(frames=frames, masks=masks, joints=joints, boxes=boxes)


def render_empty(scene: Scene, filming: Filming, rng: np.random.Generator) -> np.ndarray:
    """Background-only frames (BGR): CASIA-B's `bkgrd` plates, and negatives for the presence classifier."""
    n = filming.shift.shape[0]
    w, h = scene.size
    out = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        noise = rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(filming.noise_sd)
        out[t] = expose(background_frame(scene, filming.shift[t]), float(filming.gain[t]), filming.tint, noise)
    return out
