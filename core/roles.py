"""Roles and what each may do: the single table every page and endpoint consults.

Pure data and one function, so the permission matrix can be tested without a database.
"""

from enum import StrEnum


class Role(StrEnum):
    COORDINATOR = "coordinator"
    RADIOLOGIST = "radiologist"
    HEPATOLOGIST = "hepatologist"
    SURGEON = "surgeon"
    AUDITOR = "auditor"
    INTEGRATION_CLIENT = "integration_client"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Action(StrEnum):
    VIEW_DONOR = "view_donor"
    CREATE_DONOR = "create_donor"
    EDIT_DEMOGRAPHICS = "edit_demographics"
    CHANGE_STATUS = "change_status"
    EDIT_RECIPIENT = "edit_recipient"
    VIEW_AUDIT = "view_audit"
    RECORD_ANATOMY = "record_anatomy"
    FINALISE_ANATOMY = "finalise_anatomy"
    CLASSIFY = "classify"
    RECORD_OUTCOME = "record_outcome"
    UPLOAD_IMAGES = "upload_images"
    VIEW_IMAGES = "view_images"
    MEASURE_IMAGES = "measure_images"
    RESOLVE_IMAGE_IDENTITY = "resolve_image_identity"
    RECORD_LABS = "record_labs"
    RECORD_IMAGING_FINDINGS = "record_imaging_findings"
    RECORD_CLEARANCE = "record_clearance"
    RECORD_DECISION = "record_decision"
    VIEW_REPORT = "view_report"
    READ_ISSUED_REPORT = "read_issued_report"
    ISSUE_REPORT = "issue_report"
    VIEW_COHORT = "view_cohort"


_CLINICAL = {Role.COORDINATOR, Role.RADIOLOGIST, Role.HEPATOLOGIST, Role.SURGEON}

ALLOWED: dict[Action, frozenset[Role]] = {
    Action.VIEW_DONOR: frozenset(_CLINICAL | {Role.INTEGRATION_CLIENT}),
    Action.CREATE_DONOR: frozenset({Role.COORDINATOR, Role.INTEGRATION_CLIENT}),
    Action.EDIT_DEMOGRAPHICS: frozenset({Role.COORDINATOR, Role.INTEGRATION_CLIENT}),
    Action.CHANGE_STATUS: frozenset({Role.COORDINATOR}),
    Action.EDIT_RECIPIENT: frozenset({Role.COORDINATOR, Role.INTEGRATION_CLIENT}),
    Action.VIEW_AUDIT: frozenset({Role.AUDITOR}),
    Action.RECORD_ANATOMY: frozenset({Role.RADIOLOGIST}),
    Action.FINALISE_ANATOMY: frozenset({Role.RADIOLOGIST}),
    Action.CLASSIFY: frozenset(_CLINICAL | {Role.INTEGRATION_CLIENT}),
    Action.RECORD_OUTCOME: frozenset({Role.SURGEON}),
    Action.UPLOAD_IMAGES: frozenset({Role.RADIOLOGIST, Role.COORDINATOR, Role.INTEGRATION_CLIENT}),
    Action.VIEW_IMAGES: frozenset(_CLINICAL),
    Action.MEASURE_IMAGES: frozenset({Role.RADIOLOGIST}),
    Action.RESOLVE_IMAGE_IDENTITY: frozenset({Role.RADIOLOGIST}),
    Action.RECORD_LABS: frozenset({Role.HEPATOLOGIST}),
    Action.RECORD_IMAGING_FINDINGS: frozenset({Role.RADIOLOGIST}),
    Action.RECORD_CLEARANCE: frozenset({Role.COORDINATOR}),
    Action.RECORD_DECISION: frozenset({Role.SURGEON, Role.HEPATOLOGIST, Role.RADIOLOGIST, Role.COORDINATOR}),
    Action.VIEW_REPORT: frozenset(_CLINICAL),
    # An issued version is the document the hospital's record files (API and FHIR); the live report is not.
    Action.READ_ISSUED_REPORT: frozenset(_CLINICAL | {Role.INTEGRATION_CLIENT}),
    Action.ISSUE_REPORT: frozenset({Role.SURGEON, Role.HEPATOLOGIST}),
    Action.VIEW_COHORT: frozenset(_CLINICAL | {Role.AUDITOR}),
}


def may(roles, action: Action) -> bool:
    """True when any of the given roles allows the action."""
    allowed = ALLOWED[action]
    return any(Role(role) in allowed for role in roles)
