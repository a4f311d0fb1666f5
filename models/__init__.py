"""XLM-R encoder and task heads, the one training loop, checkpoints. Usable without Ray."""
