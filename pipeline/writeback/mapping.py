"""Which Marketo lead field the write-back copies into which Salesforce field: MSI package defaults, or a JSON file."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clients.errors import ConfigurationError

SETTING = "WRITEBACK_FIELD_MAPPING_FILE"
# Marketo field -> Salesforce field on both Lead and Contact: the Marketo Sales Insight package's
# writable fields (the *_Value__c ones; Urgency__c and Relative_Score__c are formulas over them).
DEFAULT_FIELDS: dict[str, str] = {
    "msiLastInterestingMomentType": "mkto_si__Last_Interesting_Moment_Type__c",
    "msiLastInterestingMomentDate": "mkto_si__Last_Interesting_Moment_Date__c",
    "msiLastInterestingMomentDesc": "mkto_si__Last_Interesting_Moment_Desc__c",
    "msiLastInterestingMomentSource": "mkto_si__Last_Interesting_Moment_Source__c",
    "priority": "mkto_si__Priority__c",
    "relativeUrgency": "mkto_si__Urgency_Value__c",
    "relativeScoring": "mkto_si__Relative_Score_Value__c",
}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass(frozen=True)
class WritebackMapping:
    """Marketo field -> Salesforce field, in a stable order."""

    fields: tuple[tuple[str, str], ...]

    @classmethod
    def load(cls, path: Path | None) -> WritebackMapping:
        """The defaults, with the file's {"marketoField": "SalesforceField" or null} applied over them."""
        fields = dict(DEFAULT_FIELDS)
        if path is not None:
            try:
                overrides = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise ConfigurationError(f"{SETTING}: cannot read {path}: {error}", setting=SETTING) from None
            _apply(fields, overrides)
        if not fields:
            raise ConfigurationError(
                f"{SETTING}: maps no field at all; the write-back would write nothing", setting=SETTING
            )
        targets = list(fields.values())
        twice = sorted({name for name in targets if targets.count(name) > 1})
        if twice:
            raise ConfigurationError(f"{SETTING}: several Marketo fields go to {', '.join(twice)}", setting=SETTING)
        return cls(tuple(fields.items()))

    @property
    def marketo_fields(self) -> list[str]:
        return [marketo for marketo, _ in self.fields]

    @property
    def salesforce_fields(self) -> list[str]:
        return [salesforce for _, salesforce in self.fields]

    def digest(self) -> str:
        """Changes when the mapping does (a cached field check is only good for the mapping it checked)."""
        return hashlib.sha256(json.dumps(self.fields).encode()).hexdigest()[:16]


def _apply(fields: dict[str, str], overrides: Any) -> None:
    if not isinstance(overrides, dict):
        raise ConfigurationError(
            f'{SETTING}: must hold a JSON object such as {{"priority": "Score__c"}}', setting=SETTING
        )
    for marketo, salesforce in overrides.items():
        if not isinstance(marketo, str) or not _NAME.fullmatch(marketo):
            raise ConfigurationError(f"{SETTING}: {marketo!r} is not a Marketo field name", setting=SETTING)
        if salesforce is None:
            fields.pop(marketo, None)
        elif isinstance(salesforce, str) and _NAME.fullmatch(salesforce):
            fields[marketo] = salesforce
        else:
            raise ConfigurationError(
                f"{SETTING}: {marketo} must name a Salesforce field (or be null to drop it)", setting=SETTING
            )
