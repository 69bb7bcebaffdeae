"""What a person looks like: skin and hair belong to the person, clothes to the day of the walk.

Clothes are drawn anew for every sequence so that colour is not an identity cue: a recogniser that scores well
on this data has to use body shape and motion, as gait recognition should.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SKIN = [(60, 90, 140), (80, 120, 175), (110, 150, 205), (140, 180, 225), (45, 65, 100), (95, 140, 190)]
HAIR = [(20, 20, 25), (30, 45, 70), (50, 80, 130), (90, 140, 190), (140, 140, 140), (25, 30, 40)]
TROUSERS = [(110, 60, 30), (40, 40, 40), (120, 150, 170), (90, 90, 90), (60, 70, 40), (150, 110, 70)]
SHOES = [(20, 20, 20), (220, 220, 220), (30, 60, 100), (80, 80, 80), (40, 40, 120)]


def _hsv_colour(rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float]) -> tuple[int, int, int]:
    hsv = np.uint8([[[rng.integers(0, 180), rng.uniform(*s), rng.uniform(*v)]]])
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def _jitter(rng: np.random.Generator, col: tuple[int, int, int], sd: float) -> tuple[int, int, int]:
    return tuple(int(c) for c in np.clip(np.array(col) + rng.normal(0, sd, 3), 0, 255))  # type: ignore[return-value]


@dataclass(frozen=True)
class Person:
    """Colours that stay with the person."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Person:
        return cls(
            skin=_jitter(rng, SKIN[int(rng.integers(len(SKIN)))], 8),
            hair=_jitter(rng, HAIR[int(rng.integers(len(HAIR)))], 6),
        )


@dataclass(frozen=True)
class Outfit:
    """Colours of one day's clothes (BGR)."""

    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    shoes: tuple[int, int, int]
    long_sleeves: bool

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Outfit:
        return cls(
            shirt=_hsv_colour(rng, (40, 230), (60, 240)),
            trousers=_jitter(rng, TROUSERS[int(rng.integers(len(TROUSERS)))], 12),
            shoes=_jitter(rng, SHOES[int(rng.integers(len(SHOES)))], 6),
            long_sleeves=bool(rng.random() < 0.5),
        )


def coat_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return _hsv_colour(rng, (30, 200), (40, 200))
