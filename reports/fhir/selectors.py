"""The reads behind the FHIR endpoints: an issued version (or a patient's versions) scoped to the
actor's centre, gathered into the plain data the mapping takes."""

from __future__ import annotations

from django.db.models import Prefetch

from core.audit import Actor
from core.roles import Action
from donors.models import Donor
from donors.services import record_refused_access, require
from imaging.models import Series as SeriesModel
from imaging.models import Study as StudyModel

from ..content import imported_placeholder
from ..models import ReportVersion
from ..selectors import version_for
from . import mapping

READABLE_IDENTITY = (StudyModel.Identity.MATCHED, StudyModel.Identity.CONFIRMED)


def report_version(*, actor: Actor, pk) -> ReportVersion:
    """The issued version if its donor is in the actor's centre; otherwise not found (and audited)."""
    return version_for(actor=actor, pk=pk, action=Action.READ_ISSUED_REPORT)


def versions_of_patient(*, actor: Actor, donor_id: int) -> list[ReportVersion]:
    """The issued versions of one donor of the actor's centre, newest first. Another centre's donor
    matches nothing (the attempt is audited), as one that does not exist."""
    require(actor, Action.READ_ISSUED_REPORT)
    centre_of = Donor.objects.filter(pk=donor_id).values_list("centre_id", flat=True).first()
    if centre_of is None:
        return []
    if centre_of != actor.centre_id:
        record_refused_access(
            actor=actor, record_type="donors.Donor", record_id=donor_id, target_centre_id=centre_of, donor_id=donor_id
        )
        return []
    return _versions(ReportVersion.objects.filter(donor_id=donor_id))


def versions_by_mrn(*, actor: Actor, system: str | None, mrn: str) -> list[ReportVersion]:
    """The issued versions of the actor's centre's donors with this MRN; a system other than the
    centre's MRN system matches nothing."""
    require(actor, Action.READ_ISSUED_REPORT)
    centre = actor.user.centre
    if centre is None or (system is not None and system != mapping.mrn_system(centre.code)):
        return []
    return _versions(ReportVersion.objects.filter(donor__centre_id=centre.pk, donor__mrn=mrn))


def _versions(queryset) -> list[ReportVersion]:
    return list(
        queryset.select_related("donor", "donor__centre", "issued_by").order_by("donor__code", "donor_id", "-number")
    )


def latest_version(*, donor: Donor) -> ReportVersion | None:
    return (
        ReportVersion.objects.filter(donor=donor)
        .select_related("donor", "donor__centre", "issued_by")
        .order_by("-number")
        .first()
    )


def issued_report(version: ReportVersion, *, pdf: mapping.Pdf | None) -> mapping.IssuedReport:
    """The plain data of one issued version: its frozen content, the donor's identity and the MRCP study."""
    donor = version.donor
    placeholder = imported_placeholder(donor)
    return mapping.IssuedReport(
        version_id=version.pk,
        number=version.number,
        issued_at=version.issued_at.isoformat(),
        content=version.content,
        centre=mapping.Centre(code=donor.centre.code, name=donor.centre.name),
        patient=mapping.Patient(
            donor_id=donor.pk,
            code=donor.code,
            mrn=None if placeholder else donor.mrn,
            given_name=None if placeholder else donor.given_name,
            family_name=None if placeholder else donor.family_name,
            birth_date=donor.date_of_birth.isoformat() if donor.date_of_birth else None,
            sex=donor.sex or None,
        ),
        study=_study(version),
        pdf=pdf,
    )


def _study(version: ReportVersion) -> mapping.Study | None:
    """The MRCP study the anatomy was read on (or whose MIP the report shows). Its series are listed
    only while the study is still the donor's, with a resolved identity."""
    biliary = version.content.get("biliary") or {}
    mip = biliary.get("mip") or {}
    uid = biliary.get("study_uid") or mip.get("study_uid")
    if not uid:
        return None
    series = SeriesModel.objects.order_by("series_number", "pk")
    study = (
        StudyModel.objects.filter(
            donor_id=version.donor_id, study_instance_uid=uid, identity_state__in=READABLE_IDENTITY
        )
        .prefetch_related(Prefetch("series", queryset=series))
        .first()
    )
    if study is None:
        date = (mip.get("study_date") or "") if mip.get("study_uid") == uid else ""
        return mapping.Study(uid=uid, date=date, available=False)
    return mapping.Study(
        uid=uid,
        date=study.study_date,
        description=study.description,
        series=tuple(
            mapping.Series(
                uid=s.series_instance_uid,
                number=s.series_number,
                modality=s.modality,
                description=s.description,
                instances=s.instance_count,
            )
            for s in study.series.all()
        ),
    )


def pdf_title(version: ReportVersion) -> str:
    return f"Suitability report {version.donor.code}, version {version.number} (PDF)"


def pdf_bytes(version: ReportVersion) -> bytes | None:
    if version.pdf_state != ReportVersion.PdfState.READY or not version.pdf:
        return None
    with version.pdf.open("rb") as handle:
        return handle.read()
