"""A Marketo REST API simulator with Marketo's limits and envelopes."""
