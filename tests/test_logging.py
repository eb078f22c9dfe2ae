"""The package logger writes to the current sys.stderr, so a stream swapped in and closed earlier never breaks it."""

import io
import sys

from neurosig._utils.logging import get_logger


def test_log_lines_follow_the_current_stderr(monkeypatch):
    log = get_logger("t")
    old = io.StringIO()
    monkeypatch.setattr(sys, "stderr", old)
    log.warning("first")
    old.close()  # e.g. a test's captured stream, closed when that test ended
    new = io.StringIO()
    monkeypatch.setattr(sys, "stderr", new)
    log.warning("second")
    assert new.getvalue() == "neurosig WARNING: second\n"
