"""For tests only: faults injected into a training run, to check that it survives them.

Nothing here runs unless a test asks (`fit_stage(..., crash=...)`): the production callbacks hold no trace of it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any


def kill_callback(crash: dict[str, Any] | None, rank: int) -> Any:
    """A Keras callback that SIGKILLs this worker at the end of epoch `crash["epoch"]` when it is rank
    `crash["rank"]`, once (the file `crash["marker"]` remembers it: the restarted worker must get past that
    epoch); None when not asked, or for other ranks. Placed after the checkpoint callback, so that the worker
    dies with that epoch's checkpoint reported, as a worker lost between epochs would."""
    if not crash or rank != crash["rank"]:
        return None
    import tf_keras as keras

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if epoch != crash["epoch"]:
                return
            marker = Path(crash["marker"])
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)

    return Kill()
