"""A Salesforce REST API simulator served over TLS."""
