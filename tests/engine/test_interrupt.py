import os
import signal

import pytest
import torch

from wsss.engine.interrupt import StopRequest
from wsss.engine.runtime import Runtime


def test_a_signal_is_recorded_a_second_one_stops_at_once_and_the_handler_is_restored():
    handler = signal.getsignal(signal.SIGTERM)
    with StopRequest(Runtime(torch.device("cpu"))) as stop:
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested() and stop.signal == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is handler
