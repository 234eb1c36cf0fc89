"""Changes to the org as operations: explicit ones (control API) and `mutate`, a seeded mix of realistic ones."""

from __future__ import annotations

import random
from typing import Any

from simulators.salesforce import generator, schema
from simulators.salesforce.org import Org, StoreError


def apply_operation(org: Org, operation: dict[str, Any]) -> dict[str, Any]:
    """One change, described as JSON; returns what it did. Raises StoreError (or ValueError) if refused.

    {"op": "create", "sobject": "Lead", "fields": {...}}     {"op": "update", "id": ..., "fields": {...}}
    {"op": "delete", "id": ...}    {"op": "undelete", "id": ...}    {"op": "merge", "winner": ..., "losers": [...]}
    {"op": "convert", "lead": ..., "account": null, "owner": null, "opportunity": true}
    {"op": "contact_role", "id": ..., "role": ..., "contact": ..., "primary": ...}
    {"op": "owner", "id": ..., "owner": ...}    {"op": "deactivate", "user": ...}
    """
    op = operation.get("op")
    if op == "create":
        return {"op": op, "id": org.create(str(operation["sobject"]), dict(operation.get("fields") or {}))}
    if op == "update":
        org.update(str(operation["id"]), dict(operation.get("fields") or {}))
        return {"op": op, "id": operation["id"]}
    if op == "delete":
        return {"op": op, "ids": org.delete(str(operation["id"]))}
    if op == "undelete":
        return {"op": op, "ids": org.undelete(str(operation["id"]))}
    if op == "merge":
        return {"op": op, **org.merge(str(operation["winner"]), [str(i) for i in operation["losers"]])}
    if op == "convert":
        return {
            "op": op,
            **org.convert_lead(
                str(operation["lead"]),
                account_id=operation.get("account"),
                owner_id=operation.get("owner"),
                create_opportunity=bool(operation.get("opportunity", True)),
            ),
        }
    if op == "contact_role":
        changes = {
            name: operation[key]
            for key, name in (("role", "Role"), ("contact", "ContactId"), ("primary", "IsPrimary"))
            if key in operation
        }
        org.set_contact_role(str(operation["id"]), **changes)
        return {"op": op, "id": operation["id"], "changes": changes}
    if op == "owner":
        org.change_owner(str(operation["id"]), str(operation["owner"]))
        return {"op": op, "id": operation["id"], "owner": operation["owner"]}
    if op == "deactivate":
        org.deactivate_user(str(operation["user"]))
        return {"op": op, "user": operation["user"]}
    raise StoreError(f"unknown operation {op!r}")


# Relative weights of the kinds of change a busy org sees.
_KINDS = (
    ("update", 40),
    ("create", 15),
    ("owner", 10),
    ("contact_role", 8),
    ("convert", 7),
    ("delete", 7),
    ("merge", 5),
    ("undelete", 3),
    ("deactivate", 2),
)


