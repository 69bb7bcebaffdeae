"""Ray job: the main job: every stage in order, then one summary (make demo runs this on an embedded Ray).

    ray job submit --working-dir . -- python jobs/pipeline.py --config configs/demo.yaml --workdir /shared/run

Takes exactly the flags of `gait pipeline` (`gait pipeline --help`): this file only hands them over.
"""

from _entry import run_command  # jobs/_entry.py

if __name__ == "__main__":
    run_command("pipeline")
