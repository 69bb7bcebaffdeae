"""Training on Ray Train: HumanPoseNN (stage 1), GaitNN (stage 2) and the presence classifier."""
