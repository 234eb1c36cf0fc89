"""How MSI's read-only lead fields change over time, and the activity log that records some of it.

Each epoch (seeded by ``(seed, epoch)``, so a run repeats for the same store contents):

* a fraction of the synced leads (those with ``externalPersonId``) get a new interesting moment:
  type, date, description and source change and an "Interesting Moment" activity (type 46) is
  logged;
* another draw of the same size gets a new ``priority`` with a "Change Score" activity (type 22,
  attributes as in Adobe's XDM score-changed schema: Change Value, Old/New Value, Reason,
  Priority, Relative Score, Relative Urgency);
* every ``nightly_every``-th epoch, ``relativeUrgency`` and ``relativeScoring`` (0..3, MSI-STARS
  tiers recomputed nightly) are redrawn for half of the synced leads WITHOUT any activity;
* a few seeded marketing leads get interesting moments too, as noise the write-back must skip.

Decision: MSI recalculation does not touch ``updatedAt`` (these are computed fields), so only
re-reading the fields finds the nightly changes. Activity type ids 22 and 46 are Marketo's
standard ids (Talend's Marketo connector lists them with these names).
"""

from __future__ import annotations

import bisect
import random
import time
import uuid
from typing import TYPE_CHECKING, Any

from simulators.marketo.values import now_iso

if TYPE_CHECKING:
    from simulators.marketo.store import LeadTable

INTERESTING_MOMENT = 46
CHANGE_SCORE = 22

ACTIVITY_TYPES: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "Visit Webpage",
        "description": "User visits a web page",
        "primaryAttribute": {"name": "Webpage ID", "dataType": "integer"},
        "attributes": [
            {"name": "Client IP Address", "dataType": "string"},
            {"name": "Webpage URL", "dataType": "string"},
        ],
    },
    {
        "id": 2,
        "name": "Fill Out Form",
        "description": "User fills out and submits form on web page",
        "primaryAttribute": {"name": "Webform ID", "dataType": "integer"},
        "attributes": [{"name": "Form Fields", "dataType": "text"}, {"name": "Referrer URL", "dataType": "string"}],
    },
    {
        "id": 12,
        "name": "New Lead",
        "description": "New person",
        "primaryAttribute": {"name": "Lead ID", "dataType": "integer"},
        "attributes": [{"name": "Source Type", "dataType": "string"}],
    },
    {
        "id": 13,
        "name": "Change Data Value",
        "description": "Changed attribute value for a person",
        "primaryAttribute": {"name": "Attribute Name", "dataType": "integer"},
        "attributes": [
            {"name": "New Value", "dataType": "string"},
            {"name": "Old Value", "dataType": "string"},
            {"name": "Reason", "dataType": "string"},
            {"name": "Source", "dataType": "string"},
        ],
    },
    {
        "id": CHANGE_SCORE,
        "name": "Change Score",
        "description": "Changed score value for a person",
        "primaryAttribute": {"name": "Score Name", "dataType": "string"},
        "attributes": [
            {"name": "Change Value", "dataType": "string"},
            {"name": "New Value", "dataType": "integer"},
            {"name": "Old Value", "dataType": "integer"},
            {"name": "Reason", "dataType": "string"},
            {"name": "Priority", "dataType": "integer"},
            {"name": "Relative Score", "dataType": "integer"},
            {"name": "Relative Urgency", "dataType": "integer"},
            {"name": "Urgency", "dataType": "float"},
        ],
    },
    {
        "id": 32,
        "name": "Merge Leads",
        "description": "Merge two or more person records",
        "primaryAttribute": {"name": "Lead ID", "dataType": "integer"},
        "attributes": [{"name": "Merge IDs", "dataType": "string"}],
    },
    {
        "id": 37,
        "name": "Delete Lead",
        "description": "Delete a person",
        "primaryAttribute": {"name": "Lead ID", "dataType": "integer"},
        "attributes": [{"name": "Lead Name", "dataType": "string"}],
    },
    {
        "id": INTERESTING_MOMENT,
        "name": "Interesting Moment",
        "description": "Interesting moment for a person",
        "primaryAttribute": {"name": "Type", "dataType": "string"},
        "attributes": [
            {"name": "Description", "dataType": "string"},
            {"name": "Source", "dataType": "string"},
            {"name": "Date", "dataType": "datetime"},
        ],
    },
]

MOMENTS = (
    ("Email", "Opened email: {}", ("Q3 Newsletter", "Product Update", "Webinar Invite", "Pricing Offer")),
    ("Web", "Visited web page: {}", ("/pricing", "/product/tour", "/customers", "/contact")),
    ("Milestone", "Filled out form: {}", ("Contact Us", "Request a Demo", "Download Whitepaper")),
)


