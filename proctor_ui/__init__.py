"""Templates and static assets of the three web UIs (terminal, proctor console, display)."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
