"""Task registry, data loading, featurisation, metrics and the offline world. No torch here."""
