"""What the failures table tells an admin about bad records: every dropped value, and what to do about a role."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models.base import utcnow
from models.db import session_scope
from models.records import Failure, IdMap
from models.runs import StagedRecord
from pipeline import objects as o
from pipeline.mapping import MappingConfig
from pipeline.progress import start_run
from pipeline.sending import Claim
from pipeline.staging import PageStager
from pipeline.writers import Outcome, RoleWriter
from tests.pipeline.records import contact, lead, sf_id, user

CONFIG = MappingConfig.load(None)


def new_run(db: str) -> int:
    with session_scope(db) as session:
        return start_run(
            session, object_types=list(o.OBJECT_TYPES), full=False, trigger="test", overlap=timedelta(0)
        ).id


def open_warnings(db: str) -> dict[str, tuple[str, str]]:
    with session_scope(db) as session:
        rows = session.scalars(select(Failure).where(Failure.kind == "warning", Failure.status == "open"))
        return {row.sf_id: (row.code, row.message) for row in rows}


def test_a_record_with_several_bad_values_keeps_every_one_in_its_warning(db: str) -> None:
    # The failures table holds one warning per record: a second problem must not replace the first.
    person = contact(user()["Id"], None, Email="not-an-email", FirstName="Bell\x07", Title="t" * 300)
    run_id = new_run(db)
    with session_scope(db) as session:
        assert PageStager(session, run_id, CONFIG, False).stage(o.CONTACT, [person]).staged == 1
    code, message = open_warnings(db)[person["Id"]]
    assert code == "INVALID_EMAIL"
    assert message == (
        "email 'not-an-email' is not a valid ASCII address; sent without an email; "
        "firstName: control characters removed; title: 300 characters cut to Marketo's 255"
    )


def test_a_deleted_or_converted_person_leaves_no_open_warning(db: str) -> None:
    owner = user()["Id"]
    gone, converted = lead(owner, Email="a@b"), lead(owner, FirstName="Bell\x07")
    run_id = new_run(db)
    with session_scope(db) as session:
        PageStager(session, run_id, CONFIG, False).stage(o.LEAD, [gone, converted])
    assert set(open_warnings(db)) == {gone["Id"], converted["Id"]}
    later = gone | {"IsDeleted": True}, converted | {"IsConverted": True, "ConvertedContactId": sf_id("003")}
    with session_scope(db) as session:
        PageStager(session, run_id, CONFIG, False).stage(o.LEAD, list(later))
    assert open_warnings(db) == {}


def test_a_role_that_cannot_be_sent_says_what_to_fix(db: str) -> None:
    run_id = new_run(db)
    deleted, missing_opportunity, opportunity = sf_id("003"), sf_id("006"), sf_id("006")
    with session_scope(db) as session:
        session.add(IdMap(object_type=o.LEADS, sf_id=deleted, sobject="Contact", deleted_at=utcnow()))
        session.add(IdMap(object_type=o.OPPORTUNITIES, sf_id=opportunity, sobject="Opportunity", marketo_id="5"))
    rows = [
        StagedRecord(
            sf_id=sf_id("00K"),
            sobject="OpportunityContactRole",
            lookup=o.BY_EXTERNAL_ID,
            payload={"externalOpportunityId": opp, "contactId": person, "role": "Decision Maker"},
        )
        for opp, person in ((missing_opportunity, sf_id("003")), (opportunity, deleted))
    ]
    outcome = Outcome()
    with session_scope(db) as session:
        plan = RoleWriter().prepare(session, Claim(1, run_id, "roles:upsert", o.BY_EXTERNAL_ID, "me"), rows, outcome)
    assert plan is None
    assert [(f.code, f.message) for f in outcome.failures] == [
        (
            "DEPENDENCY_MISSING",
            f"not sent: its opportunity {missing_opportunity} is not in Marketo (yet); see that opportunity's failure",
        ),
        (
            "CONTACT_DELETED",
            f"not sent: its contact {deleted} was deleted in Salesforce; restore the contact or remove this "
            "contact role",
        ),
    ]