class _Mutator:
    def __init__(self, org: Org, seed: int) -> None:
        self.org = org
        self.rng = random.Random(seed)
        # Id lists taken once: picking at random from a million-row dict must not copy it each time.
        self.ids = {name: list(table.rows) for name, table in org.tables.items()}
        # The recycle bin is small: keep its ids apart so undelete finds them without luck.
        self.binned = {
            name: [i for i, row in table.rows.items() if table.get(row, "IsDeleted")]
            for name, table in org.tables.items()
            if "IsDeleted" in table.pos
        }

    def pick(self, sobject: str, *, deleted: bool = False, where: dict[str, Any] | None = None) -> str | None:
        """A random record of `sobject` (live, or deleted) whose fields match `where`, or None."""
        table = self.org.tables[sobject]
        ids = self.binned[sobject] if deleted else self.ids[sobject]
        for _ in range(30 if ids else 0):
            record_id = ids[int(self.rng.random() * len(ids))]
            row = table.rows.get(record_id)
            if row is None:
                continue
            if "IsDeleted" in table.pos and bool(table.get(row, "IsDeleted")) != deleted:
                continue
            if all(table.get(row, name) == value for name, value in (where or {}).items()):
                return record_id
        return None

    def active_user(self) -> str | None:
        user = self.pick("User", where={"IsActive": True, "UserType": "Standard"})
        return None if user == self.org.integration_user_id else user

    def run(self, n: int) -> list[dict[str, Any]]:
        kinds = [kind for kind, _ in _KINDS]
        weights = [weight for _, weight in _KINDS]
        done: list[dict[str, Any]] = []
        attempts = 0
        while len(done) < n and attempts < 20 * n + 20:
            attempts += 1
            kind = self.rng.choices(kinds, weights)[0]
            try:
                change = getattr(self, kind)()
            except (StoreError, ValueError):
                change = None
            if change is not None:
                done.append(change)
        return done

    # --- kinds of change --------------------------------------------------------------
    def update(self) -> dict[str, Any] | None:
        rng = self.rng
        sobject = rng.choice(("Lead", "Contact", "Contact", "Account", "Opportunity"))
        record_id = self.pick(sobject, where={"IsConverted": False} if sobject == "Lead" else None)
        if record_id is None:
            return None
        fields: dict[str, Any]
        if sobject == "Opportunity":
            fields = {
                "StageName": rng.choice(schema.OPPORTUNITY_STAGES)[0],
                "Amount": float(rng.randint(1, 900) * 1000),
            }
        elif sobject == "Account":
            fields = {"Industry": rng.choice(generator.INDUSTRIES), "Phone": f"+1 415-555-{rng.randint(0, 9999):04d}"}
        else:
            first, last = rng.choice(generator.FIRST_NAMES), rng.choice(generator.LAST_NAMES)
            fields = rng.choice(
                (
                    {"Title": rng.choice(generator.TITLES)},
                    {"Phone": f"+1 212-555-{rng.randint(0, 9999):04d}"},
                    {"Email": f"{first}.{last}.{rng.randint(1, 10**6)}@changed.example.com".lower()},
                    {"FirstName": first, "LastName": last},
                )
            )
        self.org.update(record_id, fields)
        return {"op": "update", "sobject": sobject, "id": record_id, "fields": sorted(fields)}

    def create(self) -> dict[str, Any] | None:
        rng = self.rng
        sobject = rng.choice(("Lead", "Lead", "Contact", "Account", "Opportunity", "OpportunityContactRole"))
        owner = self.active_user()
        if owner is None:
            return None
        first, last = rng.choice(generator.FIRST_NAMES), rng.choice(generator.LAST_NAMES)
        email = f"{first}.{last}.{rng.randint(1, 10**7)}@new.example.com".lower()
        fields: dict[str, Any]
        if sobject == "Lead":
            fields = {
                "FirstName": first,
                "LastName": last,
                "Email": email,
                "OwnerId": owner,
                "Company": f"{rng.choice(generator.COMPANY_WORDS)} {rng.choice(generator.COMPANY_NOUNS)}",
            }
        elif sobject == "Contact":
            fields = {
                "FirstName": first,
                "LastName": last,
                "Email": email,
                "OwnerId": owner,
                "AccountId": self.pick("Account"),
            }
        elif sobject == "Account":
            fields = {
                "Name": f"{rng.choice(generator.COMPANY_WORDS)} {rng.choice(generator.COMPANY_NOUNS)} New",
                "OwnerId": owner,
            }
        elif sobject == "Opportunity":
            fields = {
                "Name": f"{rng.choice(generator.COMPANY_WORDS)} Deal",
                "OwnerId": owner,
                "AccountId": self.pick("Account"),
                "StageName": "Prospecting",
                "CloseDate": "2026-06-30",
            }
        else:
            opportunity, contact = self.pick("Opportunity"), self.pick("Contact")
            if opportunity is None or contact is None:
                return None
            fields = {"OpportunityId": opportunity, "ContactId": contact, "Role": rng.choice(schema.CONTACT_ROLES)}
        record_id = self.org.create(sobject, fields)
        self.ids[sobject].append(record_id)
        return {"op": "create", "sobject": sobject, "id": record_id}

    def owner(self) -> dict[str, Any] | None:
        sobject = self.rng.choice(("Lead", "Lead", "Contact", "Account", "Opportunity"))
        record_id = self.pick(sobject)
        to_queue = sobject == "Lead" and self.rng.random() < 0.3
        owner = self.pick("Group") if to_queue else self.active_user()
        if record_id is None or owner is None:
            return None
        self.org.change_owner(record_id, owner)
        return {"op": "owner", "sobject": sobject, "id": record_id, "owner": owner}

    def contact_role(self) -> dict[str, Any] | None:
        role_id = self.pick("OpportunityContactRole")
        if role_id is None:
            return None
        if self.rng.random() < 0.7:
            changes: dict[str, Any] = {"Role": self.rng.choice(schema.CONTACT_ROLES)}
        else:
            contact = self.pick("Contact")
            if contact is None:
                return None
            changes = {"ContactId": contact}
        self.org.set_contact_role(role_id, **changes)
        return {"op": "contact_role", "id": role_id, "changes": sorted(changes)}

    def convert(self) -> dict[str, Any] | None:
        lead = self.pick("Lead", where={"IsConverted": False})
        if lead is None:
            return None
        leads = self.org.tables["Lead"]
        owner = leads.get(leads.rows[lead], "OwnerId")
        owner_id = None if str(owner).startswith("005") else self.active_user()
        account = self.pick("Account") if self.rng.random() < 0.3 else None
        result = self.org.convert_lead(
            lead, account_id=account, owner_id=owner_id, create_opportunity=self.rng.random() < 0.5
        )
        for sobject, key in (("Account", "account"), ("Contact", "contact"), ("Opportunity", "opportunity")):
            if result.get(key) and result[key] not in (account,):
                self.ids[sobject].append(str(result[key]))
        return {"op": "convert", **result}

    def delete(self) -> dict[str, Any] | None:
        sobject = self.rng.choice(("Lead", "Contact", "Opportunity", "OpportunityContactRole"))
        record_id = self.pick(sobject)
        if record_id is None:
            return None
        deleted = self.org.delete(record_id)
        for gone in deleted:
            found = self.org.locate(gone)
            if found is not None:
                self.binned[found[0].sobject.name].append(gone)
        return {"op": "delete", "sobject": sobject, "ids": deleted}

    def undelete(self) -> dict[str, Any] | None:
        sobject = self.rng.choice(("Lead", "Contact", "Opportunity"))
        never_merged = {"MasterRecordId": None} if sobject != "Opportunity" else None
        record_id = self.pick(sobject, deleted=True, where=never_merged)
        if record_id is None:
            return None
        return {"op": "undelete", "sobject": sobject, "ids": self.org.undelete(record_id)}

    def merge(self) -> dict[str, Any] | None:
        sobject = self.rng.choice(("Lead", "Contact", "Account"))
        where = {"IsConverted": False} if sobject == "Lead" else {}
        winner, loser = self.pick(sobject, where=where), self.pick(sobject, where=where)
        if winner is None or loser is None or winner == loser:
            return None
        return {"op": "merge", "sobject": sobject, **self.org.merge(winner, [loser])}

    def deactivate(self) -> dict[str, Any] | None:
        users = self.org.tables["User"]
        active = [
            u
            for u, row in users.rows.items()
            if users.get(row, "IsActive") and users.get(row, "UserType") == "Standard"
        ]
        if len(active) <= 4:
            return None
        user = self.active_user()
        if user is None or user == self.org.admin_user_id:
            return None
        self.org.deactivate_user(user)
        return {"op": "deactivate", "user": user}


def mutate(org: Org, seed: int, n: int) -> list[dict[str, Any]]:
    """Apply n realistic random changes (all kinds the store knows), deterministic for a seed and a
    starting state; returns what was done, in order."""
    with org.lock:
        return _Mutator(org, seed).run(n)
