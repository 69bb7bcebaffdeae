"""Ray job: decode the config's dataset into Parquet clip shards (WORKDIR/shards).

    ray job submit --working-dir . -- python jobs/preprocess.py --config configs/demo.yaml --workdir /shared/run

Takes exactly the flags of `gait preprocess` (`gait preprocess --help`): this file only hands them over.
"""

from _entry import run_command  # jobs/_entry.py

if __name__ == "__main__":
    run_command("preprocess")
