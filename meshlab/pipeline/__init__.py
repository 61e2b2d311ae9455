"""The notebook runner that DVC stages call."""
