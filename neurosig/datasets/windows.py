"""Window planning lives in :mod:`neurosig.preprocessing.windows` (preprocessing cannot import
datasets); re-exported here for users who look for it next to the store."""

from neurosig.preprocessing.windows import Window, plan_windows

__all__ = ["Window", "plan_windows"]
