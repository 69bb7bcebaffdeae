"""Ray job: the field's protocols beside the GEI baseline, with an HTML report (WORKDIR/model/evaluation).

    ray job submit --working-dir . -- python jobs/evaluate.py --config configs/demo.yaml --workdir /shared/run

Takes exactly the flags of `gait evaluate` (`gait evaluate --help`): this file only hands them over.
"""

from _entry import run_command  # jobs/_entry.py

if __name__ == "__main__":
    run_command("evaluate")
