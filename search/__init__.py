"""Ray Tune orchestration, config schema, CLI, progress display and results."""
