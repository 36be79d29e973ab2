"""The application layer: use cases the API calls, and the durable alignment workflow."""
