"""Salesforce record -> Marketo payload: the required links in code, every other field from configuration."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clients.errors import ConfigurationError
from clients.sfids import PREFIX_QUEUE, is_valid
from pipeline import objects as o

# Fields Marketo links on; they come from code, never from the configurable mapping.
LINK_FIELDS = frozenset(
    {
        "externalSalesPersonId",
        "externalCompanyId",
        "externalPersonId",
        "externalOpportunityId",
        "leadId",
        "role",
        "id",
        "marketoGUID",
    }
)

# Marketo field -> Salesforce field, per Salesforce object. FIELD_MAPPING_FILE overrides it.
DEFAULT_FIELD_MAP: dict[str, dict[str, str]] = {
    o.USER: {
        "email": "Email",
        "firstName": "FirstName",
        "lastName": "LastName",
        "title": "Title",
        "phone": "Phone",
        "mobilePhone": "MobilePhone",
    },
    o.ACCOUNT: {
        "company": "Name",
        "annualRevenue": "AnnualRevenue",
        "industry": "Industry",
        "numberOfEmployees": "NumberOfEmployees",
        "website": "Website",
        "mainPhone": "Phone",
        "billingStreet": "BillingStreet",
        "billingCity": "BillingCity",
        "billingState": "BillingState",
        "billingPostalCode": "BillingPostalCode",
        "billingCountry": "BillingCountry",
    },
    o.LEAD: {
        "email": "Email",
        "firstName": "FirstName",
        "lastName": "LastName",
        "title": "Title",
        "phone": "Phone",
        "mobilePhone": "MobilePhone",
        "company": "Company",
        "leadSource": "LeadSource",
        "leadStatus": "Status",
        "industry": "Industry",
        "annualRevenue": "AnnualRevenue",
        "numberOfEmployees": "NumberOfEmployees",
        "address": "Street",
        "city": "City",
        "state": "State",
        "postalCode": "PostalCode",
        "country": "Country",
        "unsubscribed": "HasOptedOutOfEmail",
    },
    o.CONTACT: {
        "email": "Email",
        "firstName": "FirstName",
        "lastName": "LastName",
        "title": "Title",
        "phone": "Phone",
        "mobilePhone": "MobilePhone",
        "leadSource": "LeadSource",
        "address": "MailingStreet",
        "city": "MailingCity",
        "state": "MailingState",
        "postalCode": "MailingPostalCode",
        "country": "MailingCountry",
        "unsubscribed": "HasOptedOutOfEmail",
    },
    o.OPPORTUNITY: {
        "name": "Name",
        "description": "Description",
        "type": "Type",
        "stage": "StageName",
        "amount": "Amount",
        "closeDate": "CloseDate",
        "isClosed": "IsClosed",
        "isWon": "IsWon",
        "probability": "Probability",
        "source": "LeadSource",
        "fiscalQuarter": "FiscalQuarter",
        "fiscalYear": "FiscalYear",
        "externalCreatedDate": "CreatedDate",
    },
    o.CONTACT_ROLE: {
        "isPrimary": "IsPrimary",
        "externalCreatedDate": "CreatedDate",
    },
}

# Salesforce fields the sync itself needs, whatever the mapping says.
SYSTEM_FIELDS: dict[str, tuple[str, ...]] = {
    o.USER: ("Id", "SystemModstamp", "UserType", "IsActive", "Email"),
    o.ACCOUNT: ("Id", "SystemModstamp", "IsDeleted", "MasterRecordId", "OwnerId"),
    o.LEAD: (
        "Id",
        "SystemModstamp",
        "IsDeleted",
        "MasterRecordId",
        "OwnerId",
        "IsConverted",
        "ConvertedContactId",
    ),
    o.CONTACT: ("Id", "SystemModstamp", "IsDeleted", "MasterRecordId", "OwnerId", "AccountId"),
    o.OPPORTUNITY: ("Id", "SystemModstamp", "IsDeleted", "OwnerId", "AccountId", "Name"),
    o.CONTACT_ROLE: ("Id", "SystemModstamp", "IsDeleted", "OpportunityId", "ContactId", "Role"),
}

# Longest value Marketo keeps per field (describe); longer text is cut, with a warning.
MAX_LENGTH: dict[str, dict[str, int]] = {
    o.COMPANIES: {"externalCompanyId": 100},
    o.OPPORTUNITIES: {"externalOpportunityId": 50, "description": 2000},
    o.ROLES: {"role": 50, "externalOpportunityId": 50},
}
DEFAULT_MAX_LENGTH = 255
UNBOUNDED_FIELDS = frozenset({"description"})

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")
_CONTROL = {c: None for c in range(32) if chr(c) not in "\t\n\r"} | {127: None}
# What a role without a Role value is called in Marketo: the role is part of its key.
ROLE_WHEN_EMPTY = "Unspecified"


@dataclass(frozen=True)
class Issue:
    """Why a record or a value could not go to Marketo as it is; the code is stable, the message actionable."""

    code: str
    message: str


class Rejected(Exception):
    """The record cannot be sent at all; it goes to the failures table."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


