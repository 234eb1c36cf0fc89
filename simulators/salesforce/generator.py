"""Builds a plausible org, deterministically for (seed, size), from twenty records to millions."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from clients import sfids
from simulators.salesforce import schema
from simulators.salesforce.org import Org, Table, base62, derive
from simulators.salesforce.values import date_of

# Generated history ends here, so the same (seed, size) gives the same data on any day;
# changes made afterwards are stamped with the real clock, which is later.
ANCHOR_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
HISTORY_MS = 730 * 86_400_000
DAY_MS = 86_400_000


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan "
    "Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy Anthony Betty Mark Sandra Donald "
    "Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa "
    "George Deborah Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Amy Jacob "
    "Kathleen Gary Angela Nicholas Shirley Eric Anna Jonathan Brenda Stephen Pamela Larry Emma Justin Nicole "
    "Scott Helen Brandon Samantha Benjamin Katherine Samuel Christine Gregory Debra Alexander Rachel Priya "
    "Wei Aisha Mateo Sofia Lukas Hannah Kenji Yuki Omar Fatima Lars Ingrid"
)
LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz "
    "Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson "
    "Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray "
    "Patel Schmidt Novak Tanaka Larsen Okafor Haddad Kowalski"
)
COMPANY_WORDS = _words(
    "Acme Apex Blue Ridge Cedar Summit Granite Harbor Iron Juniper Keystone Lakeside Maple Northwind Oak "
    "Pinnacle Quantum Redwood Silver Tidewater Union Vertex Willow Zenith Atlas Beacon Cobalt Delta Evergreen "
    "Falcon Golden Horizon Insight Lumen Meridian Nova Orbit Pioneer Radiant Sterling Trident Vista"
)
COMPANY_NOUNS = _words(
    "Systems Logistics Analytics Foods Health Energy Robotics Software Capital Labs Networks Manufacturing "
    "Partners Retail Media Pharma Solutions Consulting Devices Materials Marine Foundry Dynamics Works"
)
COMPANY_SUFFIXES = ("Inc", "LLC", "Ltd", "GmbH", "Corp", "Group", "Co", "SA", "AG", "PLC")
TITLES = (
    "CEO",
    "CFO",
    "CTO",
    "VP Sales",
    "VP Marketing",
    "Director of IT",
    "Marketing Manager",
    "Sales Manager",
    "Procurement Lead",
    "Operations Manager",
    "Software Engineer",
    "Analyst",
    "Consultant",
    "Buyer",
    None,
)
INDUSTRIES = (
    "Agriculture",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Finance",
    "Healthcare",
    "Insurance",
    "Manufacturing",
    "Media",
    "Retail",
    "Technology",
    "Transportation",
    None,
)
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Trade Show", "Word of mouth", None)
CITIES = (
    ("San Francisco", "CA", "94105", "USA"),
    ("New York", "NY", "10001", "USA"),
    ("Chicago", "IL", "60601", "USA"),
    ("Austin", "TX", "73301", "USA"),
    ("Seattle", "WA", "98101", "USA"),
    ("Boston", "MA", "02108", "USA"),
    ("London", None, "EC1A 1BB", "United Kingdom"),
    ("Berlin", None, "10115", "Germany"),
    ("Paris", None, "75001", "France"),
    ("Toronto", "ON", "M5H 2N2", "Canada"),
    ("Sydney", "NSW", "2000", "Australia"),
    ("Tokyo", None, "100-0001", "Japan"),
    ("Munich", "BY", "80331", "Germany"),
    ("Dublin", None, "D02", "Ireland"),
)
STREETS = ("Main St", "Market St", "Oak Ave", "Park Blvd", "Mission St", "High St", "Elm St", "Harbor Way")
ACCOUNT_TYPES = ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other", None)
OPPORTUNITY_TYPES = ("New Business", "Existing Customer - Upgrade", "Existing Customer - Renewal", None)
QUEUE_NAMES = ("Inbound Leads Queue", "Partner Leads Queue", "EMEA Leads Queue")
OTHER_USER_TYPES = ("AutomatedProcess", "CloudIntegrationUser", "PowerPartner", "CsnOnly")


def counts_for(size: int) -> dict[str, int]:
    """How many records of each business object make up `size` (plus users and queues)."""
    accounts = max(1, round(size * 0.10))
    contacts = max(1, round(size * 0.30))
    leads = max(1, round(size * 0.30))
    opportunities = max(1, round(size * 0.15))
    roles = max(0, size - accounts - contacts - leads - opportunities)
    return {
        "User": max(5, size // 500),
        "Group": 1 + (size >= 100) + (size >= 10_000),
        "Account": accounts,
        "Contact": contacts,
        "Lead": leads,
        "Opportunity": opportunities,
        "OpportunityContactRole": roles,
    }


def generate(seed: int, size: int, bad_input: bool = False, *, sandbox: bool = False, org_id: str | None = None) -> Org:
    """A whole org: users, queues, accounts, contacts, leads, opportunities and contact roles."""
    builder = _Builder(seed, size, sandbox=sandbox, org_id=org_id)
    builder.build()
    if bad_input:
        _BadInput(builder).apply()
    return builder.org


class _Builder:
    def __init__(self, seed: int, size: int, *, sandbox: bool, org_id: str | None) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.counts = counts_for(size)
        pod = base62(seed % 3844, 2)
        default_org = f"00D{pod}0{base62(seed + 1, 9)}"
        self.org = Org(org_id=sfids.to_18(org_id or default_org), pod=pod, sandbox=sandbox)
        self.users: list[str] = []
        self.active_owners: list[str] = []
        self.queues: list[str] = []
        self.accounts: list[str] = []
        self.account_owner: dict[str, str] = {}
        self.account_domain: dict[str, str] = {}
        self.account_contacts: dict[str, list[str]] = {}
        self.contacts: list[str] = []
        self.leads: list[str] = []
        self.opportunities: list[str] = []
        self.opportunity_account: dict[str, str | None] = {}
        self.account_opportunity: dict[str, str] = {}
        self.roles: list[str] = []
        self._last_audit: tuple[int, int, int] | None = None
        self._serial = 0

    # --- helpers -------------------------------------------------------------------------
    def audit(self) -> dict[str, Any]:
        """Created/modified stamps somewhere in the last two years; some rows share a stamp,
        as records of one data load do."""
        rng = self.rng
        if self._last_audit is not None and rng.random() < 0.05:
            created, modified, system = self._last_audit
        else:
            created = ANCHOR_MS - HISTORY_MS + int(rng.random() * (HISTORY_MS - DAY_MS))
            modified = created + int(rng.random() * (ANCHOR_MS - created))
            system = modified + (int(rng.random() * DAY_MS) if rng.random() < 0.1 else 0)
            system = min(system, ANCHOR_MS)
            self._last_audit = (created, modified, system)
        self.org.observe_stamp(system)
        return {
            "CreatedDate": created,
            "LastModifiedDate": modified,
            "SystemModstamp": system,
            "LastModifiedById": self.org.admin_user_id or None,
        }

    def person(self) -> tuple[str, str]:
        return self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)

    def email(self, first: str, last: str, domain: str) -> str:
        self._serial += 1
        return f"{first}.{last}{self._serial}@{domain}".lower()

    def phone(self) -> str:
        rng = self.rng
        return f"+1 {rng.randint(201, 989)}-555-{rng.randint(0, 9999):04d}"

    def address(self) -> tuple[str, str | None, str | None, str | None, str | None]:
        city, state, postal, country = self.rng.choice(CITIES)
        return f"{self.rng.randint(1, 9999)} {self.rng.choice(STREETS)}", city, state, postal, country

    def company(self) -> tuple[str, str]:
        rng = self.rng
        word, noun = rng.choice(COMPANY_WORDS), rng.choice(COMPANY_NOUNS)
        self._serial += 1
        name = f"{word} {noun} {rng.choice(COMPANY_SUFFIXES)}"
        if rng.random() < 0.5:
            name = f"{word} {noun} {self._serial} {rng.choice(COMPANY_SUFFIXES)}"
        return name, f"{word}{noun}{self._serial}.example.com".lower()

    def owner(self) -> str:
        rng = self.rng
        if rng.random() < 0.97 or len(self.users) <= len(self.active_owners):
            return rng.choice(self.active_owners)
        return rng.choice(self.users)

    def insert(self, table: Table, values: dict[str, Any]) -> list[Any]:
        values["Id"] = self.org.new_id(table.sobject.key_prefix)
        values.update(self.audit())
        row = table.new_row(values)
        derive(table, row)
        return row

    # --- objects ---------------------------------------------------------------------------
    def build(self) -> None:
        self.build_organization()
        self.build_users()
        self.build_queues()
        self.build_accounts()
        self.build_contacts()
        self.build_opportunities()
        self.build_leads()
        self.build_roles()
        self.build_recycle_bin()
        self.org.observe_stamp(ANCHOR_MS)

    def build_organization(self) -> None:
        table = self.org.tables["Organization"]
        table.new_row(
            {
                "Id": self.org.org_id,
                "Name": f"Simulated Org {self.seed}",
                "IsSandbox": self.org.sandbox,
                "OrganizationType": "Enterprise Edition",
                "InstanceName": "CS42" if self.org.sandbox else "NA224",
            }
        )

    def build_users(self) -> None:
        table, rng = self.org.tables["User"], self.rng
        domain = f"org{self.seed}.example.com"
        specs: list[tuple[str, str, str, bool, str | None]] = [
            ("Admin", "User", "Standard", True, "System Administrator"),
            ("Integration", "User", "Standard", True, "API Integration"),
        ]
        for i in range(2, self.counts["User"]):
            first, last = self.person()
            roll = rng.random()
            # Every org, however small, has one inactive user and one non-Standard (automation) user.
            if i == 3 or (i > 4 and roll < 0.10):
                specs.append((first, last, "Standard", False, rng.choice(TITLES)))
            elif i == 4 or (i > 4 and roll < 0.15):
                specs.append((first, last, rng.choice(OTHER_USER_TYPES), True, None))
            else:
                specs.append((first, last, "Standard", True, rng.choice(TITLES)))
        for first, last, user_type, active, title in specs:
            row = self.insert(
                table,
                {
                    "Username": f"{first}.{last}.{len(self.users)}@{domain}".lower(),
                    "Email": f"{first}.{last}@{domain}".lower(),
                    "FirstName": first,
                    "LastName": last,
                    "Title": title,
                    "Phone": self.phone(),
                    "MobilePhone": None,
                    "IsActive": active,
                    "UserType": user_type,
                },
            )
            self.users.append(row[0])
            if active and user_type == "Standard":
                self.active_owners.append(row[0])
            if not self.org.admin_user_id:
                self.org.admin_user_id = row[0]
                table.set(row, "LastModifiedById", row[0])
        self.org.integration_user_id = self.users[1]
        # The integration user owns nothing: sales people are the others.
        self.active_owners.remove(self.users[1])
        for row in table.rows.values():
            if row[table.pos["LastModifiedById"]] is None:
                table.set(row, "LastModifiedById", self.org.admin_user_id)

    def build_queues(self) -> None:
        table = self.org.tables["Group"]
        for name in QUEUE_NAMES[: self.counts["Group"]]:
            developer = name.replace(" ", "_")
            row = self.insert(
                table,
                {
                    "Name": name,
                    "DeveloperName": developer,
                    "Type": "Queue",
                    "Email": f"{developer.lower()}@org{self.seed}.example.com",
                },
            )
            self.queues.append(row[0])
        self.org.assignment_queue_id = self.queues[0]

    def build_accounts(self) -> None:
        table, rng = self.org.tables["Account"], self.rng
        for _ in range(self.counts["Account"]):
            name, domain = self.company()
            street, city, state, postal, country = self.address()
            owner = self.owner()
            row = self.insert(
                table,
                {
                    "Name": name,
                    "OwnerId": owner,
                    "Type": rng.choice(ACCOUNT_TYPES),
                    "Industry": rng.choice(INDUSTRIES),
                    "NumberOfEmployees": rng.choice((5, 20, 80, 250, 1200, 15000)),
                    "AnnualRevenue": float(rng.randint(1, 5000) * 100_000),
                    "Website": f"https://www.{domain}",
                    "Phone": self.phone(),
                    "BillingStreet": street,
                    "BillingCity": city,
                    "BillingState": state,
                    "BillingPostalCode": postal,
                    "BillingCountry": country,
                    "Description": None if rng.random() < 0.7 else f"{name}: key account in {city}.",
                    "IsDeleted": False,
                },
            )
            self.accounts.append(row[0])
            self.account_owner[row[0]] = owner
            self.account_domain[row[0]] = domain
            self.account_contacts[row[0]] = []

    def build_contacts(self) -> None:
        table, rng = self.org.tables["Contact"], self.rng
        for _ in range(self.counts["Contact"]):
            account = rng.choice(self.accounts) if rng.random() < 0.9 else None
            first, last = self.person()
            domain = self.account_domain[account] if account else rng.choice(("gmail.com", "outlook.com"))
            street, city, state, postal, country = self.address()
            row = self.insert(
                table,
                {
                    "AccountId": account,
                    "OwnerId": self.account_owner[account] if account else self.owner(),
                    "FirstName": first,
                    "LastName": last,
                    "Email": self.email(first, last, domain),
                    "Title": rng.choice(TITLES),
                    "Phone": self.phone(),
                    "MobilePhone": self.phone() if rng.random() < 0.3 else None,
                    "LeadSource": rng.choice(LEAD_SOURCES),
                    "MailingStreet": street,
                    "MailingCity": city,
                    "MailingState": state,
                    "MailingPostalCode": postal,
                    "MailingCountry": country,
                    "HasOptedOutOfEmail": rng.random() < 0.05,
                    "IsDeleted": False,
                    **self.msi_values(),
                },
            )
            self.contacts.append(row[0])
            if account:
                self.account_contacts[account].append(row[0])

    def msi_values(self) -> dict[str, Any]:
        """Most people have never been scored by Marketo yet; some have."""
        rng = self.rng
        if rng.random() < 0.8:
            return {}
        return {
            "mkto_si__Priority__c": float(rng.randint(0, 100)),
            "mkto_si__Urgency_Value__c": float(rng.randint(0, 100)),
            "mkto_si__Relative_Score_Value__c": float(rng.randint(0, 100)),
            "mkto_si__Last_Interesting_Moment_Type__c": "Web",
            "mkto_si__Last_Interesting_Moment_Desc__c": "Visited pricing page",
            "mkto_si__Last_Interesting_Moment_Source__c": "Web page",
            "mkto_si__Last_Interesting_Moment_Date__c": ANCHOR_MS - rng.randint(1, 300) * DAY_MS,
        }

    def build_opportunities(self) -> None:
        table, rng = self.org.tables["Opportunity"], self.rng
        for _ in range(self.counts["Opportunity"]):
            account = rng.choice(self.accounts) if rng.random() < 0.95 else None
            stage = rng.choice(schema.OPPORTUNITY_STAGES)[0]
            close = date_of(ANCHOR_MS + rng.randint(-400, 200) * DAY_MS)
            row = self.insert(
                table,
                {
                    "Name": f"{rng.choice(COMPANY_WORDS)} {rng.choice(('Renewal', 'Expansion', 'Pilot', 'Platform'))}",
                    "AccountId": account,
                    "OwnerId": self.account_owner[account] if account else self.owner(),
                    "Amount": float(rng.randint(1, 500) * 1000),
                    "StageName": stage,
                    "CloseDate": close,
                    "Type": rng.choice(OPPORTUNITY_TYPES),
                    "LeadSource": rng.choice(LEAD_SOURCES),
                    "Description": None,
                    "IsDeleted": False,
                },
            )
            self.opportunities.append(row[0])
            self.opportunity_account[row[0]] = account
            if account:
                self.account_opportunity.setdefault(account, row[0])

    def build_leads(self) -> None:
        table, rng = self.org.tables["Lead"], self.rng
        contacts = self.org.tables["Contact"]
        for index in range(self.counts["Lead"]):
            street, city, state, postal, country = self.address()
            values: dict[str, Any] = {
                "Title": rng.choice(TITLES),
                "Phone": self.phone(),
                "MobilePhone": self.phone() if rng.random() < 0.2 else None,
                "Status": rng.choice(schema.LEAD_STATUSES),
                "LeadSource": rng.choice(LEAD_SOURCES),
                "Industry": rng.choice(INDUSTRIES),
                "AnnualRevenue": float(rng.randint(1, 900) * 10_000),
                "NumberOfEmployees": rng.choice((None, 10, 50, 200, 1000)),
                "Street": street,
                "City": city,
                "State": state,
                "PostalCode": postal,
                "Country": country,
                "IsConverted": False,
                "HasOptedOutOfEmail": rng.random() < 0.05,
                "IsDeleted": False,
                **self.msi_values(),
            }
            # About one lead in fifteen was converted already (always one, so small orgs have one).
            converting = index == 1 or rng.random() < 1 / 15
            source = rng.choice(self.contacts) if converting else None
            if source is not None:
                person = contacts.as_dict(contacts.rows[source])
                account = person["AccountId"]
                values.update(
                    FirstName=person["FirstName"],
                    LastName=person["LastName"],
                    Email=person["Email"],
                    Company=self.account_name(account) or f"{person['LastName']} Household",
                    OwnerId=person["OwnerId"],
                    IsConverted=True,
                    Status=schema.CONVERTED_STATUS,
                    ConvertedContactId=source,
                    ConvertedAccountId=account,
                    ConvertedOpportunityId=self.opportunity_of(account),
                )
            else:
                first, last = self.person()
                company, domain = self.company()
                values.update(
                    FirstName=first,
                    LastName=last,
                    Email=self.email(first, last, domain),
                    Company=company,
                    OwnerId=rng.choice(self.queues) if rng.random() < 0.08 else self.owner(),
                )
            row = self.insert(table, values)
            if values["IsConverted"]:
                table.set(row, "ConvertedDate", date_of(row[table.pos["CreatedDate"]]))
            self.leads.append(row[0])

    def account_name(self, account: str | None) -> str | None:
        if account is None:
            return None
        accounts = self.org.tables["Account"]
        return str(accounts.get(accounts.rows[account], "Name"))

    def opportunity_of(self, account: str | None) -> str | None:
        if account is None or self.rng.random() < 0.5:
            return None
        return self.account_opportunity.get(account)

    def build_roles(self) -> None:
        table, rng = self.org.tables["OpportunityContactRole"], self.rng
        taken: set[tuple[str, str, str | None]] = set()
        primaries: set[str] = set()
        attempts = 0
        while len(self.roles) < self.counts["OpportunityContactRole"] and attempts < 20 * (len(self.roles) + 10):
            attempts += 1
            opportunity = rng.choice(self.opportunities)
            account = self.opportunity_account[opportunity]
            pool = self.account_contacts.get(account or "", []) if rng.random() < 0.9 else []
            contact = rng.choice(pool) if pool else rng.choice(self.contacts)
            role = rng.choice(schema.CONTACT_ROLES) if rng.random() < 0.9 else None
            if (opportunity, contact, role) in taken:
                continue
            taken.add((opportunity, contact, role))
            primary = opportunity not in primaries and rng.random() < 0.6
            if primary:
                primaries.add(opportunity)
            row = self.insert(
                table,
                {
                    "OpportunityId": opportunity,
                    "ContactId": contact,
                    "Role": role,
                    "IsPrimary": primary,
                    "IsDeleted": False,
                },
            )
            self.roles.append(row[0])

    def build_recycle_bin(self) -> None:
        """A few deleted records and a few merge losers (IsDeleted, MasterRecordId = winner).

        As in Salesforce, a merge moves the loser's children to the winner (contacts and
        opportunities of an account, roles of a contact), and deleting an opportunity deletes
        its roles. A deleted contact's roles stay: Salesforce lets roles point at them.
        """
        rng = self.rng
        children = _ChildIndex(self.org)
        for name, ids in (("Lead", self.leads), ("Contact", self.contacts), ("Account", self.accounts)):
            table = self.org.tables[name]
            candidates = [i for i in ids if not (name == "Lead" and table.get(table.rows[i], "IsConverted"))]
            merged = max(1, len(candidates) // 150) if len(candidates) >= 3 else 0
            for loser in rng.sample(candidates, min(merged, len(candidates) // 3)):
                winner = rng.choice(candidates)
                if winner != loser and not table.get(table.rows[winner], "IsDeleted"):
                    table.set(table.rows[loser], "MasterRecordId", winner)
                    table.set(table.rows[loser], "IsDeleted", True)
                    children.move(name, loser, winner)
        for name, ids in (("Lead", self.leads), ("Contact", self.contacts), ("Opportunity", self.opportunities)):
            table = self.org.tables[name]
            for record_id in rng.sample(ids, len(ids) // 200):
                table.set(table.rows[record_id], "IsDeleted", True)
                if name == "Opportunity":
                    children.delete_roles_of(record_id)


class _ChildIndex:
    """Parent id -> child rows for the links a merge or a delete touches, built once (O(n))."""

    LINKS = {
        "Account": (("Contact", "AccountId"), ("Opportunity", "AccountId")),
        "Contact": (("OpportunityContactRole", "ContactId"),),
        "Opportunity": (("OpportunityContactRole", "OpportunityId"),),
    }

    def __init__(self, org: Org) -> None:
        self.org = org
        self.index: dict[tuple[str, str, str], list[list[Any]]] = {}
        for links in self.LINKS.values():
            for child_name, link in links:
                table = org.tables[child_name]
                at = table.pos[link]
                for row in table.rows.values():
                    if row[at]:
                        self.index.setdefault((child_name, link, row[at]), []).append(row)

    def move(self, parent: str, old: str, new: str) -> None:
        for child_name, link in self.LINKS.get(parent, ()):
            table = self.org.tables[child_name]
            rows = self.index.pop((child_name, link, old), [])
            for row in rows:
                table.set(row, link, new)
            self.index.setdefault((child_name, link, new), []).extend(rows)

    def delete_roles_of(self, opportunity: str) -> None:
        table = self.org.tables["OpportunityContactRole"]
        for row in self.index.get(("OpportunityContactRole", "OpportunityId", opportunity), []):
            table.set(row, "IsDeleted", True)


class _BadInput:
    """The awkward data real orgs hold, added in small, deterministic numbers."""

    def __init__(self, builder: _Builder) -> None:
        self.b = builder
        self.rng = random.Random(builder.seed * 7919 + 1)
        self.org = builder.org

    def pick(self, name: str, count: int, where: Callable[[list[Any]], bool] | None = None) -> list[list[Any]]:
        table = self.org.tables[name]
        rows = [row for row in table.rows.values() if where is None or where(row)]
        return self.rng.sample(rows, min(count, len(rows)))

    def live(self, name: str) -> Callable[[list[Any]], bool]:
        table = self.org.tables[name]
        deleted, converted = table.pos.get("IsDeleted"), table.pos.get("IsConverted")
        return lambda row: not (deleted is not None and row[deleted]) and not (converted is not None and row[converted])

    def apply(self) -> None:
        leads, contacts = self.org.tables["Lead"], self.org.tables["Contact"]
        accounts, opportunities = self.org.tables["Account"], self.org.tables["Opportunity"]
        roles = self.org.tables["OpportunityContactRole"]
        n = max(1, min(5, len(self.b.leads) // 100))
        bad_emails = (
            "not-an-email",
            "john.doe@",
            "a@b",
            "jürgen.müller@münchen.de",
            "anna@bücher.example",
            "spaces in@example.com",
        )
        for table, name in ((leads, "Lead"), (contacts, "Contact")):
            for i, row in enumerate(self.pick(name, len(bad_emails), self.live(name))):
                table.set(row, "Email", bad_emails[i])
        odd_names = (("Zoë", "Ünal 😀"), ("Bell\x07", "O'Brien\ttab"), ("", "Line\nBreak"), ("李", "王"))
        for table, name in ((leads, "Lead"), (contacts, "Contact")):
            for (first, last), row in zip(odd_names, self.pick(name, len(odd_names), self.live(name)), strict=False):
                table.set(row, "FirstName", first)
                table.set(row, "LastName", last)
        for row in self.pick("Lead", n, self.live("Lead")):
            table_set_many(leads, row, LastName=None)
        for row in self.pick("Opportunity", n):
            table_set_many(opportunities, row, Name=None)
        for row in self.pick("Opportunity", n):
            table_set_many(opportunities, row, AccountId=None)
        long_text = "Long description. " * 2000  # 36,000 characters, cut to the field's 32,000
        for row in self.pick("Account", n):
            table_set_many(accounts, row, Description=long_text[:32000], Name=("Very Long Company Name " * 12)[:255])
        for row in self.pick("Lead", n, self.live("Lead")):
            table_set_many(
                leads,
                row,
                Company=("Enormous Holdings International " * 9)[:255],
                mkto_si__Last_Interesting_Moment_Desc__c=long_text[:5000],
                Street="x" * 255,
            )
        # The same person twice: a second lead with the first one's email.
        twins = self.pick("Lead", 2 * n, self.live("Lead"))
        for original, twin in zip(twins[::2], twins[1::2], strict=False):
            table_set_many(
                leads,
                twin,
                Email=leads.get(original, "Email"),
                FirstName=leads.get(original, "FirstName"),
                LastName=leads.get(original, "LastName"),
            )
        # Owners that are inactive users (and queue-owned leads, which ordinary data has too).
        inactive = [
            u
            for u, row in ((u, self.org.tables["User"].rows[u]) for u in self.b.users)
            if not self.org.tables["User"].get(row, "IsActive")
        ]
        for table, name in ((accounts, "Account"), (contacts, "Contact"), (leads, "Lead")):
            for row in self.pick(name, n):
                table.set(row, "OwnerId", self.rng.choice(inactive))
        for row in self.pick("Lead", n, self.live("Lead")):
            table.set(row, "OwnerId", self.rng.choice(self.b.queues))
        # Contact roles pointing at deleted contacts.
        for row in self.pick("OpportunityContactRole", n):
            contact = contacts.rows[roles.get(row, "ContactId")]
            contacts.set(contact, "IsDeleted", True)
        # 15-character ids in reference fields, as some orgs' data loads left them.
        for table, name, link in (
            (accounts, "Account", "OwnerId"),
            (contacts, "Contact", "AccountId"),
            (contacts, "Contact", "OwnerId"),
            (leads, "Lead", "OwnerId"),
            (opportunities, "Opportunity", "AccountId"),
            (roles, "OpportunityContactRole", "ContactId"),
        ):
            for row in self.pick(name, n, _has(table.pos[link])):
                table.set(row, link, table.get(row, link)[:15])
        self.ensure_converted_and_merged()

    def ensure_converted_and_merged(self) -> None:
        leads = self.org.tables["Lead"]
        if not any(leads.get(row, "IsConverted") for row in leads.rows.values()):
            for row in self.pick("Lead", 1, self.live("Lead")):
                contact = self.rng.choice(self.b.contacts)
                table_set_many(
                    leads,
                    row,
                    IsConverted=True,
                    Status=schema.CONVERTED_STATUS,
                    ConvertedContactId=contact,
                    ConvertedDate=date_of(ANCHOR_MS - DAY_MS),
                )
        if not any(leads.get(row, "MasterRecordId") for row in leads.rows.values()):
            pair = self.pick("Lead", 2, self.live("Lead"))
            if len(pair) == 2:
                table_set_many(leads, pair[1], IsDeleted=True, MasterRecordId=pair[0][0])


def _has(at: int) -> Callable[[list[Any]], bool]:
    return lambda row: row[at] is not None


def table_set_many(table: Table, row: list[Any], **values: Any) -> None:
    for name, value in values.items():
        table.set(row, name, value)
