"""A Marketo REST API simulator with Marketo's limits and envelopes."""

from simulators.marketo.simulator import MarketoSimulator

__all__ = ["MarketoSimulator"]
