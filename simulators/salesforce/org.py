"""The in-memory org: one table per object, and the changes a Salesforce user or admin can make to it.

Rows are plain lists in the object's field order (a dict per record would triple the memory of a
million-record org); datetimes are kept as epoch milliseconds and rendered on the way out.
Every change takes the org's lock and stamps SystemModstamp from one strictly increasing clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from clients import sfids
from simulators.salesforce import schema
from simulators.salesforce.values import coerce, date_of, render

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class StoreError(ValueError):
    """A change the store refuses (unknown record, wrong object, converted lead, ...)."""


def base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(reversed(chars))


class Table:
    """The records of one object: id -> row (a list in the object's field order)."""

    def __init__(self, sobject: schema.SObject) -> None:
        self.sobject = sobject
        self.names = sobject.names
        self.pos = {name: i for i, name in enumerate(self.names)}
        self.rows: dict[str, list[Any]] = {}
        self._width = len(self.names)

    def new_row(self, values: dict[str, Any]) -> list[Any]:
        """A row from canonical field names (already coerced); missing fields are null."""
        row: list[Any] = [None] * self._width
        pos = self.pos
        for name, value in values.items():
            row[pos[name]] = value
        self.rows[row[0]] = row
        return row

    def get(self, row: list[Any], name: str) -> Any:
        return row[self.pos[name]]

    def set(self, row: list[Any], name: str, value: Any) -> None:
        row[self.pos[name]] = value

    def as_dict(self, row: list[Any], names: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The row as API JSON values (datetimes formatted), for the given or all fields."""
        fields = self.sobject.fields
        if names is None:
            return {f.name: render(f, row[i]) for i, f in enumerate(fields)}
        pos = self.pos
        return {name: render(fields[pos[name]], row[pos[name]]) for name in names}

    def __len__(self) -> int:
        return len(self.rows)


class Org:
    """The whole org. All reads that must be consistent and every change happen under `lock`."""

    def __init__(
        self,
        *,
        org_id: str,
        pod: str = "5g",
        sandbox: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self.org_id = org_id
        self.sandbox = sandbox
        self.tables = {name: Table(obj) for name, obj in schema.OBJECTS.items()}
        self._pod = pod
        self._counters: dict[str, int] = {}
        self._clock = clock
        self._last_stamp = 0
        # Who "the admin" is for changes made through the store, who the API client runs as,
        # and where the simulated lead assignment rule sends leads.
        self.admin_user_id = ""
        self.integration_user_id = ""
        self.assignment_queue_id = ""
        # Children deleted together with a parent, so that undelete restores them too.
        self._cascade: dict[str, list[str]] = {}

    def load(self, other: Org) -> None:
        """Take over another org's contents in place (everything holding this org sees the new data)."""
        with self.lock:
            state = {key: value for key, value in other.__dict__.items() if key != "lock"}
            self.__dict__.update(state)

    # --- ids and time ------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        number = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = number
        id15 = f"{prefix}{self._pod}0{base62(number, 9)}"
        return id15 + sfids.checksum(id15)

    def next_stamp(self) -> int:
        """A SystemModstamp later than every earlier one in this org (millisecond resolution)."""
        now = int(self._clock() * 1000)
        self._last_stamp = max(now, self._last_stamp + 1)
        return self._last_stamp

    def observe_stamp(self, stamp: int) -> None:
        """Generated data may carry stamps; later changes must still move forward from them."""
        self._last_stamp = max(self._last_stamp, stamp)

    @property
    def last_stamp(self) -> int:
        return self._last_stamp

    # --- lookups -----------------------------------------------------------------------
    def table(self, name: str) -> Table:
        sobject = schema.sobject(name)
        if sobject is None:
            raise StoreError(f"unknown object {name!r}")
        return self.tables[sobject.name]

    def locate(self, record_id: str) -> tuple[Table, list[Any]] | None:
        """The table and row of an id (15 or 18 characters), or None if there is no such record."""
        try:
            full = sfids.to_18(record_id)
        except sfids.InvalidSalesforceId:
            return None
        sobject = schema.object_of_id(full)
        if sobject is None:
            return None
        table = self.tables[sobject.name]
        row = table.rows.get(full)
        return (table, row) if row is not None else None

    def _require(self, record_id: str, *objects: str) -> tuple[Table, list[Any]]:
        found = self.locate(record_id)
        if found is None:
            raise StoreError(f"no record {record_id!r}")
        table, _ = found
        if objects and table.sobject.name not in objects:
            raise StoreError(f"{record_id!r} is a {table.sobject.name}, not a {' or '.join(objects)}")
        return found

    def get(self, record_id: str) -> dict[str, Any] | None:
        """One record as the API would show it (all fields), or None."""
        with self.lock:
            found = self.locate(record_id)
            if found is None:
                return None
            table, row = found
            return {"_type": table.sobject.name, **table.as_dict(row)}

    def records(self, sobject: str, *, include_deleted: bool = True) -> Iterator[dict[str, Any]]:
        """Every record of an object, in creation order, as API values (a snapshot of ids)."""
        table = self.table(sobject)
        with self.lock:
            ids = list(table.rows)
        deleted_at = table.pos.get("IsDeleted")
        for record_id in ids:
            with self.lock:
                row = table.rows.get(record_id)
                if row is None or (not include_deleted and deleted_at is not None and row[deleted_at]):
                    continue
                yield table.as_dict(row)

    def counts(self) -> dict[str, dict[str, int]]:
        with self.lock:
            out = {}
            for name, table in self.tables.items():
                deleted_at = table.pos.get("IsDeleted")
                deleted = sum(1 for row in table.rows.values() if row[deleted_at]) if deleted_at else 0
                out[name] = {"total": len(table), "deleted": deleted}
            return out

    # --- changes -----------------------------------------------------------------------
    def create(self, sobject: str, fields: dict[str, Any], *, by: str | None = None) -> str:
        """Insert a record; audit fields and derived fields are filled as Salesforce would."""
        with self.lock:
            table = self.table(sobject)
            values = self._coerced(table, fields, creating=True)
            stamp = self.next_stamp()
            record_id = self.new_id(table.sobject.key_prefix)
            values["Id"] = record_id
            for name, default in _DEFAULTS.get(table.sobject.name, {}).items():
                values.setdefault(name, default)
            if "IsDeleted" in table.pos:
                values["IsDeleted"] = False
            values.update(
                CreatedDate=stamp,
                LastModifiedDate=stamp,
                SystemModstamp=stamp,
                LastModifiedById=by or self.admin_user_id,
            )
            row = table.new_row(values)
            derive(table, row)
            return record_id

    def update(self, record_id: str, fields: dict[str, Any], *, by: str | None = None) -> None:
        """Change fields of a live record (any field the object has, updateable or not: an admin's
        or a trigger's change); the API path checks updateability itself."""
        with self.lock:
            table, row = self._require(record_id)
            if table.get(row, "IsDeleted") if "IsDeleted" in table.pos else False:
                raise StoreError(f"{record_id!r} is deleted")
            values = self._coerced(table, fields, creating=False)
            for name, value in values.items():
                table.set(row, name, value)
            derive(table, row)
            self.touch(table, row, by=by)

    def touch(self, table: Table, row: list[Any], *, by: str | None = None) -> None:
        """Record a change: LastModifiedDate, SystemModstamp and LastModifiedById move."""
        stamp = self.next_stamp()
        table.set(row, "LastModifiedDate", stamp)
        table.set(row, "SystemModstamp", stamp)
        table.set(row, "LastModifiedById", by or self.admin_user_id)

    def _coerced(self, table: Table, fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        out = {}
        for name, value in fields.items():
            field = table.sobject.field(name)
            if field is None or (field.name in _SYSTEM_FIELDS and not creating):
                raise StoreError(f"no settable field {name!r} on {table.sobject.name}")
            out[field.name] = coerce(field, value)
        return out

    def delete(self, record_id: str) -> list[str]:
        """Move a record (and what Salesforce deletes with it) to the recycle bin; returns the ids."""
        with self.lock:
            table, row = self._require(record_id, *schema.DELETABLE)
            if table.get(row, "IsDeleted"):
                raise StoreError(f"{record_id!r} is already deleted")
            deleted = [row[0]]
            self._mark_deleted(table, row)
            for child_table, child in self._cascade_children(table.sobject.name, row[0]):
                if not child_table.get(child, "IsDeleted"):
                    self._mark_deleted(child_table, child)
                    deleted.append(child[0])
            self._cascade[row[0]] = deleted[1:]
            return deleted

    def _mark_deleted(self, table: Table, row: list[Any]) -> None:
        table.set(row, "IsDeleted", True)
        self.touch(table, row)

    def _cascade_children(self, sobject: str, parent_id: str) -> list[tuple[Table, list[Any]]]:
        """Deleting an account deletes its contacts and opportunities; an opportunity its roles."""
        links = {
            "Account": (("Contact", "AccountId"), ("Opportunity", "AccountId")),
            "Opportunity": (("OpportunityContactRole", "OpportunityId"),),
        }.get(sobject, ())
        out = []
        for child_name, link in links:
            child_table = self.tables[child_name]
            for child in self.children(child_name, link, parent_id):
                out.append((child_table, child))
                if child_name == "Opportunity":
                    out.extend(self._cascade_children("Opportunity", child[0]))
        return out

    def children(self, sobject: str, link: str, parent_id: str) -> list[list[Any]]:
        """Rows of `sobject` whose `link` field points at parent_id (15- or 18-character form)."""
        table = self.tables[sobject]
        at = table.pos[link]
        short = parent_id[:15]
        return [row for row in table.rows.values() if row[at] is not None and row[at][:15] == short]

    def undelete(self, record_id: str) -> list[str]:
        """Restore a record from the recycle bin (with what was deleted along with it)."""
        with self.lock:
            table, row = self._require(record_id, *schema.DELETABLE)
            if not table.get(row, "IsDeleted"):
                raise StoreError(f"{record_id!r} is not deleted")
            if table.pos.get("MasterRecordId") is not None and table.get(row, "MasterRecordId"):
                raise StoreError(f"{record_id!r} was merged away and cannot be restored here")
            restored = [row[0]]
            table.set(row, "IsDeleted", False)
            self.touch(table, row)
            for child_id in self._cascade.pop(row[0], []):
                child_table, child = self._require(child_id)
                child_table.set(child, "IsDeleted", False)
                self.touch(child_table, child)
                restored.append(child_id)
            return restored

    def merge(self, winner_id: str, loser_ids: list[str]) -> dict[str, Any]:
        """Merge up to two records into the winner, as Salesforce's merge does.

        Losers go to the recycle bin with MasterRecordId = winner; their children move to the
        winner (contacts and opportunities of an account, contact roles of a contact).
        """
        with self.lock:
            table, winner = self._require(winner_id, *schema.MERGEABLE)
            if table.get(winner, "IsDeleted"):
                raise StoreError("the master record is deleted")
            if not 1 <= len(loser_ids) <= 2:
                raise StoreError("a merge takes one or two records besides the master")
            moved: list[str] = []
            losers = []
            for loser_id in loser_ids:
                loser_table, loser = self._require(loser_id, table.sobject.name)
                if loser is winner or loser_table.get(loser, "IsDeleted"):
                    raise StoreError(f"{loser_id!r} cannot be merged")
                if table.sobject.name == "Lead" and loser_table.get(loser, "IsConverted"):
                    raise StoreError("a converted lead cannot be merged")
                losers.append(loser)
            for loser in losers:
                moved.extend(self._reparent(table.sobject.name, loser[0], winner[0]))
                table.set(loser, "MasterRecordId", winner[0])
                self._mark_deleted(table, loser)
            self.touch(table, winner)
            return {"winner": winner[0], "losers": [row[0] for row in losers], "reparented": moved}

    def _reparent(self, sobject: str, old_parent: str, new_parent: str) -> list[str]:
        links = {
            "Account": (("Contact", "AccountId"), ("Opportunity", "AccountId")),
            "Contact": (("OpportunityContactRole", "ContactId"),),
        }.get(sobject, ())
        moved = []
        for child_name, link in links:
            child_table = self.tables[child_name]
            for child in self.children(child_name, link, old_parent):
                child_table.set(child, link, new_parent)
                self.touch(child_table, child)
                moved.append(child[0])
        return moved

    def convert_lead(
        self,
        lead_id: str,
        *,
        account_id: str | None = None,
        owner_id: str | None = None,
        create_opportunity: bool = True,
        opportunity_name: str | None = None,
    ) -> dict[str, str | None]:
        """Convert a lead as Salesforce does: a contact (and an account unless one is given, and
        an opportunity with the contact as primary role), all owned by the lead's owner."""
        with self.lock:
            leads, lead = self._require(lead_id, "Lead")
            get = leads.as_dict(lead)
            if get["IsDeleted"] or get["IsConverted"]:
                raise StoreError(f"{lead_id!r} is deleted or already converted")
            owner = owner_id or get["OwnerId"]
            if not owner or not sfids.to_18(owner).startswith(sfids.PREFIX_USER):
                raise StoreError("converted records must be owned by a user: give owner_id for a queue-owned lead")
            if account_id is None:
                account_id = self.create(
                    "Account",
                    {
                        "Name": get["Company"] or get["LastName"] or "Unknown",
                        "OwnerId": owner,
                        "Industry": get["Industry"],
                        "AnnualRevenue": get["AnnualRevenue"],
                        "NumberOfEmployees": get["NumberOfEmployees"],
                        "BillingStreet": get["Street"],
                        "BillingCity": get["City"],
                        "BillingState": get["State"],
                        "BillingPostalCode": get["PostalCode"],
                        "BillingCountry": get["Country"],
                    },
                )
            else:
                self._require(account_id, "Account")
            contact_fields = {name: get[source] for name, source in _LEAD_TO_CONTACT.items()}
            contact_id = self.create("Contact", {**contact_fields, "AccountId": account_id, "OwnerId": owner})
            opportunity_id = None
            if create_opportunity:
                stamp = self._last_stamp
                opportunity_id = self.create(
                    "Opportunity",
                    {
                        "Name": opportunity_name or f"{get['Company'] or get['LastName']}-",
                        "AccountId": account_id,
                        "OwnerId": owner,
                        "StageName": "Prospecting",
                        "CloseDate": date_of(stamp + 30 * 86_400_000),
                        "LeadSource": get["LeadSource"],
                    },
                )
                self.create(
                    "OpportunityContactRole",
                    {"OpportunityId": opportunity_id, "ContactId": contact_id, "IsPrimary": True},
                )
            for name, value in (
                ("IsConverted", True),
                ("ConvertedDate", date_of(self._last_stamp)),
                ("ConvertedAccountId", account_id),
                ("ConvertedContactId", contact_id),
                ("ConvertedOpportunityId", opportunity_id),
                ("Status", schema.CONVERTED_STATUS),
            ):
                leads.set(lead, name, value)
            self.touch(leads, lead)
            return {
                "lead": lead[0],
                "account": sfids.to_18(account_id),
                "contact": contact_id,
                "opportunity": opportunity_id,
            }

    def set_contact_role(self, role_id: str, **changes: Any) -> None:
        """Change a contact role's Role, ContactId or IsPrimary."""
        allowed = {"Role", "ContactId", "IsPrimary"}
        if not changes or set(changes) - allowed:
            raise StoreError(f"a contact role change sets some of {sorted(allowed)}")
        self._require(role_id, "OpportunityContactRole")
        self.update(role_id, changes)

    def change_owner(self, record_id: str, owner_id: str) -> None:
        with self.lock:
            table, _ = self._require(record_id)
            owner_table, _ = self._require(owner_id, "User", "Group")
            if owner_table.sobject.name == "Group" and table.sobject.name != "Lead":
                raise StoreError("only leads (of these objects) can be owned by a queue")
            self.update(record_id, {"OwnerId": owner_id})

    def deactivate_user(self, user_id: str) -> None:
        self._require(user_id, "User")
        self.update(user_id, {"IsActive": False})

    def mutate(self, seed: int, n: int) -> list[dict[str, Any]]:
        """Apply n realistic random changes, deterministic for a seed (see mutations.mutate)."""
        from simulators.salesforce.mutations import mutate

        return mutate(self, seed, n)


# Fields nobody sets through update(); the store fills them.
_SYSTEM_FIELDS = frozenset({"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "LastModifiedById"})

_DEFAULTS: dict[str, dict[str, Any]] = {
    "Lead": {"IsConverted": False, "HasOptedOutOfEmail": False, "Status": schema.LEAD_STATUSES[0]},
    "Contact": {"HasOptedOutOfEmail": False},
    "OpportunityContactRole": {"IsPrimary": False},
    "User": {"IsActive": True, "UserType": "Standard"},
    "Group": {"Type": "Queue"},
}

_LEAD_TO_CONTACT = {
    "FirstName": "FirstName",
    "LastName": "LastName",
    "Email": "Email",
    "Title": "Title",
    "Phone": "Phone",
    "MobilePhone": "MobilePhone",
    "LeadSource": "LeadSource",
    "MailingStreet": "Street",
    "MailingCity": "City",
    "MailingState": "State",
    "MailingPostalCode": "PostalCode",
    "MailingCountry": "Country",
    "HasOptedOutOfEmail": "HasOptedOutOfEmail",
    **{
        name: name
        for name in (
            "mkto_si__Last_Interesting_Moment_Type__c",
            "mkto_si__Last_Interesting_Moment_Date__c",
            "mkto_si__Last_Interesting_Moment_Desc__c",
            "mkto_si__Last_Interesting_Moment_Source__c",
            "mkto_si__Priority__c",
            "mkto_si__Urgency_Value__c",
            "mkto_si__Relative_Score_Value__c",
        )
    },
}


def derive(table: Table, row: list[Any]) -> None:
    """Fields Salesforce computes: a user's Name, an opportunity's stage flags and fiscal period,
    MSI's formula fields."""
    name = table.sobject.name
    if name == "User":
        first, last = table.get(row, "FirstName"), table.get(row, "LastName")
        table.set(row, "Name", " ".join(part for part in (first, last) if part))
    elif name == "Opportunity":
        stage = schema.STAGE_INFO.get(table.get(row, "StageName") or "")
        if stage is not None:
            probability, closed, won = stage
            table.set(row, "IsClosed", closed)
            table.set(row, "IsWon", won)
            if table.get(row, "Probability") is None:
                table.set(row, "Probability", float(probability))
        close = table.get(row, "CloseDate")
        if close:
            table.set(row, "FiscalYear", int(close[:4]))
            table.set(row, "FiscalQuarter", (int(close[5:7]) - 1) // 3 + 1)
    elif name in ("Lead", "Contact"):
        urgency = table.get(row, "mkto_si__Urgency_Value__c")
        score = table.get(row, "mkto_si__Relative_Score_Value__c")
        table.set(row, "mkto_si__Urgency__c", _stars(urgency))
        table.set(row, "mkto_si__Relative_Score__c", _stars(score))


def _stars(value: float | None) -> str | None:
    """MSI's formula fields render a 0..100 value as an image tag; a short text stands in."""
    if value is None:
        return None
    return f"{int(max(0.0, min(100.0, value)) // 20)}/5"
