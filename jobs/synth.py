"""Ray job: generate the synthetic dataset a config names (WORKDIR/synth).

    ray job submit --working-dir . -- python jobs/synth.py --config configs/demo.yaml --workdir /shared/run

Takes exactly the flags of `gait synth` (`gait synth --help`): this file only hands them over.
"""

from _entry import run_command  # jobs/_entry.py

if __name__ == "__main__":
    run_command("synth")
