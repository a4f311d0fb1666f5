"""The bottom layer: what every other layer may use and that knows nothing of tasks, models or searches --
the errors xstilts raises on purpose, atomic local files and build locks, and storage locations (a local
directory or an object store)."""
