"""What every jobs/<stage>.py does: put the project on sys.path and run `gait <stage>` with the job's flags.

A job's entrypoint runs in Ray's copy of the working dir (`ray job submit --working-dir .`), where the project
may not be installed; on the cluster image it is, and this changes nothing. The job's `python` is the one that
the Ray head was started with: started outside the project's virtualenv, it has none of the project's
dependencies, and the job says so instead of failing deep in an import (docs/cluster.md).
"""

import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NEEDED = ("numpy", "cv2", "pyarrow", "ray", "yaml")


def run_command(command: str) -> None:
    """Exit with what `gait COMMAND <this job's arguments>` returns."""
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        sys.exit(
            f"jobs/{command}.py: this job's Python ({sys.executable}) lacks {', '.join(missing)}: the Ray head was "
            "started outside the project's virtualenv. Start it from there (`. .venv/bin/activate && ray start "
            '--head`), or submit with `--runtime-env-json \'{"py_executable": "/path/to/project/.venv/bin/python"}\'`'
            " (docs/cluster.md)."
        )
    from pipeline.cli import main

    sys.exit(main(command=command))
