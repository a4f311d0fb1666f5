"""xstilts: English intermediate-task training for zero-shot cross-lingual transfer, searched with Ray Tune."""

__version__ = "0.1.0"
