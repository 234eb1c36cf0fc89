"""The REST resources the simulator serves, each mapped to an operation and its handler.

Paths and methods follow Adobe's swagger-mapi.json. A known path with the wrong method answers
605 "Request method '%s' not supported" (DEV/error-codes; the wording is the one seen in
HGData/mk-node-marketo issue #36); an unknown path under ``/rest`` answers 610 "Requested
resource not found" with HTTP 200 like every response-level error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulators.marketo import handlers

Handler = Callable[["handlers.Call"], "handlers.Outcome"]


@dataclass(frozen=True)
class Route:
    method: str  # the effective method: POST with ?_method=GET counts as GET
    pattern: re.Pattern[str]
    operation: str
    obj: str | None
    handler: Handler


def _r(method: str, path: str, operation: str, obj: str | None, handler: Handler) -> Route:
    return Route(method, re.compile("^" + path + "$"), operation, obj, handler)


_OBJECT_PATHS = {
    "salespersons": "/rest/v1/salespersons",
    "companies": "/rest/v1/companies",
    "opportunities": "/rest/v1/opportunities",
    "roles": "/rest/v1/opportunities/roles",
}

ROUTES: list[Route] = []
for _obj, _base in _OBJECT_PATHS.items():
    ROUTES += [
        _r("POST", _base + r"\.json", "sync", _obj, handlers.sync_objects),
        _r("GET", _base + r"\.json", "get", _obj, handlers.get_objects),
        _r("POST", _base + r"/delete\.json", "delete", _obj, handlers.delete_objects),
        _r("GET", _base + r"/describe\.json", "describe", _obj, handlers.describe_object),
    ]
ROUTES += [
    _r("POST", r"/rest/v1/leads\.json", "sync", "leads", handlers.sync_leads),
    _r("GET", r"/rest/v1/leads\.json", "get", "leads", handlers.get_leads),
    _r("GET", r"/rest/v1/lead/(?P<lead_id>\d+)\.json", "get", "leads", handlers.get_lead_by_id),
    _r("POST", r"/rest/v1/leads/delete\.json", "delete", "leads", handlers.delete_leads),
    _r("GET", r"/rest/v1/leads/describe\.json", "describe", "leads", handlers.describe_leads),
    _r("GET", r"/rest/v1/leads/describe2\.json", "describe", "leads", handlers.describe_leads2),
    _r("POST", r"/rest/v1/leads/(?P<lead_id>\d+)/merge\.json", "merge", "leads", handlers.merge_leads),
    _r("GET", r"/rest/v1/stats/usage\.json", "usage", None, handlers.usage),
    _r("GET", r"/rest/v1/stats/errors\.json", "errors", None, handlers.error_stats),
    _r("GET", r"/rest/v1/activities/types\.json", "activity_types", None, handlers.activity_types),
    _r("GET", r"/rest/v1/activities/pagingtoken\.json", "paging_token", None, handlers.paging_token),
    _r("GET", r"/rest/v1/activities\.json", "activities", None, handlers.activities),
]


def resolve(method: str, path: str) -> tuple[Route | None, dict[str, Any], bool]:
    """The route for (method, path) and its path parameters; the bool says the path exists at all."""
    path_known = False
    for route in ROUTES:
        match = route.pattern.match(path)
        if match is None:
            continue
        path_known = True
        if route.method == method:
            return route, match.groupdict(), True
    return None, {}, path_known


def guess(method: str, path: str) -> tuple[str, str | None]:
    """Operation and object for the log before (or without) a full match, e.g. for a 414 or a 601."""
    candidates = [route for route in ROUTES if route.pattern.match(path)]
    for route in sorted(candidates, key=lambda route: route.method != method):
        return route.operation, route.obj
    return "unknown", None
