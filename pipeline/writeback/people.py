"""Who the write-back reads: synced people (live id-map leads), flagged first, then never read, then oldest read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.operations import WritebackState
from models.records import IdMap
from models.upsert import insert_for
from pipeline import objects as o

DELETED, FAILED, LOCKED, OK, PENDING = "deleted", "failed", "locked", "ok", "pending"
_BATCH = 500


@dataclass(frozen=True)
class Person:
    """A synced person: the live Salesforce id, its object, its Marketo lead, and older ids that lead may
    still carry as externalPersonId (a converted Lead's, until the next cycle relinks it to the Contact)."""

    sf_id: str
    sobject: str
    marketo_id: str
    aliases: tuple[str, ...] = ()

    @property
    def filter_values(self) -> int:
        return 1 + len(self.aliases)


def _live_people() -> Select[str, str, str | None, bool]:
    """Live people joined to their write-back state; a person marked deleted stays out unless the
    sync has sent it again since (an undeleted record)."""
    return (
        select(IdMap.sf_id, IdMap.sobject, IdMap.marketo_id, IdMap.relink)
        .outerjoin(WritebackState, WritebackState.sf_id == IdMap.sf_id)
        .where(
            IdMap.object_type == o.LEADS,
            IdMap.marketo_id.is_not(None),
            IdMap.deleted_at.is_(None),
            IdMap.merged_into.is_(None),
            or_(
                WritebackState.status.is_(None),
                WritebackState.status != DELETED,
                and_(
                    IdMap.sent_at.is_not(None),
                    WritebackState.status_at.is_not(None),
                    IdMap.sent_at > WritebackState.status_at,
                ),
            ),
        )
    )


def choose(session: Session, *, flagged: int, total: int) -> tuple[list[Person], int]:
    """Up to `flagged` people an activity flagged, then the rest up to `total` by oldest read
    (never read first); returns them and how many were flagged."""
    oldest_first = (WritebackState.last_read_at.asc().nulls_first(), IdMap.id)
    picked = list(
        session.execute(
            _live_people().where(WritebackState.dirty.is_(True)).order_by(*oldest_first).limit(min(flagged, total))
        ).all()
    )
    flagged_count = len(picked)
    rest = total - len(picked)
    if rest > 0:
        # Everyone else by oldest read, flagged people beyond the limit included; fetching as many
        # more as were picked already leaves `rest` after dropping those.
        taken = {row[0] for row in picked}
        more = session.execute(_live_people().order_by(*oldest_first).limit(rest + len(taken))).all()
        picked += [row for row in more if row[0] not in taken][:rest]
    relinking = [sf_id for sf_id, _, _, relink in picked if relink]
    aliases = _aliases(session, relinking)
    people = [
        Person(sf_id, sobject, str(marketo_id), aliases.get(sf_id, ())) for sf_id, sobject, marketo_id, _ in picked
    ]
    return people, flagged_count


def _aliases(session: Session, sf_ids: list[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for start in range(0, len(sf_ids), _BATCH):
        rows = session.execute(
            select(IdMap.merged_into, IdMap.sf_id).where(
                IdMap.object_type == o.LEADS, IdMap.merged_into.in_(sf_ids[start : start + _BATCH])
            )
        )
        for owner, old in rows:
            found.setdefault(str(owner), []).append(old)
    return {owner: tuple(sorted(old)) for owner, old in found.items()}


def waiting_writes(session: Session) -> list[tuple[str, str]]:
    """(sf_id, sobject) of people whose values were read but could not be written (rows locked)."""
    return [
        (sf_id, sobject)
        for sf_id, sobject in session.execute(
            select(WritebackState.sf_id, WritebackState.sobject).where(
                WritebackState.status == LOCKED, WritebackState.pending.is_not(None)
            )
        )
    ]


def flag_changed(session: Session, marketo_ids: Iterable[str]) -> int:
    """Flag the live people behind these Marketo lead ids as changed; returns how many were flagged."""
    wanted = sorted({str(marketo_id) for marketo_id in marketo_ids})
    rows: list[dict[str, object]] = []
    for start in range(0, len(wanted), _BATCH):
        found = session.execute(
            select(IdMap.sf_id, IdMap.sobject, IdMap.marketo_id).where(
                IdMap.object_type == o.LEADS,
                IdMap.marketo_id.in_(wanted[start : start + _BATCH]),
                IdMap.deleted_at.is_(None),
                IdMap.merged_into.is_(None),
            )
        )
        rows += [{"sf_id": s, "sobject": k, "marketo_id": m, "dirty": True} for s, k, m in found]
    if rows:
        statement = insert_for(session, WritebackState)
        session.execute(
            statement.on_conflict_do_update(index_elements=["sf_id"], set_={"dirty": True}),
            rows,
        )
    return len(rows)


def load_states(session: Session, sf_ids: Iterable[str]) -> dict[str, WritebackState]:
    wanted = sorted(set(sf_ids))
    states: dict[str, WritebackState] = {}
    for start in range(0, len(wanted), _BATCH):
        states.update(
            (row.sf_id, row)
            for row in session.scalars(
                select(WritebackState).where(WritebackState.sf_id.in_(wanted[start : start + _BATCH]))
            )
        )
    return states


def state_for(session: Session, states: dict[str, WritebackState], sf_id: str, sobject: str) -> WritebackState:
    """The person's state row, made on first use; a Contact that a converted Lead's values were
    already written to starts from those values, so they are not written twice."""
    state = states.get(sf_id)
    if state is None:
        inherited = session.scalars(
            select(WritebackState.values)
            .where(WritebackState.written_to == sf_id, WritebackState.values.is_not(None))
            .order_by(WritebackState.last_written_at.desc().nulls_last())
            .limit(1)
        ).first()
        state = WritebackState(sf_id=sf_id, sobject=sobject, values=inherited, status=OK, dirty=False)
        session.add(state)
        states[sf_id] = state
    return state


def set_status(state: WritebackState, status: str) -> None:
    if state.status != status:
        state.status, state.status_at = status, utcnow()
