"""redis-harness: a multi-process load harness for Redis."""

__version__ = "0.1.0"
