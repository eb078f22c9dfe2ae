"""The one exception type users see.

Every error raised at a public boundary is a :class:`NeurosigError` whose message is one line
that names the file or parameter, what was expected, and the fix. The CLI prints it without a
traceback (``neurosig --debug ...`` shows the traceback).
"""


class NeurosigError(ValueError):
    """A user-facing error: one line naming the file/parameter and the fix."""

    def __init__(self, message: str):
        # Keep messages on one line: a newline would break log parsers and the CLI format.
        super().__init__(" ".join(str(message).split("\n")))
