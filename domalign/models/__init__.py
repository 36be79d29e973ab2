"""Base models: the embedded default, the catalog loader, and test-size models."""
