"""A module that fails as Lambda imports it (for tests/test_adapters.py)."""

raise RuntimeError("init boom")


def handler(event, context):  # noqa: ANN001, ANN201 - never reached
    return event
