"""Ray job: train HumanPoseNN, GaitNN and the presence classifier on Ray Train (WORKDIR/model).

    ray job submit --working-dir . -- python jobs/train.py --config configs/demo.yaml --workdir /shared/run

Takes exactly the flags of `gait train` (`gait train --help`): this file only hands them over.
"""

from _entry import run_command  # jobs/_entry.py

if __name__ == "__main__":
    run_command("train")
