"""`make run` stops what it started on SIGTERM as on Ctrl-C."""

from __future__ import annotations

import os
import signal

import pytest

from processors.devrun import sigterm_as_interrupt


def test_sigterm_becomes_a_keyboard_interrupt_inside_and_the_old_handler_returns_after() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)  # handled before kill returns to this thread
    assert signal.getsignal(signal.SIGTERM) is before
