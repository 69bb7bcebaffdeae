"""Ingest: dataset layouts → manifest; Ray Data decode/crop/window → Parquet shards."""
