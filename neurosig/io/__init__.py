"""Readers: files on disk → :class:`Recording`. No torch here."""

from neurosig.io.recording import Recording

__all__ = ["Recording"]
