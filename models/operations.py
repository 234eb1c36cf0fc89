"""Operational state: the connected org, notifications sent, and write-back memory."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Connection(Base):
    """The Salesforce org the service is connected to; exactly one row has active=True."""

    __tablename__ = "connections"
    __table_args__ = (
        # One org at a time, enforced by the database: two first cycles racing cannot both record one.
        Index(
            "uq_connections_one_active",
            "active",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(18))
    environment: Mapped[str] = mapped_column(String(12))
    instance_url: Mapped[str] = mapped_column(String(255), default="")
    login_url: Mapped[str] = mapped_column(String(255), default="")
    user_id: Mapped[str] = mapped_column(String(18), default="")
    active: Mapped[bool] = mapped_column(default=True)
    connected_at: Mapped[datetime] = mapped_column(default=utcnow)
    replaced_at: Mapped[datetime | None] = mapped_column(default=None)
    # When `msi-sync connect` last verified credentials and Organization.IsSandbox; None when the
    # first cycle recorded the org on its own (environment taken from the settings, unverified).
    checked_at: Mapped[datetime | None] = mapped_column(default=None)


class NotificationSent(Base):
    """When each kind of notification last went out, to send each at most once per period."""

    __tablename__ = "notifications"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    suppressed: Mapped[int] = mapped_column(default=0)
    last_message: Mapped[str] = mapped_column(String(2000), default="")


class WritebackState(Base):
    """Per synced person: the MSI values last written to Salesforce, and when they were read."""

    __tablename__ = "writeback_state"

    sf_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    sobject: Mapped[str] = mapped_column(String(40), default="")
    marketo_id: Mapped[str | None] = mapped_column(String(64), default=None)
    values: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    values_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    last_read_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    last_written_at: Mapped[datetime | None] = mapped_column(default=None)
    # Added by migration 0002 (the write-back, pipeline/writeback/):
    # an activity said this person's MSI values moved since they were last read: read first.
    dirty: Mapped[bool] = mapped_column(default=False, index=True)
    # Values read but not yet written (Salesforce field -> value); None when nothing waits.
    pending: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # A converted Lead whose values go to its Contact (found through ConvertedContactId).
    written_to: Mapped[str | None] = mapped_column(String(18), default=None, index=True)
    # When `status` last changed (a "deleted" person comes back if the sync sends it again later).
    status_at: Mapped[datetime | None] = mapped_column(default=None)


class WritebackCursor(Base):
    """Where the write-back's reading of Marketo activities stands (one row per stream)."""

    __tablename__ = "writeback_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_page_token: Mapped[str | None] = mapped_column(Text, default=None)
    # Activity type ids resolved by name (types rarely change; asking costs a call).
    type_ids: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
