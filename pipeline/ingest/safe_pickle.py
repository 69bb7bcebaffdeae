"""Unpickling numpy arrays from files nobody vouches for, without ever running what the file asks for.

A pickle is a program: loading one calls whatever globals it names (`os.system`, `builtins.exec`, …), so
`pickle.load` on a downloaded dataset runs the dataset's code. `ArrayUnpickler` resolves only the few globals a
numpy array's pickle names, and those to guarded stand-ins; every other global, and every persistent id, stops
the load with `UnsafePickle` naming what was asked for, before anything is called. Object arrays are refused too
(their items are arbitrary objects). See docs/data-layouts.md.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np
from numpy._core.multiarray import _reconstruct as _np_reconstruct
from numpy._core.numeric import _frombuffer as _np_frombuffer


class UnsafePickle(pickle.UnpicklingError):
    """The pickle asks for something other than plain numpy arrays; nothing it asked for was run."""


class NotArrays(ValueError):
    """The pickle is harmless but holds something other than an array or a list/tuple of arrays."""


class _NdarrayToken:
    """What a pickle gets for `numpy.ndarray`: good only as `_reconstruct`'s first argument, so a pickle cannot
    call the constructor itself (an ndarray of any shape, allocated before its data is checked)."""

    def __repr__(self) -> str:
        return "<numpy.ndarray as a pickle token>"

    def __call__(self, *args: Any) -> None:
        raise UnsafePickle("refused a call of numpy.ndarray: arrays are rebuilt only through _reconstruct")


def _reconstruct(cls: object, shape: Any, dtype: Any) -> np.ndarray:
    """An empty array, as numpy's pickles start; BUILD then gives it its dtype, shape and data (checked in size)."""
    if not isinstance(cls, _NdarrayToken):
        raise UnsafePickle(f"_reconstruct of {cls!r}: only numpy.ndarray is allowed")
    return _np_reconstruct(np.ndarray, (0,), b"b")


def _frombuffer(buf: Any, dtype: np.dtype, shape: Any, order: str) -> np.ndarray:
    """Protocol 5's array: a view of bytes that are already in the pickle."""
    if not isinstance(buf, bytes | bytearray | pickle.PickleBuffer) or not isinstance(dtype, np.dtype):
        raise UnsafePickle("_frombuffer needs the array's bytes and a dtype")
    return _np_frombuffer(buf, _checked_dtype(dtype), shape, order)


def _checked_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.hasobject:
        raise UnsafePickle(f"an object array (dtype {dtype}) is refused: its items would be arbitrary objects")
    return dtype


def _dtype(spec: Any, align: bool = False, copy: bool = False) -> np.dtype:
    if not isinstance(spec, str):
        raise UnsafePickle(f"numpy.dtype of {type(spec).__name__}: only dtype names are allowed")
    return _checked_dtype(np.dtype(spec, bool(align), bool(copy)))


def _latin1(text: Any, encoding: Any = "utf-8") -> bytes:
    """`_codecs.encode` as protocols 0–2 use it for an array's bytes, and only that."""
    if not isinstance(text, str) or encoding != "latin1":
        raise UnsafePickle("_codecs.encode is allowed only as encode(str, 'latin1'), for an array's bytes")
    return text.encode("latin1")


ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # numpy ≥ 2
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # numpy 1.x
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,  # protocol 5
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _NdarrayToken,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1,  # protocols 0–2 carry bytes as latin-1 text
}


class ArrayUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` that resolves only `ALLOWED` (numpy arrays); anything else raises `UnsafePickle`.

    Each lookup gets a fresh object: a pickle may BUILD (set attributes on) what it looked up, and that must not
    outlive the load."""

    def find_class(self, module: str, name: str) -> Any:
        target = ALLOWED.get((module, name))
        if target is None:
            raise UnsafePickle(f"refused global {module}.{name}: only numpy arrays may be unpickled (nothing was run)")
        if target is _NdarrayToken:
            return _NdarrayToken()
        return lambda *args: target(*args)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickle("refused a persistent id: only numpy arrays may be unpickled (nothing was run)")


def load_arrays(data: bytes) -> list[np.ndarray]:
    """The arrays pickled in `data`: one array, or a list/tuple of them, in order.

    Raises UnsafePickle (a global other than numpy's, a persistent id, an object array), NotArrays (anything
    else that is not an array), or pickle.UnpicklingError / EOFError / ValueError for a corrupt pickle."""
    obj = ArrayUnpickler(io.BytesIO(data)).load()
    items = list(obj) if isinstance(obj, list | tuple) else [obj]
    if not items:
        raise NotArrays(f"an empty {type(obj).__name__}, not arrays")
    for item in items:
        if type(item) is not np.ndarray:
            raise NotArrays(f"holds a {type(item).__name__}, not a numpy array")
        _checked_dtype(item.dtype)
    return items
