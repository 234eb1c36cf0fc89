"""The sync as plain functions: SOQL, mapping, fingerprints, staging, chunks, stage gates, watermarks."""
