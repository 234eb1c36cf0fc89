"""A Salesforce REST API simulator served over TLS."""

from simulators.salesforce.simulator import SalesforceSimulator

__all__ = ["SalesforceSimulator"]
