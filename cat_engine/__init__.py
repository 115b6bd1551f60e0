"""cat-engine: the exam server (app factory, store, live namespaces, services, CLI)."""

__version__ = "0.1.0"
