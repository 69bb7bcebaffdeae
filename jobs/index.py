"""Ray job: bulk-index the config's archive into a gallery of identification vectors (WORKDIR/gallery).

    ray job submit --working-dir . -- python jobs/index.py --config configs/demo.yaml --workdir /shared/run

Takes exactly the flags of `gait index` (`gait index --help`): this file only hands them over.
"""

from _entry import run_command  # jobs/_entry.py

if __name__ == "__main__":
    run_command("index")
