"""Where each generated file goes: the CASIA-B tree (videos or frame folders) or the CASIA-A tree."""

from __future__ import annotations

from dataclasses import dataclass

CONDITION_CODES = {"nm": 0, "bg": 1, "cl": 2, "sh": 3, "bkgrd": 9}


@dataclass(frozen=True, order=True)
class SequenceSpec:
    """One walk (or, with condition "bkgrd", one background plate) of the dataset."""

    subject: int
    condition: str
    sequence: int
    view: int

    @property
    def is_background(self) -> bool:
        return self.condition == "bkgrd"

    def stem(self, layout: str) -> str:
        """The file stem the dataset's own naming gives, e.g. 001-nm-01-090 (CASIA-B) or p001-00_1 (CASIA-A)."""
        if layout == "casia-a":
            return f"{subject_name(self.subject, layout)}-{self.view:02d}_{self.sequence}"
        if self.is_background:
            return f"{self.subject:03d}-bkgrd-{self.view:03d}"
        return f"{self.subject:03d}-{self.condition}-{self.sequence:02d}-{self.view:03d}"

    def seed_key(self) -> list[int]:
        return [self.subject, CONDITION_CODES[self.condition], self.sequence, self.view]


def subject_name(subject: int, layout: str) -> str:
    return f"p{subject:03d}" if layout == "casia-a" else f"{subject:03d}"


def video_path(spec: SequenceSpec, layout: str) -> str:
    return f"videos/{spec.stem(layout)}.mp4"


def frame_dir(spec: SequenceSpec, layout: str, root: str = "frames") -> str:
    if layout == "casia-a":
        return f"gaitdb/{subject_name(spec.subject, layout)}/{spec.view:02d}_{spec.sequence}"
    cond = "bkgrd" if spec.is_background else f"{spec.condition}-{spec.sequence:02d}"
    return f"{root}/{spec.subject:03d}/{cond}/{spec.view:03d}"


def frame_name(spec: SequenceSpec, layout: str, index: int) -> str:
    return f"{spec.stem(layout)}-{index + 1:03d}.png"


def annotation_path(spec: SequenceSpec, layout: str, ext: str) -> str:
    return f"annotations/{spec.stem(layout)}.{ext}"
