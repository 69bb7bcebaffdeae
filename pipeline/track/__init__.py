"""Finding and tracking every person in footage: detectors behind one interface, ByteTrack, camera motion,
track quality. A person track, not a file, becomes a sequence (docs/tracking.md)."""
