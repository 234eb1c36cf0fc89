"""The simulated org's objects and fields: what describe lists, what SOQL accepts and what updates may touch."""

from __future__ import annotations

from dataclasses import dataclass, field

from clients import sfids

# Field types, as describe names them.
ID = "id"
REFERENCE = "reference"
STRING = "string"
EMAIL = "email"
PHONE = "phone"
URL = "url"
PICKLIST = "picklist"
TEXTAREA = "textarea"
BOOLEAN = "boolean"
DOUBLE = "double"
INT = "int"
CURRENCY = "currency"
PERCENT = "percent"
DATE = "date"
DATETIME = "datetime"

TEXT_TYPES = frozenset({ID, REFERENCE, STRING, EMAIL, PHONE, URL, PICKLIST, TEXTAREA})
NUMBER_TYPES = frozenset({DOUBLE, INT, CURRENCY, PERCENT})
ID_TYPES = frozenset({ID, REFERENCE})
# Long text areas (over 255 characters) cannot be filtered or sorted on in SOQL.
FILTERABLE_TEXTAREA_MAX = 255


@dataclass(frozen=True)
class Field:
    """One field as describe shows it; `updateable`/`createable` decide what writes may set."""

    name: str
    type: str
    length: int = 0
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    reference_to: tuple[str, ...] = ()
    label: str = ""
    calculated: bool = False

    @property
    def filterable(self) -> bool:
        return not (self.type == TEXTAREA and self.length > FILTERABLE_TEXTAREA_MAX)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "label": self.label or _label(self.name),
            "type": self.type,
            "length": self.length,
            "updateable": self.updateable,
            "createable": self.createable,
            "nillable": self.nillable,
            "referenceTo": list(self.reference_to),
            "filterable": self.filterable,
            "sortable": self.filterable,
            "calculated": self.calculated,
            "custom": self.name.endswith("__c"),
            "idLookup": self.type == ID,
        }


@dataclass(frozen=True)
class SObject:
    """One object: its fields in describe order and its key prefix."""

    name: str
    key_prefix: str
    fields: tuple[Field, ...]
    label_plural: str = ""
    by_lower: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_lower", {f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> Field | None:
        """Field names are case-insensitive in SOQL and in writes, as in Salesforce."""
        return self.by_lower.get(name.lower())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "label": self.name,
            "labelPlural": self.label_plural or self.name + "s",
            "keyPrefix": self.key_prefix,
            "custom": False,
            "queryable": True,
            "updateable": self.name not in READ_ONLY_OBJECTS,
            "createable": self.name not in READ_ONLY_OBJECTS,
            "deletable": self.name not in READ_ONLY_OBJECTS,
            "undeletable": self.name in MERGEABLE or self.name in ("Opportunity", "OpportunityContactRole"),
            "mergeable": self.name in MERGEABLE,
            "fields": [f.describe() for f in self.fields],
            "urls": {
                "sobject": f"/services/data/v{{version}}/sobjects/{self.name}",
                "describe": f"/services/data/v{{version}}/sobjects/{self.name}/describe",
                "rowTemplate": f"/services/data/v{{version}}/sobjects/{self.name}/{{ID}}",
            },
        }


def _label(name: str) -> str:
    base = name.removeprefix("mkto_si__").removesuffix("__c").replace("_", " ")
    out = []
    for i, char in enumerate(base):
        if i and char.isupper() and base[i - 1].islower():
            out.append(" ")
        out.append(char)
    return "".join(out)


def _id() -> Field:
    return Field("Id", ID, 18, updateable=False, createable=False, nillable=False)


def _ref(name: str, *targets: str, updateable: bool = True, nillable: bool = True) -> Field:
    return Field(name, REFERENCE, 18, updateable=updateable, nillable=nillable, reference_to=targets)


def _readonly(name: str, kind: str, length: int = 0, *, nillable: bool = True) -> Field:
    return Field(name, kind, length, updateable=False, createable=False, nillable=nillable)


def _audit(with_deleted: bool = True) -> tuple[Field, ...]:
    fields = (
        _readonly("CreatedDate", DATETIME, nillable=False),
        _readonly("LastModifiedDate", DATETIME, nillable=False),
        Field(
            "LastModifiedById",
            REFERENCE,
            18,
            updateable=False,
            createable=False,
            nillable=False,
            reference_to=("User",),
        ),
        _readonly("SystemModstamp", DATETIME, nillable=False),
    )
    if with_deleted:
        return (_readonly("IsDeleted", BOOLEAN, nillable=False), *fields)
    return fields


