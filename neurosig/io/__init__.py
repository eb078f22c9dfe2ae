"""Readers: files on disk → :class:`Recording`. No torch here."""

from neurosig.io.positions import clean_name, read_positions_file, standard_positions
from neurosig.io.readers import SUPPORTED, file_extension, is_epochs_file, read_recording, source_hash
from neurosig.io.recording import Recording

__all__ = ["Recording", "read_recording", "source_hash", "file_extension", "is_epochs_file", "SUPPORTED",
           "clean_name", "read_positions_file", "standard_positions"]
