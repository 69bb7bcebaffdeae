"""Pose tool: a trained HumanPoseNN applied to any image or video, with the person found and cropped the way
preprocessing does it, and the skeleton drawn over the frames (`gait pose`)."""
