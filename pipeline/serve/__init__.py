"""Serving: Ray Serve deployments (embedder, classifier), the FastAPI ingress, the identity registry."""
