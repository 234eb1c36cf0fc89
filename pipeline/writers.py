"""One writer per step: resolve a chunk's links from the id map, call Marketo, turn results into outcomes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session

from clients.errors import RequestRejected
from models.base import utcnow
from models.records import IdMap
from models.runs import RunStep, StagedRecord
from models.upsert import insert_for
from pipeline import objects as o
from pipeline.failures import FailedRecord, resolve_failures
from pipeline.ports import MarketoPort, RecordResult
from pipeline.staging import load_id_map

if TYPE_CHECKING:
    from pipeline.sending import Claim

Apply = Callable[[Session], None]
# Marketo's "record not found" codes: a delete or merge that finds nothing has already happened.
NOT_FOUND = frozenset({"1004", "1013"})


@dataclass
class Outcome:
    """Everything a chunk did, applied to the database in one transaction at the end."""

    succeeded: int = 0
    calls: int = 0
    failures: list[FailedRecord] = field(default_factory=list)
    on_success: list[Apply] = field(default_factory=list)


@dataclass
class Item:
    row: StagedRecord
    record: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    items: list[Item]
    lookup: str
    run_id: int


class Writer(Protocol):
    def prepare(self, session: Session, claimed: Claim, rows: list[StagedRecord], outcome: Outcome) -> Plan | None: ...

    def write(self, marketo: MarketoPort, plan: Plan, outcome: Outcome) -> None: ...


def _fail(outcome: Outcome, step: o.Step, row: StagedRecord, code: str, message: str, lookup: str = "") -> None:
    outcome.failures.append(
        FailedRecord(
            step.object_type,
            row.sf_id,
            row.sobject,
            step.name,
            code,
            message,
            payload=row.payload,
            lookup=lookup or row.lookup,
        )
    )


def _reasons(result: RecordResult) -> tuple[str, str]:
    reasons = list(result.reasons)
    if not reasons:
        return ("SKIPPED", f"Marketo answered status {result.status!r} without a reason")
    code = str(reasons[0].code)
    return code, "; ".join(f"{r.code} {r.message}" for r in reasons)


def _live(row: IdMap | None) -> bool:
    return row is not None and row.marketo_id is not None and row.deleted_at is None and row.merged_into is None


def _remember(
    run_id: int, object_type: str, items: list[tuple[Item, str | None]], *, key_of: Callable[[Item], Any] | None = None
) -> Apply:
    """Upsert id-map rows for records Marketo accepted and resolve their open failures."""

    def apply(session: Session) -> None:
        if not items:
            return
        now = utcnow()
        values = [
            {
                "object_type": object_type,
                "sf_id": item.row.sf_id,
                "sobject": item.row.sobject,
                "marketo_id": marketo_id,
                "fingerprint": item.row.fingerprint,
                "key": key_of(item) if key_of else None,
                "relink": False,
                "sent_at": now,
                "deleted_at": None,
                "run_id": run_id,
            }
            for item, marketo_id in items
        ]
        statement = insert_for(session, IdMap)
        excluded = statement.excluded
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["object_type", "sf_id"],
                set_={
                    "marketo_id": excluded.marketo_id,
                    "fingerprint": excluded.fingerprint,
                    "key": excluded.key,
                    "relink": False,
                    "sent_at": excluded.sent_at,
                    "deleted_at": None,
                    "run_id": excluded.run_id,
                },
            ),
            values,
        )
        resolve_failures(session, object_type, [item.row.sf_id for item, _ in items])

    return apply


class _Links:
    """Checks that the sales person and company a record points at are in Marketo."""

    def __init__(self, session: Session, rows: list[StagedRecord], *, company_is_a_link: bool = True) -> None:
        owners = [str(r.payload.get("externalSalesPersonId") or "") for r in rows]
        self.owners = load_id_map(session, o.SALESPERSONS, owners)
        # On a company, externalCompanyId is its own key, not a link to check.
        self.check_company = company_is_a_link
        companies = [str(r.payload.get("externalCompanyId") or "") for r in rows] if company_is_a_link else []
        self.companies = load_id_map(session, o.COMPANIES, companies)

    def resolve(self, payload: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The record to send, or the reason it cannot be sent yet."""
        record = dict(payload)
        owner = record.get("externalSalesPersonId")
        if owner:
            known = self.owners.get(owner)
            if known is not None and (known.key or {}).get("excluded"):
                record["externalSalesPersonId"] = None  # automated users own nothing in MSI
            elif not _live(known):
                return record, f"its owner {owner} is not a Sales Person in Marketo (yet); see that user's failure"
        company = record.get("externalCompanyId") if self.check_company else None
        if company and not _live(self.companies.get(company)):
            return record, f"its account {company} is not a Company in Marketo (yet); see that account's failure"
        return record, None


