"""The ``neurosig`` command. Each sub-command lives in its own module with ``register(subparsers)``."""
