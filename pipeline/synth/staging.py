"""How a synthetic dataset is built on disk, whichever generator makes it: in a hidden sibling of its folder, item by
item (one Ray task each), resumable after a crash, and swapped in only when complete. The folder itself only ever
holds a finished dataset; the same config asked for again is nothing to do.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from pipeline.common.atomic import atomic_write_json, swap_in

CONFIG_FILE = "_config.json"  # in the staging folder: which config its finished items belong to


def finished_or_staging(
    out: Path, index_file: str, cfg_hash: str, cfg_dict: dict[str, Any], overwrite: bool
) -> tuple[dict[str, Any] | None, Path]:
    """(`out`'s index when it already holds a dataset of this config, else None; the staging folder to build in).
    A staging folder of another config is emptied first; `out` holding anything else is an error unless
    `overwrite`."""
    marker = out / index_file
    if marker.exists():
        existing = json.loads(marker.read_text())
        if existing.get("config_hash") == cfg_hash and not overwrite:
            return existing, out
        if not overwrite:
            raise FileExistsError(
                f"{out} holds a dataset made with another config ({existing.get('config_hash')}); "
                "pass --overwrite to replace it, or choose another OUT"
            )
    elif out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not a synthetic dataset; pass --overwrite or choose another OUT")
    staging = out.parent / f".{out.name}.partial"
    cfg_file = staging / CONFIG_FILE
    if staging.exists() and (not cfg_file.exists() or json.loads(cfg_file.read_text()).get("hash") != cfg_hash):
        shutil.rmtree(staging)
    staging.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cfg_file, {"hash": cfg_hash, "config": cfg_dict})
    return None, staging


def generate_items(
    make_one: Callable[..., dict[str, Any]],
    cfg_dict: dict[str, Any],
    todo: dict[Hashable, Sequence[Any]],
    staging: Path,
    bar: tqdm,
    parallel: bool = True,
    ray_address: str | None = None,
) -> dict[Hashable, dict[str, Any]]:
    """`make_one(cfg_dict, *args, staging)` for each item of `todo` (key → args): one Ray task each (retried
    twice) unless `parallel` is False. Returns key → what it returned, ticking the caller's `bar` as each is
    done."""
    out: dict[Hashable, dict[str, Any]] = {}
    if parallel and todo:
        import ray

        from pipeline.common.ray_init import ensure_ray

        ensure_ray(ray_address)
        remote = ray.remote(num_cpus=1, max_retries=2)(make_one)
        pending = {remote.remote(cfg_dict, *args, str(staging)): key for key, args in todo.items()}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                out[pending.pop(ref)] = ray.get(ref)
                bar.update(1)
    else:
        for key, args in todo.items():
            out[key] = make_one(cfg_dict, *args, str(staging))
            bar.update(1)
    return out


def finish(staging: Path, out: Path, index_file: str, index: dict[str, Any]) -> None:
    """Write the dataset's index and swap the complete staging folder in as `out`."""
    (staging / CONFIG_FILE).unlink()
    atomic_write_json(staging / index_file, index)
    swap_in(staging, out)