class UpsertWriter:
    """Sales persons, companies and opportunities: createOrUpdate by their external id, results by seq."""

    def __init__(self, object_type: str, marketo_object: str, check_links: bool = True) -> None:
        self.step = o.upsert_step(object_type)
        self.marketo_object = marketo_object
        self.check_links = check_links

    def prepare(self, session: Session, claimed: Claim, rows: list[StagedRecord], outcome: Outcome) -> Plan | None:
        items: list[Item] = []
        links = (
            _Links(session, rows, company_is_a_link=self.step.object_type != o.COMPANIES) if self.check_links else None
        )
        for row in rows:
            record, problem = links.resolve(row.payload) if links else (dict(row.payload), None)
            if problem:
                _fail(outcome, self.step, row, "DEPENDENCY_MISSING", f"not sent: {problem}")
            else:
                items.append(Item(row, record))
        return Plan(items, claimed.lookup, claimed.run_id) if items else None

    def write(self, marketo: MarketoPort, plan: Plan, outcome: Outcome) -> None:
        outcome.calls += 1
        results = marketo.sync(
            self.marketo_object, [item.record for item in plan.items], action="createOrUpdate", dedupe_by="dedupeFields"
        )
        self._collect(plan, results, outcome)

    def _collect(self, plan: Plan, results: Sequence[RecordResult], outcome: Outcome) -> None:
        accepted: list[tuple[Item, str | None]] = []
        for result in results:
            item = plan.items[result.index]
            if result.ok:
                accepted.append((item, result.marketo_id))
            else:
                code, message = _reasons(result)
                _fail(outcome, self.step, item.row, code, message)
        outcome.succeeded += len(accepted)
        outcome.on_success.append(_remember(plan.run_id, self.step.object_type, accepted))


class OpportunityWriter(UpsertWriter):
    """Opportunities: Marketo refuses the whole call (718) when one owner is missing there."""

    def __init__(self) -> None:
        super().__init__(o.OPPORTUNITIES, "opportunities")

    def write(self, marketo: MarketoPort, plan: Plan, outcome: Outcome) -> None:
        try:
            super().write(marketo, plan, outcome)
            return
        except RequestRejected as error:
            if error.code != "718":
                raise
        # Our id map says every owner is there, Marketo says one is not (deleted behind our
        # back): find which, fail only their opportunities, and send the rest again.
        owners = sorted(
            {str(i.record["externalSalesPersonId"]) for i in plan.items if i.record.get("externalSalesPersonId")}
        )
        outcome.calls += 1
        present = {
            str(p.get("externalSalesPersonId"))
            for p in marketo.get("salespersons", "externalSalesPersonId", owners, fields=["externalSalesPersonId"])
        }
        keep: list[Item] = []
        for item in plan.items:
            owner = item.record.get("externalSalesPersonId")
            if owner and owner not in present:
                _fail(
                    outcome,
                    self.step,
                    item.row,
                    "718",
                    f"Sales Person {owner} is missing in Marketo; re-create sales persons with "
                    "`msi-sync sync --full --objects salespersons`",
                )
            else:
                keep.append(item)
        if keep:
            super().write(marketo, Plan(keep, plan.lookup, plan.run_id), outcome)


