"""One way to layer settings: a preset, then a run config's section, then the command line's flags.

Every stage's settings are a frozen dataclass; each layer is a mapping of changes applied with `merged`, so the
rule is the same for every command and for the main job: a field that is itself a group of settings (a training
stage's optimisation, say) changes key by key, any other value replaces the one below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def as_dict(settings: Any) -> dict[str, Any]:
    """A settings object as plain data (its own `to_dict` where it has one)."""
    return settings.to_dict() if hasattr(settings, "to_dict") else asdict(settings)


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """A settings object from plain data (its own `from_dict` where it has one: lists back to tuples, ...)."""
    return cls.from_dict(dict(data)) if hasattr(cls, "from_dict") else cls(**data)  # type: ignore[attr-defined]


def merged(base: T, changes: Mapping[str, Any], *, where: str) -> T:
    """`base` with `changes` applied; `where` names the layer in the error an unknown setting gets."""
    if not changes:
        return base
    known = {f.name for f in fields(base)}  # type: ignore[arg-type]
    unknown = sorted(k for k in changes if k not in known)
    if unknown:
        raise ValueError(f"{where} sets {unknown}, which are not settings of it; known: {sorted(known)}")
    data = as_dict(base)
    for key, value in changes.items():
        current = getattr(base, key)
        if is_dataclass(current) and isinstance(value, Mapping):
            value = as_dict(merged(current, value, where=f"{where}.{key}"))
        elif is_dataclass(value):
            value = as_dict(value)
        data[key] = value
    return from_dict(type(base), data)
