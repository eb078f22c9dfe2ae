"""Small helpers shared by every layer: errors, validation, logging, rng, optional imports.

Nothing here imports torch, MNE or Lightning at module level.
"""

from neurosig._utils.errors import NeurosigError
from neurosig._utils.validation import check_option, check_positive, check_type, check_path_exists
from neurosig._utils.logging import get_logger, set_verbosity
from neurosig._utils.optional import require

__all__ = [
    "NeurosigError",
    "check_option",
    "check_positive",
    "check_type",
    "check_path_exists",
    "get_logger",
    "set_verbosity",
    "require",
]