class LeadWriter:
    """People: createOrUpdate by externalPersonId, or updateOnly by Marketo id to take over a converted Lead."""

    step = o.STEP_BY_NAME["leads:upsert"]

    def prepare(self, session: Session, claimed: Claim, rows: list[StagedRecord], outcome: Outcome) -> Plan | None:
        links = _Links(session, rows)
        known = load_id_map(session, o.LEADS, [r.sf_id for r in rows]) if claimed.lookup == o.BY_MARKETO_ID else {}
        items: list[Item] = []
        for row in rows:
            record, problem = links.resolve(row.payload)
            if problem:
                _fail(outcome, self.step, row, "DEPENDENCY_MISSING", f"not sent: {problem}")
                continue
            if claimed.lookup == o.BY_MARKETO_ID:
                mine = known.get(row.sf_id)
                if mine is None or mine.marketo_id is None:
                    self._lost_relink(outcome, row)
                    continue
                record["id"] = int(mine.marketo_id)
            items.append(Item(row, record))
        return Plan(items, claimed.lookup, claimed.run_id) if items else None

    def _lost_relink(self, outcome: Outcome, row: StagedRecord) -> None:
        _fail(
            outcome,
            self.step,
            row,
            "RELINK_TARGET_MISSING",
            "the converted Lead's Marketo record is gone; the person will be sent as a new lead next cycle",
            lookup=o.BY_EXTERNAL_ID,
        )
        sf_id = row.sf_id

        def forget(session: Session) -> None:
            session.execute(
                update(IdMap)
                .where(IdMap.object_type == o.LEADS, IdMap.sf_id == sf_id)
                .values(relink=False, marketo_id=None, fingerprint=None)
            )

        outcome.on_success.append(forget)

    def write(self, marketo: MarketoPort, plan: Plan, outcome: Outcome) -> None:
        by_id = plan.lookup == o.BY_MARKETO_ID
        outcome.calls += 1
        results = marketo.sync_leads(
            [item.record for item in plan.items],
            action="updateOnly" if by_id else "createOrUpdate",
            lookup_field="id" if by_id else "externalPersonId",
        )
        accepted: list[tuple[Item, str | None]] = []
        for result in results:
            item = plan.items[result.index]
            if result.ok:
                marketo_id = result.marketo_id or (str(item.record["id"]) if by_id else None)
                accepted.append((item, marketo_id))
                continue
            code, message = _reasons(result)
            if by_id and code in NOT_FOUND:
                self._lost_relink(outcome, item.row)
            else:
                _fail(outcome, self.step, item.row, code, message)
        outcome.succeeded += len(accepted)
        outcome.on_success.append(_remember(plan.run_id, o.LEADS, accepted))


class RoleWriter(UpsertWriter):
    """Opportunity roles: leadId is the Marketo id of the contact's lead, looked up at send time."""

    def __init__(self) -> None:
        super().__init__(o.ROLES, "roles", check_links=False)

    def prepare(self, session: Session, claimed: Claim, rows: list[StagedRecord], outcome: Outcome) -> Plan | None:
        people = _people(session, [str(r.payload["contactId"]) for r in rows])
        opportunities = load_id_map(session, o.OPPORTUNITIES, [str(r.payload["externalOpportunityId"]) for r in rows])
        previous = load_id_map(session, o.ROLES, [r.sf_id for r in rows])
        items: list[Item] = []
        for row in rows:
            payload = row.payload
            if not _live(opportunities.get(payload["externalOpportunityId"])):
                _fail(
                    outcome,
                    self.step,
                    row,
                    "DEPENDENCY_MISSING",
                    f"not sent: its opportunity {payload['externalOpportunityId']} is not in Marketo (yet); "
                    "see that opportunity's failure",
                )
                continue
            contact = people.get(payload["contactId"])
            if contact is not None and contact.deleted_at is not None:
                _fail(
                    outcome,
                    self.step,
                    row,
                    "CONTACT_DELETED",
                    f"not sent: its contact {payload['contactId']} was deleted in Salesforce; restore the contact "
                    "or remove this contact role",
                )
                continue
            record = {k: v for k, v in payload.items() if k != "contactId"}
            lead_id = contact.marketo_id if contact is not None else None
            old = previous.get(row.sf_id)
            items.append(Item(row, record, {"lead_id": lead_id, "old_key": old.key if old else None}))
        return Plan(items, claimed.lookup, claimed.run_id) if items else None

    def write(self, marketo: MarketoPort, plan: Plan, outcome: Outcome) -> None:
        missing = sorted({str(i.row.payload["contactId"]) for i in plan.items if i.extra["lead_id"] is None})
        found: dict[str, str] = {}
        if missing:
            # Our id map lacks them (a lost map, a record synced by someone else): ask Marketo.
            outcome.calls += 1
            for lead in marketo.get("leads", "externalPersonId", missing, fields=["id", "externalPersonId"]):
                found[str(lead["externalPersonId"])] = str(lead["id"])
        ready: list[Item] = []
        for item in plan.items:
            lead_id = item.extra["lead_id"] or found.get(str(item.row.payload["contactId"]))
            if lead_id is None:
                _fail(
                    outcome,
                    self.step,
                    item.row,
                    "CONTACT_NOT_IN_MARKETO",
                    f"not sent: contact {item.row.payload['contactId']} has no lead in Marketo (see its failure)",
                )
                continue
            item.record["leadId"] = int(lead_id)
            ready.append(item)
        if not ready:
            return
        outcome.calls += 1
        results = marketo.sync(
            "roles", [item.record for item in ready], action="createOrUpdate", dedupe_by="dedupeFields"
        )
        accepted: list[tuple[Item, str | None]] = []
        for result in results:
            item = ready[result.index]
            if result.ok:
                accepted.append((item, result.marketo_id))
            else:
                code, message = _reasons(result)
                _fail(outcome, self.step, item.row, code, message)
        outcome.succeeded += len(accepted)
        outcome.on_success.append(_remember(plan.run_id, o.ROLES, accepted, key_of=_role_key))
        outcome.on_success.append(_delete_old_keys(plan.run_id, accepted))