def _msi_fields() -> tuple[Field, ...]:
    """The Marketo Sales Insight package fields on Lead and Contact (namespace mkto_si)."""
    return (
        Field("mkto_si__Last_Interesting_Moment_Type__c", STRING, 255),
        Field("mkto_si__Last_Interesting_Moment_Date__c", DATETIME),
        Field("mkto_si__Last_Interesting_Moment_Desc__c", TEXTAREA, 32000),
        Field("mkto_si__Last_Interesting_Moment_Source__c", STRING, 255),
        Field("mkto_si__Priority__c", DOUBLE),
        Field("mkto_si__Urgency_Value__c", DOUBLE),
        Field("mkto_si__Relative_Score_Value__c", DOUBLE),
        Field("mkto_si__Urgency__c", STRING, 1300, updateable=False, createable=False, calculated=True),
        Field("mkto_si__Relative_Score__c", STRING, 1300, updateable=False, createable=False, calculated=True),
    )


OWNERS = ("User", "Group")

USER = SObject(
    "User",
    sfids.PREFIX_USER,
    (
        _id(),
        Field("Username", STRING, 80, nillable=False),
        Field("Email", EMAIL, 128, nillable=False),
        Field("FirstName", STRING, 40),
        Field("LastName", STRING, 80, nillable=False),
        _readonly("Name", STRING, 121, nillable=False),
        Field("Title", STRING, 80),
        Field("Phone", PHONE, 40),
        Field("MobilePhone", PHONE, 40),
        Field("IsActive", BOOLEAN, nillable=False),
        Field("UserType", PICKLIST, 40, updateable=False, nillable=True),
        *_audit(with_deleted=False),
    ),
)

GROUP = SObject(
    "Group",
    sfids.PREFIX_QUEUE,
    (
        _id(),
        Field("Name", STRING, 40, nillable=False),
        Field("DeveloperName", STRING, 80),
        Field("Type", PICKLIST, 40, updateable=False, nillable=False),
        Field("Email", EMAIL, 255),
        *_audit(with_deleted=False),
    ),
)

ORGANIZATION = SObject(
    "Organization",
    sfids.PREFIX_ORGANIZATION,
    (
        _id(),
        _readonly("Name", STRING, 80, nillable=False),
        _readonly("IsSandbox", BOOLEAN, nillable=False),
        _readonly("OrganizationType", PICKLIST, 40),
        _readonly("InstanceName", STRING, 5),
    ),
    label_plural="Organizations",
)

ACCOUNT = SObject(
    "Account",
    sfids.PREFIX_ACCOUNT,
    (
        _id(),
        Field("Name", STRING, 255, nillable=False),
        _ref("OwnerId", "User", nillable=False),
        Field("Type", PICKLIST, 255),
        Field("Industry", PICKLIST, 255),
        Field("NumberOfEmployees", INT),
        Field("AnnualRevenue", CURRENCY),
        Field("Website", URL, 255),
        Field("Phone", PHONE, 40),
        Field("BillingStreet", TEXTAREA, 255),
        Field("BillingCity", STRING, 40),
        Field("BillingState", STRING, 80),
        Field("BillingPostalCode", STRING, 20),
        Field("BillingCountry", STRING, 80),
        Field("Description", TEXTAREA, 32000),
        _ref("MasterRecordId", "Account", updateable=False),
        *_audit(),
    ),
)

CONTACT = SObject(
    "Contact",
    sfids.PREFIX_CONTACT,
    (
        _id(),
        _ref("AccountId", "Account"),
        _ref("OwnerId", "User", nillable=False),
        Field("FirstName", STRING, 40),
        Field("LastName", STRING, 80, nillable=False),
        Field("Email", EMAIL, 80),
        Field("Title", STRING, 128),
        Field("Phone", PHONE, 40),
        Field("MobilePhone", PHONE, 40),
        Field("LeadSource", PICKLIST, 255),
        Field("MailingStreet", TEXTAREA, 255),
        Field("MailingCity", STRING, 40),
        Field("MailingState", STRING, 80),
        Field("MailingPostalCode", STRING, 20),
        Field("MailingCountry", STRING, 80),
        Field("HasOptedOutOfEmail", BOOLEAN, nillable=False),
        _ref("MasterRecordId", "Contact", updateable=False),
        *_audit(),
        *_msi_fields(),
    ),
)

