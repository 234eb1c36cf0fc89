"""Check through describe that every target field exists on Lead and Contact and can be written, and learn its type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline import objects as o
from pipeline.writeback.convert import SUPPORTED_TYPES
from pipeline.writeback.mapping import SETTING, WritebackMapping

TARGET_OBJECTS = (o.LEAD, o.CONTACT)


class DescribePort(Protocol):
    def describe(self, sobject: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class FieldSpec:
    """What a value must become for a target field: its describe type, and its length for text."""

    type: str
    length: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "length": self.length}


@dataclass(frozen=True)
class FieldProblem:
    """One reason the write-back cannot fill a field, and what a person should do about it."""

    sobject: str
    field: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})"


@dataclass
class TargetCheck:
    """Salesforce field -> spec (the same on Lead and Contact), and every problem found."""

    specs: dict[str, FieldSpec] = field(default_factory=dict)
    problems: list[FieldProblem] = field(default_factory=list)


def check_target_fields(salesforce: DescribePort, mapping: WritebackMapping | None = None) -> list[FieldProblem]:
    """The problems with the write-back's target fields; empty means every field is there and writable.

    Costs one describe call per object (Lead, Contact). `msi-sync doctor` calls it; each pass does too.
    """
    return inspect_targets(salesforce, mapping or _configured_mapping()).problems


def inspect_targets(salesforce: DescribePort, mapping: WritebackMapping) -> TargetCheck:
    check = TargetCheck()
    seen: dict[str, tuple[str, FieldSpec]] = {}
    for sobject in TARGET_OBJECTS:
        described = {str(f.get("name", "")).lower(): f for f in salesforce.describe(sobject).get("fields") or []}
        for marketo, name in mapping.fields:
            found = described.get(name.lower())
            problem = _problem(sobject, marketo, name, found)
            if problem is not None:
                check.problems.append(problem)
                continue
            assert found is not None
            spec = FieldSpec(str(found.get("type")), int(found.get("length") or 0))
            earlier = seen.get(name)
            if earlier is not None and earlier[1].type != spec.type:
                check.problems.append(
                    FieldProblem(
                        sobject,
                        name,
                        f"{name} is a {earlier[1].type} field on {earlier[0]} but a {spec.type} field on {sobject}",
                        f"give the field the same type on both objects, or map {marketo} elsewhere in {SETTING}",
                    )
                )
                continue
            if earlier is not None:
                # Text goes to both objects: keep it within the shorter of the two.
                lengths = [n for n in (earlier[1].length, spec.length) if n]
                spec = FieldSpec(spec.type, min(lengths) if lengths else 0)
            seen[name] = (sobject, spec)
    check.specs = {name: spec for name, (_, spec) in seen.items()}
    return check


def _problem(sobject: str, marketo: str, name: str, found: dict[str, Any] | None) -> FieldProblem | None:
    if found is None:
        return FieldProblem(
            sobject,
            name,
            f"{sobject} has no field {name} (where Marketo's {marketo} is written)",
            "install or upgrade the Marketo Sales Insight package (namespace mkto_si) in this org, make the field "
            f"visible to the integration user, or map {marketo} to an existing field in {SETTING} (null leaves it out)",
        )
    kind = str(found.get("type"))
    if found.get("calculated"):
        return FieldProblem(
            sobject,
            name,
            f"{sobject}.{name} is a formula field and cannot be written",
            f"map {marketo} to the field the formula reads (for MSI: mkto_si__Urgency_Value__c or "
            f"mkto_si__Relative_Score_Value__c, not mkto_si__Urgency__c or mkto_si__Relative_Score__c) in {SETTING}",
        )
    if not found.get("updateable"):
        return FieldProblem(
            sobject,
            name,
            f"{sobject}.{name} is not writable for the integration user",
            "give the integration user's profile or permission set Edit access to the field (field-level security)",
        )
    if kind not in SUPPORTED_TYPES:
        return FieldProblem(
            sobject,
            name,
            f"{sobject}.{name} is a {kind} field, which the write-back cannot fill",
            f"map {marketo} to a text, number, date, date/time or checkbox field in {SETTING}",
        )
    return None


def _configured_mapping() -> WritebackMapping:
    from worker.settings import get_settings

    return WritebackMapping.load(get_settings().WRITEBACK_FIELD_MAPPING_FILE)
