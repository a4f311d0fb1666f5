"""The internal columns each task kind loads into."""

INTERNAL = {
    "classification": {"text_a", "label"},
    "multiple_choice": {"context", "question", "choices", "label"},
    "span": {"id", "context", "question", "answers"},
    "tagging": {"tokens", "tags"},
    "retrieval": {"text_a", "text_b"},
}
