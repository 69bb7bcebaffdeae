"""What every jobs/<stage>.py does: put the project on sys.path and hand the job's flags to `gait <stage>`.

A job's entrypoint runs in Ray's copy of the working dir (`ray job submit --working-dir .`), where the project
may not be installed; on the cluster image it is, and this changes nothing.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_command(command: str) -> None:
    """Exit with what `gait COMMAND <this job's arguments>` returns."""
    from pipeline.cli import main

    sys.exit(main([command, *sys.argv[1:]]))