@dataclass(frozen=True)
class MappingConfig:
    field_map: dict[str, dict[str, str]]
    queue_owner_sales_person_id: str | None = None

    @classmethod
    def load(cls, path: Path | None, queue_owner: str | None = None) -> MappingConfig:
        field_map = {sobject: dict(fields) for sobject, fields in DEFAULT_FIELD_MAP.items()}
        if path is not None:
            try:
                overrides = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise ConfigurationError(
                    f"FIELD_MAPPING_FILE: cannot read {path}: {error}", setting="FIELD_MAPPING_FILE"
                ) from None
            _merge_overrides(field_map, overrides)
        return cls(field_map=field_map, queue_owner_sales_person_id=queue_owner)

    def soql_fields(self, sobject: str) -> list[str]:
        wanted = list(SYSTEM_FIELDS[sobject])
        for sf_field in self.field_map.get(sobject, {}).values():
            if sf_field not in wanted:
                wanted.append(sf_field)
        return wanted


def _merge_overrides(field_map: dict[str, dict[str, str]], overrides: Any) -> None:
    """Apply {"Lead": {"marketoField": "SalesforceField" or null to drop}} over the defaults."""
    if not isinstance(overrides, dict):
        raise ConfigurationError("FIELD_MAPPING_FILE: must hold a JSON object", setting="FIELD_MAPPING_FILE")
    for sobject, fields in overrides.items():
        if sobject not in field_map or not isinstance(fields, dict):
            raise ConfigurationError(
                f"FIELD_MAPPING_FILE: unknown Salesforce object {sobject!r} (one of {sorted(field_map)})",
                setting="FIELD_MAPPING_FILE",
            )
        for marketo_field, sf_field in fields.items():
            if marketo_field in LINK_FIELDS:
                raise ConfigurationError(
                    f"FIELD_MAPPING_FILE: {marketo_field} is a link the sync sets itself; it cannot be mapped",
                    setting="FIELD_MAPPING_FILE",
                )
            if sf_field is None:
                field_map[sobject].pop(marketo_field, None)
            elif isinstance(sf_field, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", sf_field):
                field_map[sobject][marketo_field] = sf_field
            else:
                raise ConfigurationError(
                    f"FIELD_MAPPING_FILE: {sobject}.{marketo_field} must name a Salesforce field",
                    setting="FIELD_MAPPING_FILE",
                )


@dataclass
class Payload:
    """A Marketo record ready to stage, and the warnings about values that had to change."""

    values: dict[str, Any]
    warnings: list[Issue] = field(default_factory=list)


def parse_sf_datetime(value: str | None) -> datetime | None:
    """Salesforce writes 2024-05-20T20:49:32.000+0000; return it as an aware UTC datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value).astimezone(UTC)


def _clean_text(value: str, limit: int | None, name: str, warnings: list[Issue]) -> str:
    cleaned = unicodedata.normalize("NFC", value).translate(_CONTROL)
    if cleaned != unicodedata.normalize("NFC", value):
        warnings.append(Issue("CONTROL_CHARACTERS", f"{name}: control characters removed"))
    if limit is not None and len(cleaned) > limit:
        warnings.append(Issue("TRUNCATED", f"{name}: {len(cleaned)} characters cut to Marketo's {limit}"))
        cleaned = cleaned[:limit]
    return cleaned


def _clean_value(object_type: str, name: str, value: Any, warnings: list[Issue]) -> Any:
    if isinstance(value, str):
        if name in UNBOUNDED_FIELDS and object_type != o.OPPORTUNITIES:
            limit = None
        else:
            limit = MAX_LENGTH.get(object_type, {}).get(name, DEFAULT_MAX_LENGTH)
        return _clean_text(value, limit, name, warnings)
    return value


def _email(value: Any, warnings: list[Issue]) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if not text.isascii() or not _EMAIL.fullmatch(text):
        warnings.append(Issue("INVALID_EMAIL", f"email {text!r} is not a valid ASCII address; sent without an email"))
        return None
    return text


def _reference(record: dict[str, Any], sf_field: str, required: bool = False) -> str | None:
    value = record.get(sf_field)
    if value in (None, ""):
        if required:
            raise Rejected(Issue("MISSING_REFERENCE", f"{sf_field} is empty"))
        return None
    if not is_valid(value):
        raise Rejected(Issue("INVALID_ID", f"{sf_field} is not a Salesforce id: {value!r}"))
    return str(value)


def _owner(record: dict[str, Any], config: MappingConfig) -> str | None:
    owner = _reference(record, "OwnerId")
    if owner is not None and owner.startswith(PREFIX_QUEUE):
        # A queue is not a person: there is no Sales Person to link, unless one is configured.
        return config.queue_owner_sales_person_id
    return owner


def payload_for(sobject: str, record: dict[str, Any], config: MappingConfig) -> Payload:
    """The Marketo record for a live (not deleted, not converted) Salesforce record."""
    object_type = o.OBJECT_TYPE_OF[sobject]
    warnings: list[Issue] = []
    values: dict[str, Any] = {}
    for marketo_field, sf_field in config.field_map.get(sobject, {}).items():
        raw = record.get(sf_field)
        if marketo_field == "email":
            values[marketo_field] = _email(raw, warnings)
        else:
            values[marketo_field] = _clean_value(object_type, marketo_field, raw, warnings)
    values.update(_links(sobject, record, config, warnings))
    return Payload(values=values, warnings=warnings)


def _links(sobject: str, record: dict[str, Any], config: MappingConfig, warnings: list[Issue]) -> dict[str, Any]:
    sf_id = str(record["Id"])
    if sobject == o.USER:
        return {"externalSalesPersonId": sf_id}
    if sobject == o.ACCOUNT:
        return {"externalCompanyId": sf_id, "externalSalesPersonId": _owner(record, config)}
    if sobject == o.LEAD:
        return {"externalPersonId": sf_id, "externalSalesPersonId": _owner(record, config)}
    if sobject == o.CONTACT:
        links: dict[str, Any] = {"externalPersonId": sf_id, "externalSalesPersonId": _owner(record, config)}
        account = _reference(record, "AccountId")
        if account is not None:
            # Marketo cannot unlink a lead from a company, so a contact without an account
            # simply carries no company link.
            links["externalCompanyId"] = account
        return links
    if sobject == o.OPPORTUNITY:
        if not record.get("Name"):
            raise Rejected(Issue("MISSING_NAME", "the opportunity has no Name, which Marketo requires"))
        return {
            "externalOpportunityId": sf_id,
            "externalCompanyId": _reference(record, "AccountId"),
            "externalSalesPersonId": _owner(record, config),
        }
    if sobject == o.CONTACT_ROLE:
        role = record.get("Role") or ROLE_WHEN_EMPTY
        return {
            "externalOpportunityId": _reference(record, "OpportunityId", required=True),
            # The Marketo lead id is looked up when the role is sent, after its lead exists.
            "contactId": _reference(record, "ContactId", required=True),
            "role": _clean_text(str(role), MAX_LENGTH[o.ROLES]["role"], "role", warnings),
        }
    raise ValueError(f"not a synced object: {sobject}")
