"""Clients of the external systems (Salesforce, Marketo), the shared limiter and token cache, id helpers."""
