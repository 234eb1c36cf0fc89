"""Salesforce and Marketo simulators: real HTTP servers with the vendors' paths, envelopes and limits."""
