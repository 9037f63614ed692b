"""The OTLP/HTTP transport's tests forward to the same real next hop as the receiver tests."""

from tests.processors.receivers.conftest import next_hop  # noqa: F401  (the fixture)
