"""The worker's consumer reconnects when a replaced broker connection's transport fails,
instead of stopping (the end-to-end case is test_faults.py's Redis restarts)."""

from __future__ import annotations

import pytest
from kombu.transport.redis import _after_fork_cleanup_channel

from tasks.consumer import _reconnecting


def test_a_detached_redis_transports_attribute_error_is_a_connection_error() -> None:
    def loop() -> None:
        _after_fork_cleanup_channel(None)  # the Redis transport reaching for what is gone

    with pytest.raises(ConnectionError) as raised:
        _reconnecting(loop)()
    assert isinstance(raised.value.__cause__, AttributeError)


def test_any_other_attribute_error_is_left_as_it_is() -> None:
    def loop() -> None:
        raise AttributeError("a bug of ours")

    with pytest.raises(AttributeError, match="a bug of ours"):
        _reconnecting(loop)()
