"""Seeded marketing leads (form fills: email and name, no externalPersonId) that exist without being stored.

Lead ``i`` (1..size) is derived from ``(seed, i)`` whenever it is read, so a million of them cost
no memory; the email carries ``i`` in hex so a lookup by email finds the lead without an index.
Once the API changes or deletes one, the store keeps its own copy (or its absence) instead.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

FIRST = (
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Yara",
)
LAST = (
    "Adams",
    "Brown",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Novak",
    "Okafor",
    "Patel",
    "Rossi",
    "Silva",
    "Tanaka",
    "Weber",
)
DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "corp.example")
SOURCES = ("Web Form Fill", "Webinar", "Content Download", "Trade Show", "Newsletter Signup")
_EMAIL_INDEX = re.compile(r"\.([0-9a-f]+)@[^@]+$")
_EPOCH = datetime(2023, 1, 1, tzinfo=UTC)


class GeneratedLeads:
    """The seeded leads 1..size; `get(i)` rebuilds lead i, `find_email` reverses an email."""

    def __init__(self, seed: int, size: int) -> None:
        self.seed = seed
        self.size = size

    def get(self, lead_id: int) -> dict[str, Any] | None:
        if not 1 <= lead_id <= self.size:
            return None
        rng = random.Random(f"{self.seed}:{lead_id}")
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = _EPOCH + timedelta(seconds=rng.randrange(3 * 365 * 86_400))
        stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "id": lead_id,
            "email": f"{first}.{last}.{lead_id:x}@{rng.choice(DOMAINS)}".lower(),
            "firstName": first,
            "lastName": last,
            "leadSource": rng.choice(SOURCES),
            "unsubscribed": rng.random() < 0.05,
            "createdAt": stamp,
            "updatedAt": stamp,
        }

    def find_email(self, email: str) -> int | None:
        match = _EMAIL_INDEX.search(email.lower())
        if match is None:
            return None
        lead_id = int(match.group(1), 16)
        lead = self.get(lead_id)
        return lead_id if lead is not None and lead["email"] == email.lower() else None


def generate(seed: int, size: int) -> GeneratedLeads:
    """The `size` seeded marketing leads of an instance; size 0 means an empty instance."""
    if size < 0:
        raise ValueError("size must be 0 or more")
    return GeneratedLeads(seed, size)
