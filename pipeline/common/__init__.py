"""The ground floor: contracts every stage shares (storage, the model directory, the skeleton, the synthetic
dataset format, settings layering, Ray start-up, atomic files). It imports no stage (docs/architecture.md)."""
