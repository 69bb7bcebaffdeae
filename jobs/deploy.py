"""Ray job: deploy the HTTP API (Ray Serve) onto this cluster and leave it running.

    ray job submit --working-dir . -- python jobs/deploy.py --config configs/demo.yaml --workdir /shared/run

Takes exactly the flags of `gait deploy` (`gait deploy --help`): this file only hands them over.
"""

from _entry import run_command  # jobs/_entry.py

if __name__ == "__main__":
    run_command("deploy")
