"""What the service knows about each record: its Marketo id, what was last sent, and what failed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

FAILURE_OPEN, FAILURE_RESOLVED, FAILURE_DISMISSED = "open", "resolved", "dismissed"
# error: the record is not (correctly) in Marketo; warning: it is, but a value was dropped.
KIND_ERROR, KIND_WARNING = "error", "warning"


class IdMap(Base):
    """Salesforce id -> Marketo id for every record sent, with the fingerprint of what was sent."""

    __tablename__ = "id_map"
    __table_args__ = (
        UniqueConstraint("object_type", "sf_id"),
        Index("ix_id_map_marketo", "object_type", "marketo_id"),
        Index("ix_id_map_merged_into", "merged_into"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(20))
    sf_id: Mapped[str] = mapped_column(String(18))
    sobject: Mapped[str] = mapped_column(String(40), default="")
    marketo_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # sha256 of the mapped payload last accepted by Marketo; equal means "nothing to send".
    fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    # The Marketo key last written (roles: their compound key), to delete it when it changes.
    key: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # The Marketo lead still carries another externalPersonId (a converted Lead's): the next
    # write must go by Marketo id and set the new one.
    relink: Mapped[bool] = mapped_column(default=False)
    merged_into: Mapped[str | None] = mapped_column(String(18), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    run_id: Mapped[int | None] = mapped_column(default=None)


class Failure(Base):
    """A record Marketo (or our own checks) refused, with the reason, until it succeeds or is dismissed."""

    __tablename__ = "failures"
    __table_args__ = (
        UniqueConstraint("object_type", "sf_id", "kind"),
        Index("ix_failures_status", "status", "object_type"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(20))
    sf_id: Mapped[str] = mapped_column(String(18))
    sobject: Mapped[str] = mapped_column(String(40), default="")
    step: Mapped[str] = mapped_column(String(40), default="")
    kind: Mapped[str] = mapped_column(String(10), default=KIND_ERROR)
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=FAILURE_OPEN)
    attempts: Mapped[int] = mapped_column(default=1)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    run_id: Mapped[int | None] = mapped_column(default=None)
    # What to send again next cycle (the mapped payload), so a retry needs no Salesforce call.
    payload: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    lookup: Mapped[str] = mapped_column(String(40), default="")


class Watermark(Base):
    """Per Salesforce object: every record with SystemModstamp up to `value` is safe."""

    __tablename__ = "watermarks"

    sobject: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[datetime] = mapped_column()
    run_id: Mapped[int | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