def _role_key(item: Item) -> dict[str, Any]:
    record = item.record
    return {
        "externalOpportunityId": record["externalOpportunityId"],
        "leadId": record["leadId"],
        "role": record["role"],
    }


def _delete_old_keys(run_id: int, accepted: list[tuple[Item, str | None]]) -> Apply:
    """A role whose opportunity, contact or role changed is a new Marketo record: remove the old one."""

    def apply(session: Session) -> None:
        stale = [
            (item, item.extra["old_key"])
            for item, _ in accepted
            if item.extra.get("old_key") and item.extra["old_key"] != _role_key(item)
        ]
        if not stale:
            return
        statement = insert_for(session, StagedRecord).on_conflict_do_nothing(index_elements=["run_id", "step", "sf_id"])
        session.execute(
            statement,
            [
                {
                    "run_id": run_id,
                    "step": "roles:delete",
                    "lookup": o.DELETE,
                    "sf_id": item.row.sf_id,
                    "sobject": item.row.sobject,
                    "payload": old,
                    "fingerprint": "",
                }
                for item, old in stale
            ],
        )
        session.execute(
            update(RunStep)
            .where(RunStep.run_id == run_id, RunStep.step == "roles:delete")
            .values(followups=RunStep.followups + len(stale))
        )

    return apply


def _people(session: Session, sf_ids: list[str]) -> dict[str, IdMap]:
    """Id-map rows of people, following merges and conversions to the surviving person."""
    found = load_id_map(session, o.LEADS, sf_ids)
    for _ in range(5):
        onward = {r.merged_into for r in found.values() if r.merged_into and r.merged_into not in found}
        if not onward:
            break
        found.update(load_id_map(session, o.LEADS, list(onward)))
    resolved: dict[str, IdMap] = {}
    for sf_id in sf_ids:
        row = found.get(sf_id)
        hops = 0
        while row is not None and row.merged_into and hops < 5:
            row = found.get(row.merged_into)
            hops += 1
        if row is not None:
            resolved[sf_id] = row
    return resolved


class MergeWriter:
    """Two Salesforce people that became one (a merge, or a conversion seen late): one Marketo lead."""

    step = o.STEP_BY_NAME["leads:merge"]

    def prepare(self, session: Session, claimed: Claim, rows: list[StagedRecord], outcome: Outcome) -> Plan | None:
        ids = [str(r.payload["loser"]) for r in rows] + [str(r.payload["winner"]) for r in rows]
        direct = load_id_map(session, o.LEADS, ids)
        survivors = _people(session, [str(r.payload["winner"]) for r in rows])
        items = []
        for row in rows:
            loser = direct.get(str(row.payload["loser"]))
            winner = survivors.get(str(row.payload["winner"]))
            items.append(
                Item(
                    row,
                    {},
                    {
                        "loser_id": loser.marketo_id if loser is not None and _live(loser) else None,
                        "winner_id": winner.marketo_id if winner is not None and winner.marketo_id else None,
                        "winner_sf_id": winner.sf_id if winner is not None else str(row.payload["winner"]),
                    },
                )
            )
        return Plan(items, claimed.lookup, claimed.run_id)

    def write(self, marketo: MarketoPort, plan: Plan, outcome: Outcome) -> None:
        for item in plan.items:
            loser_id, winner_id = item.extra["loser_id"], item.extra["winner_id"]
            loser_sf, winner_sf = str(item.row.payload["loser"]), item.extra["winner_sf_id"]
            if loser_id is None or loser_id == winner_id:
                outcome.on_success.append(_mark_merged(loser_sf, winner_sf))
                outcome.succeeded += 1
                continue
            outcome.calls += 1
            if winner_id is None:
                # The survivor was never in Marketo: it takes over the loser's record.
                results = marketo.sync_leads(
                    [{"id": int(loser_id), "externalPersonId": winner_sf}], action="updateOnly", lookup_field="id"
                )
                if not results[0].ok and _reasons(results[0])[0] not in NOT_FOUND:
                    code, message = _reasons(results[0])
                    _fail(outcome, self.step, item.row, code, message)
                    continue
                outcome.on_success.append(_adopt(winner_sf, loser_id, loser_sf))
            else:
                try:
                    marketo.merge_leads(int(winner_id), [int(loser_id)])
                except RequestRejected as error:
                    if (error.code or "") not in NOT_FOUND:
                        _fail(outcome, self.step, item.row, error.code or "REJECTED", error.message)
                        continue
                outcome.on_success.append(_mark_merged(loser_sf, winner_sf))
            outcome.succeeded += 1


