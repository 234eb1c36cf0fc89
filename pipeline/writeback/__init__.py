"""The score write-back: MSI's fields read from Marketo and written onto Salesforce Leads and Contacts."""

from pipeline.writeback.fields import FieldProblem, check_target_fields

__all__ = ["FieldProblem", "check_target_fields"]
