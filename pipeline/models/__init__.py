"""Models (tf-keras): HumanPoseNN (frames → joint heatmaps + spatial features), GaitNN (features over time →
identity vector), the silhouette and presence networks, heatmap coding, and saving/loading model files."""
