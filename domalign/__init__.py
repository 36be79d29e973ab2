"""domalign: turn a domain's documents into a model that knows that domain."""

__version__ = "0.1.0"
