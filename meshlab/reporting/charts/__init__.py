"""Chart builders for the reports: polars frames in, altair charts out (no domain imports)."""
