"""neurosig: a foundation-model pipeline for neural signals (EEG, MEG, sEEG/ECoG, fMRI).

Importing the package is cheap: it pulls in no torch, MNE or Lightning. Import the
sub-packages you need (``neurosig.io``, ``neurosig.preprocessing``, ``neurosig.datasets``,
``neurosig.tokenizers``, ``neurosig.models`` ...).
"""

__version__ = "0.1.0"

from neurosig._utils.errors import NeurosigError  # noqa: E402

__all__ = ["NeurosigError", "__version__"]
