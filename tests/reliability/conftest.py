"""The integration harness (real Redis, PostgreSQL, worker processes, simulators) for the reliability tests."""

from tests.integration.conftest import integration_redis, stack_factory

__all__ = ["integration_redis", "stack_factory"]
