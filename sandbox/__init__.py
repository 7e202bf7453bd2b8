"""A local marketplace simulator (placeholder docstring, rewritten below)."""
from .server import Sandbox

__all__ = ['Sandbox']
