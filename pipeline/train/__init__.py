"""Training on Ray Train: HumanPoseNN (stage 1), GaitNN or the set model (stage 2) and the presence classifier.

run.py drives a whole training (stages in order, figures, the model directory); trainer.py runs one stage on Ray
Train workers; loops.py is the loop each worker runs; stages.py holds what differs between stages (STAGES).
"""