LEAD = SObject(
    "Lead",
    sfids.PREFIX_LEAD,
    (
        _id(),
        _ref("OwnerId", *OWNERS, nillable=False),
        Field("FirstName", STRING, 40),
        Field("LastName", STRING, 80, nillable=False),
        Field("Email", EMAIL, 80),
        Field("Company", STRING, 255, nillable=False),
        Field("Title", STRING, 128),
        Field("Phone", PHONE, 40),
        Field("MobilePhone", PHONE, 40),
        Field("Status", PICKLIST, 255, nillable=False),
        Field("LeadSource", PICKLIST, 255),
        Field("Industry", PICKLIST, 255),
        Field("AnnualRevenue", CURRENCY),
        Field("NumberOfEmployees", INT),
        Field("Street", TEXTAREA, 255),
        Field("City", STRING, 40),
        Field("State", STRING, 80),
        Field("PostalCode", STRING, 20),
        Field("Country", STRING, 80),
        Field("IsConverted", BOOLEAN, updateable=False, nillable=False),
        _readonly("ConvertedDate", DATE),
        Field("ConvertedAccountId", REFERENCE, 18, updateable=False, createable=False, reference_to=("Account",)),
        Field("ConvertedContactId", REFERENCE, 18, updateable=False, createable=False, reference_to=("Contact",)),
        Field(
            "ConvertedOpportunityId", REFERENCE, 18, updateable=False, createable=False, reference_to=("Opportunity",)
        ),
        Field("HasOptedOutOfEmail", BOOLEAN, nillable=False),
        _ref("MasterRecordId", "Lead", updateable=False),
        *_audit(),
        *_msi_fields(),
    ),
)

OPPORTUNITY = SObject(
    "Opportunity",
    sfids.PREFIX_OPPORTUNITY,
    (
        _id(),
        Field("Name", STRING, 120, nillable=False),
        _ref("AccountId", "Account"),
        _ref("OwnerId", "User", nillable=False),
        Field("Amount", CURRENCY),
        Field("StageName", PICKLIST, 255, nillable=False),
        Field("CloseDate", DATE, nillable=False),
        _readonly("IsClosed", BOOLEAN, nillable=False),
        _readonly("IsWon", BOOLEAN, nillable=False),
        Field("Type", PICKLIST, 255),
        Field("Probability", PERCENT),
        Field("LeadSource", PICKLIST, 255),
        Field("Description", TEXTAREA, 32000),
        _readonly("FiscalYear", INT),
        _readonly("FiscalQuarter", INT),
        *_audit(),
    ),
    label_plural="Opportunities",
)

CONTACT_ROLE = SObject(
    "OpportunityContactRole",
    sfids.PREFIX_CONTACT_ROLE,
    (
        _id(),
        _ref("OpportunityId", "Opportunity", updateable=False, nillable=False),
        _ref("ContactId", "Contact", nillable=False),
        Field("Role", PICKLIST, 255),
        Field("IsPrimary", BOOLEAN, nillable=False),
        *_audit(),
    ),
)

OBJECTS: dict[str, SObject] = {
    o.name: o for o in (USER, GROUP, ORGANIZATION, ACCOUNT, CONTACT, LEAD, OPPORTUNITY, CONTACT_ROLE)
}
BY_LOWER: dict[str, SObject] = {name.lower(): o for name, o in OBJECTS.items()}
BY_PREFIX: dict[str, SObject] = {o.key_prefix: o for o in OBJECTS.values()}
READ_ONLY_OBJECTS = frozenset({"Organization"})
MERGEABLE = frozenset({"Account", "Contact", "Lead"})
# Objects whose records go to the recycle bin (they have IsDeleted).
DELETABLE = frozenset(name for name, o in OBJECTS.items() if o.field("IsDeleted"))
BUSINESS_OBJECTS = ("Account", "Contact", "Lead", "Opportunity", "OpportunityContactRole")

LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Not Converted")
CONVERTED_STATUS = "Closed - Converted"
OPPORTUNITY_STAGES = (
    ("Prospecting", 10, False, False),
    ("Qualification", 10, False, False),
    ("Needs Analysis", 20, False, False),
    ("Value Proposition", 50, False, False),
    ("Proposal/Price Quote", 75, False, False),
    ("Negotiation/Review", 90, False, False),
    ("Closed Won", 100, True, True),
    ("Closed Lost", 0, True, False),
)
STAGE_INFO = {name: (probability, closed, won) for name, probability, closed, won in OPPORTUNITY_STAGES}
CONTACT_ROLES = (
    "Business User",
    "Decision Maker",
    "Economic Buyer",
    "Economic Decision Maker",
    "Evaluator",
    "Executive Sponsor",
    "Influencer",
    "Technical Buyer",
    "Other",
)


def sobject(name: str) -> SObject | None:
    """Object names are case-insensitive, as in Salesforce."""
    return BY_LOWER.get(name.lower())


def object_of_id(record_id: str) -> SObject | None:
    return BY_PREFIX.get(record_id[:3])
