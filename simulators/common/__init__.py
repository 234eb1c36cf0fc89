"""Pieces both simulators share: the threaded HTTP(S) server, the throw-away CA, the request log, faults."""
