"""Stash Sense: face-based performer identification for Stash, with an embedded local engine."""

__version__ = "0.1.0"