def _mark_merged(loser: str, winner: str) -> Apply:
    def apply(session: Session) -> None:
        session.execute(
            update(IdMap)
            .where(IdMap.object_type == o.LEADS, IdMap.sf_id == loser)
            .values(merged_into=winner, deleted_at=utcnow())
        )
        resolve_failures(session, o.LEADS, [loser])

    return apply


def _adopt(winner: str, marketo_id: str, loser: str) -> Apply:
    def apply(session: Session) -> None:
        statement = insert_for(session, IdMap)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["object_type", "sf_id"],
                set_={"marketo_id": marketo_id, "relink": False, "fingerprint": None, "deleted_at": None},
            ),
            [{"object_type": o.LEADS, "sf_id": winner, "marketo_id": marketo_id, "relink": False}],
        )
        _mark_merged(loser, winner)(session)

    return apply


class DeleteWriter:
    """Removals: by external key (companies, opportunities, roles) or by Marketo id (leads)."""

    def __init__(self, object_type: str, marketo_object: str) -> None:
        self.step = o.STEP_BY_NAME[f"{object_type}:delete"]
        self.marketo_object = marketo_object

    def prepare(self, session: Session, claimed: Claim, rows: list[StagedRecord], outcome: Outcome) -> Plan | None:
        return Plan([Item(row, dict(row.payload)) for row in rows], claimed.lookup, claimed.run_id)

    def write(self, marketo: MarketoPort, plan: Plan, outcome: Outcome) -> None:
        outcome.calls += 1
        if self.step.object_type == o.LEADS:
            results = marketo.delete_leads([int(item.record["id"]) for item in plan.items])
        else:
            results = marketo.delete(
                self.marketo_object, [item.record for item in plan.items], delete_by="dedupeFields"
            )
        gone: list[Item] = []
        for result in results:
            item = plan.items[result.index]
            if result.ok or _reasons(result)[0] in NOT_FOUND:
                gone.append(item)
            else:
                code, message = _reasons(result)
                _fail(outcome, self.step, item.row, code, message)
        outcome.succeeded += len(gone)
        outcome.on_success.append(self._forget(gone))

    def _forget(self, gone: list[Item]) -> Apply:
        object_type = self.step.object_type

        def apply(session: Session) -> None:
            known = load_id_map(session, object_type, [item.row.sf_id for item in gone])
            for item in gone:
                row = known.get(item.row.sf_id)
                if row is None:
                    continue
                if object_type == o.ROLES and row.key != item.record:
                    continue  # an old key removed after a change: the role itself lives on
                row.deleted_at, row.fingerprint = utcnow(), None
            resolve_failures(session, object_type, [item.row.sf_id for item in gone])

        return apply


WRITERS: dict[str, Writer] = {
    "salespersons:upsert": UpsertWriter(o.SALESPERSONS, "salespersons", check_links=False),
    "companies:upsert": UpsertWriter(o.COMPANIES, "companies"),
    "leads:upsert": LeadWriter(),
    "opportunities:upsert": OpportunityWriter(),
    "leads:merge": MergeWriter(),
    "roles:upsert": RoleWriter(),
    "roles:delete": DeleteWriter(o.ROLES, "roles"),
    "opportunities:delete": DeleteWriter(o.OPPORTUNITIES, "opportunities"),
    "leads:delete": DeleteWriter(o.LEADS, "leads"),
    "companies:delete": DeleteWriter(o.COMPANIES, "companies"),
}
