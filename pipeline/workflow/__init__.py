"""The main job: every stage of a run config in order (`gait pipeline`, `jobs/pipeline.py`, `make demo`)."""
