"""Ctrl-C says at once what it does: the stop waits for the current batch."""

from __future__ import annotations

import os
import signal

from aigenbench.training.interrupts import SignalFlag


def test_the_first_ctrl_c_says_the_stop_waits_for_the_batch(capsys):
    with SignalFlag() as flag:
        os.kill(os.getpid(), signal.SIGINT)
        assert flag.received == signal.SIGINT
    err = capsys.readouterr().err
    assert "Ctrl-C received: stopping after the current batch" in err
    assert "Ctrl-C again to stop at once" in err