class ActivityLog:
    """Activities in the order they happened; positions are what paging tokens point at."""

    def __init__(self) -> None:
        self._at: list[float] = []
        self._rows: list[tuple[int, str, int, int, str, list[dict[str, Any]]]] = []

    def add(self, lead_id: int, type_id: int, primary: str, attributes: list[dict[str, Any]], at: float) -> None:
        self._at.append(at)
        self._rows.append((len(self._rows) + 1, str(uuid.uuid4()), lead_id, type_id, primary, attributes))

    def position_since(self, since: float) -> int:
        """Index of the first activity at or after `since`."""
        return bisect.bisect_left(self._at, since)

    def page(
        self, start: int, type_ids: set[int], lead_ids: set[int] | None, batch: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Up to `batch` matching activities from position `start`, and the position after them."""
        out: list[dict[str, Any]] = []
        position = max(0, start)
        while position < len(self._rows) and len(out) < batch:
            number, guid, lead_id, type_id, primary, attributes = self._rows[position]
            position += 1
            if type_id in type_ids and (lead_ids is None or lead_id in lead_ids):
                out.append(
                    {
                        "id": number,
                        "marketoGUID": guid,
                        "leadId": lead_id,
                        "activityDate": now_iso(self._at[position - 1]),
                        "activityTypeId": type_id,
                        "primaryAttributeValue": primary,
                        "attributes": attributes,
                    }
                )
        return out, position

    def __len__(self) -> int:
        return len(self._rows)


class MsiEngine:
    """Moves MSI's fields of the leads in `leads` one epoch at a time."""

    def __init__(
        self, seed: int, leads: LeadTable, log: ActivityLog, *, fraction: float = 0.1, nightly_every: int = 4
    ) -> None:
        self._seed = seed
        self._leads = leads
        self._log = log
        self._fraction = fraction
        self._nightly_every = max(1, nightly_every)
        self.epoch = 0

    def advance(self, epochs: int) -> dict[str, int]:
        totals = {"moments": 0, "score_changes": 0, "nightly_changes": 0}
        for _ in range(max(0, epochs)):
            self.epoch += 1
            rng = random.Random(f"{self._seed}:msi:{self.epoch}")
            synced = self._leads.synced_ids()
            count = max(1, round(self._fraction * len(synced))) if synced else 0
            for lead_id in rng.sample(synced, count) + self._noise(rng, count):
                self._moment(lead_id, rng)
                totals["moments"] += 1
            for lead_id in rng.sample(synced, count):
                self._score(lead_id, rng)
                totals["score_changes"] += 1
            if self.epoch % self._nightly_every == 0:
                totals["nightly_changes"] += self._nightly(synced, rng)
        return {"epoch": self.epoch, **totals}

    def _noise(self, rng: random.Random, count: int) -> list[int]:
        size = self._leads.generated.size
        picks = [rng.randint(1, size) for _ in range(max(1, count // 10))] if size else []
        return [lead_id for lead_id in picks if self._leads.get(lead_id) is not None]

    def _moment(self, lead_id: int, rng: random.Random) -> None:
        lead = self._leads.materialise(lead_id)
        if lead is None:
            return
        kind, template, subjects = rng.choice(MOMENTS)
        now = time.time()
        description = template.format(rng.choice(subjects))
        source = rng.choice(("Email", "Web", "Program", "Campaign"))
        lead.update(
            {
                "msiLastInterestingMomentType": kind,
                "msiLastInterestingMomentDate": now_iso(now),
                "msiLastInterestingMomentDesc": description,
                "msiLastInterestingMomentSource": source,
            }
        )
        attributes = [
            {"name": "Description", "value": description},
            {"name": "Source", "value": source},
            {"name": "Date", "value": now_iso(now)},
        ]
        self._log.add(lead_id, INTERESTING_MOMENT, kind, attributes, now)

    def _score(self, lead_id: int, rng: random.Random) -> None:
        lead = self._leads.materialise(lead_id)
        if lead is None:
            return
        old = int(lead.get("priority") or 0)
        new = min(100, max(0, old + rng.choice((-1, 1)) * rng.randint(1, 25)))
        if new == old:  # pinned at a bound: move the other way, a score change always changes
            new = old + 1 if old < 100 else old - 1
        lead["priority"] = new
        attributes: list[dict[str, Any]] = [
            {"name": "Change Value", "value": f"{new - old:+d}"},
            {"name": "New Value", "value": new},
            {"name": "Old Value", "value": old},
            {"name": "Reason", "value": "Behavior scoring"},
            {"name": "Priority", "value": new},
            {"name": "Relative Score", "value": lead.get("relativeScoring") or 0},
            {"name": "Relative Urgency", "value": lead.get("relativeUrgency") or 0},
        ]
        self._log.add(lead_id, CHANGE_SCORE, "Priority", attributes, time.time())

    def _nightly(self, synced: list[int], rng: random.Random) -> int:
        changed = 0
        for lead_id in rng.sample(synced, len(synced) // 2 or len(synced)):
            lead = self._leads.materialise(lead_id)
            if lead is None:
                continue
            urgency, scoring = rng.randint(0, 3), rng.randint(0, 3)
            if (lead.get("relativeUrgency"), lead.get("relativeScoring")) != (urgency, scoring):
                changed += 1
            lead["relativeUrgency"], lead["relativeScoring"] = urgency, scoring
        return changed
