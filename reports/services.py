"""Every write of the reports app: issuing a report, rendering its PDF, importing historical
outcomes; and the audit of report reads and downloads.

Issuing freezes the content dict of `reports.content.report_content` into a new `ReportVersion`
(one transaction, one audit event); the PDF is rendered afterwards by a worker from exactly that
frozen content, so later changes to the donor never alter an issued report.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from classification.models import Annotation, SurgicalOutcome
from classification.outcomes import MAX_ANASTOMOSES, MIN_ANASTOMOSES, TECHNIQUE_COUNTS, TYPICAL_COUNT, outcome_errors
from core.audit import Actor, record_event
from core.errors import IllegalState, NotFound
from core.models import AuditEvent
from core.roles import Action
from core.text import counted
from donors.models import Centre, Donor, Graft
from donors.services import require
from donors.workflow import Status
from imaging.selectors import refuse_while_images_unresolved

from . import selectors
from .content import report_content
from .models import IMPORTED_GIVEN_NAME, IMPORTED_MRN, PacsDestination, PacsSend, ReportVersion
from .tasks import render_report_pdf_task, send_to_pacs_task


def content_hash(content: dict) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# ---------------------------------------------------------------- issuing


def _queue_pdf(version_id: int) -> None:
    transaction.on_commit(lambda: render_report_pdf_task.delay(version_id))


def _not_final_reason(annotation: Annotation | None) -> str | None:
    if annotation is None:
        return "no biliary anatomy is recorded: the radiologist records it and marks it final first"
    if annotation.state != Annotation.State.FINAL:
        return (
            f"the biliary anatomy (revision {annotation.revision}) is a draft: the radiologist must mark "
            "it final before a report is issued"
        )
    return None


@transaction.atomic
def issue_report(*, actor: Actor, donor: Donor) -> ReportVersion:
    """Freeze the donor's report as the next version and queue its PDF.

    Refused (409) while the biliary anatomy is not final or not yet classified.
    """
    require(actor, Action.ISSUE_REPORT)
    # The donor row lock serialises issuing, so version numbers never collide.
    centre_id = actor.centre_id  # never None past `require`; no donor is without a centre
    locked = (
        Donor.objects.select_for_update(of=("self",)).filter(pk=donor.pk, centre_id=centre_id).first()
        if centre_id is not None
        else None
    )
    if locked is None:
        raise NotFound(f"no donor {donor.pk} in your centre")
    donor = Donor.objects.select_related("recipient", "centre").get(pk=locked.pk)
    annotation = Annotation.objects.filter(donor=donor).first()
    reason = _not_final_reason(annotation)
    if reason:
        raise IllegalState(f"cannot issue the report: {reason}", fields={"annotation": [reason]})
    refuse_while_images_unresolved(donor, cannot="issue the report")
    now = timezone.now()
    content = report_content(donor, now=now)
    biliary = content["biliary"]
    if biliary["run_id"] is None or not biliary["systems"]:
        message = "the final anatomy is not classified under the current rules yet; try again in a moment"
        raise IllegalState(f"cannot issue the report: {message}", fields={"annotation": [message]})
    number = (ReportVersion.objects.filter(donor=donor).aggregate(n=Max("number"))["n"] or 0) + 1
    mip_path = ""
    if biliary.get("mip"):
        mip_path, digest = _freeze_mip(donor, number, biliary["mip"]["series_id"])
        if mip_path:
            biliary["mip"]["sha256"] = digest
        else:
            biliary["mip"] = None
    content["versions"]["report_version"] = number
    content["issued"] = {
        "number": number,
        "by": actor.user.get_full_name().strip() or actor.user.username,
        "username": actor.user.username,
        "at": now.isoformat(),
    }
    version = ReportVersion.objects.create(
        donor=donor,
        number=number,
        content=content,
        content_sha256=content_hash(content),
        rules_version=biliary["rules_version"],
        annotation_revision=biliary["revision"],
        mip_path=mip_path,
        issued_by=actor.user,
        issued_at=now,
    )
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE,
        record=version,
        donor=donor,
        summary=f"issued suitability report version {number} (anatomy revision {biliary['revision']}, "
        f"rules {biliary['rules_version']})",
        changes={"number": number, "content_sha256": version.content_sha256},
    )
    _queue_pdf(version.pk)
    return version


def _freeze_mip(donor: Donor, number: int, series_id: int) -> tuple[str, str]:
    """Copy the MIP PNG beside the report, so the issued version keeps the picture it showed."""
    from imaging.selectors import reportable_series

    series = reportable_series(donor).filter(pk=series_id).first()
    if series is None or not series.mip_path:
        return "", ""
    try:
        with default_storage.open(series.mip_path, "rb") as handle:
            data = handle.read()
    except OSError:
        return "", ""
    name = default_storage.save(f"reports/donor-{donor.pk}/report-{number}-mip.png", ContentFile(data))
    return name, hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- the PDF (worker)


@transaction.atomic
def retry_pdf(*, actor: Actor, version: ReportVersion) -> ReportVersion:
    """Queue the PDF of a version whose rendering failed again (the content is unchanged)."""
    require(actor, Action.ISSUE_REPORT)
    version = ReportVersion.objects.select_for_update().get(pk=version.pk)
    if version.pdf_state != ReportVersion.PdfState.FAILED:
        raise IllegalState(f"the PDF is {version.get_pdf_state_display().lower()}; only a failed PDF is rendered again")
    changes = {
        "pdf_state": [version.pdf_state, ReportVersion.PdfState.PENDING.value],
        "pdf_error": [version.pdf_error, ""],
    }
    version.pdf_state = ReportVersion.PdfState.PENDING
    version.pdf_error = ""
    version.save(update_fields=["pdf_state", "pdf_error"])
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.UPDATE,
        record=version,
        donor=version.donor,
        summary=f"asked to render the PDF of report version {version.number} again",
        changes=changes,
    )
    _queue_pdf(version.pk)
    return version


# ---------------------------------------------------------------- sending to PACS


@transaction.atomic
def send_to_pacs(*, actor: Actor, version: ReportVersion) -> PacsSend:
    """Queue the C-STORE of an issued version (the anatomy's SR and the PDF) to the centre's PACS.

    Refused (409) while the PDF is not ready, when the centre has no PACS destination (or it is switched
    off), and while an earlier send of the version is still under way."""
    require(actor, Action.ISSUE_REPORT)
    version = ReportVersion.objects.select_for_update().select_related("donor__centre").get(pk=version.pk)
    if version.pdf_state != ReportVersion.PdfState.READY:
        reason = f"the PDF of report version {version.number} is {version.get_pdf_state_display().lower()}"
        raise IllegalState(f"cannot send to PACS: {reason}", fields={"pdf": [reason]})
    destination = _destination_or_refuse(version.donor)
    _refuse_while_sending(version.pacs_sends, field="version")
    return _queue_send(actor=actor, donor=version.donor, destination=destination, what={"version": version})


@transaction.atomic
def send_anatomy_to_pacs(*, actor: Actor, annotation: Annotation) -> PacsSend:
    """Queue the C-STORE of a final anatomy's SR alone to the centre's PACS, before any report is issued, so
    the radiologist's findings sit beside the MRCP images there.

    Only the radiologist who may mark an anatomy final sends it: sending puts the read in the hospital's
    record, as final as marking it so. Refused (409) while the anatomy is a draft, when the centre has no
    PACS destination, while the identity of the donor's images is unresolved or the anatomy names no stored
    MRCP series, and while an earlier send of the anatomy is still under way."""
    require(actor, Action.FINALISE_ANATOMY)
    annotation = Annotation.objects.select_for_update().select_related("donor__centre").get(pk=annotation.pk)
    donor = annotation.donor
    if annotation.state != Annotation.State.FINAL:
        reason = f"the biliary anatomy (revision {annotation.revision}) is a draft: mark it final before sending it"
        raise IllegalState(f"cannot send to PACS: {reason}", fields={"annotation": [reason]})
    destination = _destination_or_refuse(donor)
    refuse_while_images_unresolved(donor, cannot="send the biliary anatomy to PACS")
    if selectors.series_read_on(annotation) is None:
        reason = "the biliary anatomy names no stored MRCP series it was read on: record the series first"
        raise IllegalState(f"cannot send to PACS: {reason}", fields={"series": [reason]})
    _refuse_while_sending(annotation.pacs_sends, field="annotation")
    return _queue_send(
        actor=actor,
        donor=donor,
        destination=destination,
        what={"annotation": annotation, "annotation_revision": annotation.revision},
    )


def _destination_or_refuse(donor: Donor) -> PacsDestination:
    destination = selectors.pacs_destination_of(donor)
    if destination is None:
        reason = f"centre {donor.centre.name} has no PACS destination; an administrator sets one in the admin"
        raise IllegalState(f"cannot send to PACS: {reason}", fields={"destination": [reason]})
    return destination


def _refuse_while_sending(sends, *, field: str) -> None:
    """One send at a time of the same thing: a second would race the first to the same PACS study."""
    pending = sends.exclude(state__in=[PacsSend.State.SENT, PacsSend.State.FAILED]).first()
    if pending is not None:
        state = pending.get_state_display().lower()
        reason = f"the send requested at {pending.requested_at:%Y-%m-%d %H:%M} is still {state}"
        raise IllegalState(f"cannot send to PACS: {reason}", fields={field: [reason]})


def _queue_send(*, actor: Actor, donor: Donor, destination: PacsDestination, what: dict) -> PacsSend:
    """Record the send of `what` (the PacsSend fields naming it), audit the request and queue the worker."""
    send = PacsSend.objects.create(
        destination=str(destination),
        ae_title=destination.ae_title,
        host=destination.host,
        port=destination.port,
        requested_by=actor.user,
        **what,
    )
    changes: dict = {"destination": send.destination}
    if "annotation_revision" in what:
        changes["annotation_revision"] = what["annotation_revision"]
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE,
        record=send,
        donor=donor,
        summary=f"asked to send {send.subject} to PACS {send.destination}",
        changes=changes,
    )
    transaction.on_commit(lambda: send_to_pacs_task.delay(send.pk))
    return send


@transaction.atomic
def set_pacs_destination(
    *, actor: Actor, centre: Centre, ae_title: str, host: str, port: int, enabled: bool = True
) -> PacsDestination:
    """Set the centre's PACS destination (the admin's form calls this), audited with what changed."""
    fields = {"ae_title": ae_title, "host": host, "port": port, "enabled": enabled}
    destination = PacsDestination.objects.select_for_update().filter(centre=centre).first()
    before = {k: getattr(destination, k) for k in fields} if destination is not None else {}
    if destination is None:
        destination = PacsDestination(centre=centre)
    for name, value in fields.items():
        setattr(destination, name, value)
    destination.full_clean()
    destination.save()
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.UPDATE if before else AuditEvent.Kind.CREATE,
        record=destination,
        summary=f"set the PACS destination of centre {centre.name} to {destination}"
        + ("" if enabled else " (switched off)"),
        changes={k: [before.get(k), v] for k, v in fields.items() if before.get(k) != v},
        centre_id=centre.pk,
    )
    return destination


# ---------------------------------------------------------------- audit of reads


def record_report_read(*, actor: Actor, donor: Donor, what: str = "suitability report") -> None:
    record_event(actor=actor, kind=AuditEvent.Kind.READ, record=donor, summary=f"viewed {what}")


def record_version_read(*, actor: Actor, version: ReportVersion, what: str = "") -> None:
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.READ,
        record=version,
        donor=version.donor,
        summary=f"viewed {what + ' of ' if what else ''}issued suitability report version {version.number}",
    )


def record_pdf_download(*, actor: Actor, version: ReportVersion) -> None:
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.DOWNLOAD,
        record=version,
        donor=version.donor,
        summary=f"downloaded the PDF of suitability report version {version.number}",
        changes={"pdf_sha256": version.pdf_sha256},
    )


def record_cohort_download(*, actor: Actor, what: str) -> None:
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.DOWNLOAD,
        record_type="reports.Cohort",
        record_id=actor.centre_id or "",
        summary=f"downloaded {what}",
        centre_id=actor.centre_id,
    )


# ---------------------------------------------------------------- importing historical outcomes

HEADER = ("donor_code", "graft", "proposed_type", "anastomoses", "technique")
MAX_ROWS = 100_000


@dataclass
class ImportRow:
    line: int
    donor_code: str
    graft: str
    proposed_type: str
    anastomoses: int
    technique: str


@dataclass
class ImportResult:
    centre: Centre | None = None
    centre_created: bool = False
    rows: list[ImportRow] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    donors_created: int = 0
    outcomes_created: int = 0

    @property
    def ok(self) -> bool:
        return not self.refused


class ImportRefused(Exception):
    """The file was refused as a whole; `result.refused` lists every refused line and why."""

    def __init__(self, result: ImportResult):
        super().__init__(f"{len(result.refused)} row(s) refused; nothing imported")
        self.result = result


def centre_code_for(name: str) -> str:
    """A unique centre code derived from the name ("Study Cohort Centre" -> "study-cohort-centre")."""
    base = slugify(name)[:20].strip("-") or "centre"
    code, n = base, 2
    while Centre.objects.filter(code=code).exists():
        suffix = f"-{n}"
        code, n = base[: 20 - len(suffix)] + suffix, n + 1
    return code


def _canonical_technique(value: str) -> str | None:
    for name in TECHNIQUE_COUNTS:
        if name.lower() == value.strip().lower():
            return name
    return None


def parse_outcome_rows(text: str) -> tuple[list[ImportRow], list[tuple[int, str]]]:
    """Check every line of the CSV on its own; returns the good rows and (line, reason) for the rest."""
    rows: list[ImportRow] = []
    refused: list[tuple[int, str]] = []
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return [], [(1, "the file is empty: expected the header " + ",".join(HEADER))]
    if tuple(h.strip().lower() for h in header) != HEADER:
        return [], [(1, f"wrong header {','.join(header)!r}: expected {','.join(HEADER)}")]
    seen: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(rows) + len(refused) >= MAX_ROWS:
            refused.append((line, f"more than {MAX_ROWS} rows: split the file"))
            break
        if len(cells) != len(HEADER):
            refused.append((line, f"{len(cells)} fields, expected {len(HEADER)} ({','.join(HEADER)})"))
            continue
        code, graft, proposed_type, count_text, technique_text = (c.strip() for c in cells)
        reasons = _identity_reasons(code, graft, proposed_type, seen)
        anastomoses, technique = _parse_count_and_technique(count_text, technique_text, reasons)
        if code and code not in seen:
            seen[code] = line
        if reasons or anastomoses is None:  # no count always comes with a reason
            refused.append((line, "; ".join(reasons)))
        else:
            rows.append(ImportRow(line, code, graft, proposed_type, anastomoses, technique))
    return rows, refused


def _identity_reasons(code: str, graft: str, proposed_type: str, seen: dict[str, int]) -> list[str]:
    """What is wrong with a row's donor code, graft and proposed type."""
    reasons = []
    if not code:
        reasons.append("donor_code is empty")
    elif len(code) > 40:
        reasons.append("donor_code is longer than 40 characters")
    elif code in seen:
        reasons.append(f"duplicate donor_code {code!r} (first on line {seen[code]})")
    if graft not in Graft.values:
        reasons.append(f"unknown graft {graft!r} (one of: {', '.join(Graft.values)})")
    if proposed_type not in TYPICAL_COUNT:
        reasons.append(f"unknown proposed_type {proposed_type!r} (1, 2 or 3)")
    return reasons


def _parse_count_and_technique(count_text: str, technique_text: str, reasons: list[str]) -> tuple[int | None, str]:
    """A row's anastomosis count (None when it is not a whole number) and canonical technique;
    what is wrong with them is added to `reasons`."""
    anastomoses = None
    if not re.fullmatch(r"[0-9]+", count_text):
        reasons.append(f"anastomoses {count_text!r} is not a whole number")
    else:
        anastomoses = int(count_text)
        if not MIN_ANASTOMOSES <= anastomoses <= MAX_ANASTOMOSES:
            reasons.append(f"anastomoses {anastomoses} is impossible ({MIN_ANASTOMOSES} to {MAX_ANASTOMOSES})")
    technique = ""
    if technique_text:
        technique = _canonical_technique(technique_text) or ""
        if not technique:
            reasons.append(f"unknown technique {technique_text!r} (one of: {', '.join(TECHNIQUE_COUNTS)})")
        elif anastomoses is not None and MIN_ANASTOMOSES <= anastomoses <= MAX_ANASTOMOSES:
            errors = outcome_errors(anastomoses=anastomoses, technique=technique)
            if "technique" in errors:
                reasons.append(errors["technique"][0])
    return anastomoses, technique


def _known_donor_refusal(donor: Donor, row: ImportRow) -> str | None:
    """Why a row cannot give an outcome to a donor the centre already has, or None."""
    if getattr(donor, "surgical_outcome", None) is not None:
        return f"donor {row.donor_code} already has an outcome"
    if donor.status != Status.DONATED:
        return (
            f"donor {row.donor_code} is {Status(donor.status).label.lower()}, not "
            "donated: a known donor's operation is recorded by the surgeon after "
            "the team's decision, not imported"
        )
    if donor.planned_graft != row.graft:
        return f"donor {row.donor_code} is planned for {donor.planned_graft}, not {row.graft}"
    return None


@transaction.atomic
def import_outcomes(*, centre_name: str, text: str, source_name: str = "", actor: Actor | None = None) -> ImportResult:
    """Import historical outcomes into the named centre: all rows or none.

    Unknown donors are created as historical records: MRN "IMPORTED", given name "Imported",
    family name = the donor code, birth date, height and weight unknown (null), sex, ABO and
    relationship left empty, status donated. Raises ImportRefused,
    with every refused line, when any line is refused; nothing is written then.
    """
    result = ImportResult()
    result.rows, result.refused = parse_outcome_rows(text)
    centre_name = centre_name.strip()
    if not centre_name:
        result.refused.insert(0, (0, "the centre name is empty"))
        raise ImportRefused(result)
    centre = Centre.objects.filter(name=centre_name).first()
    codes = [row.donor_code for row in result.rows]
    existing: dict[str, Donor] = {}
    if centre is not None and codes:
        existing = {
            d.code: d for d in Donor.objects.filter(centre=centre, code__in=codes).select_related("surgical_outcome")
        }
    for row in result.rows:
        donor = existing.get(row.donor_code)
        reason = _known_donor_refusal(donor, row) if donor is not None else None
        if reason:
            result.refused.append((row.line, reason))
    if not result.rows and not result.refused:
        result.refused.append((2, "no rows to import"))
    if result.refused:
        result.refused.sort()
        raise ImportRefused(result)
    source = f" from {source_name}" if source_name else ""
    if centre is None:
        centre = Centre.objects.create(name=centre_name, code=centre_code_for(centre_name))
        result.centre_created = True
        record_event(
            actor=actor,
            kind=AuditEvent.Kind.CREATE,
            record=centre,
            centre_id=centre.pk,
            channel="command",
            summary=f"created centre {centre.name} ({centre.code}) importing outcomes{source}",
        )
    result.centre = centre
    for row in result.rows:
        donor = existing.get(row.donor_code)
        if donor is None:
            donor = Donor(
                centre=centre,
                code=row.donor_code,
                mrn=IMPORTED_MRN,
                given_name=IMPORTED_GIVEN_NAME,
                family_name=row.donor_code,
                date_of_birth=None,
                sex="",
                height_cm=None,
                weight_kg=None,
                abo="",
                relationship="",
                planned_graft=row.graft,
                status=Status.DONATED,
            )
            donor._history_user = actor.user if actor else None
            donor.save()
            result.donors_created += 1
            record_event(
                actor=actor,
                kind=AuditEvent.Kind.CREATE,
                record=donor,
                channel="command",
                summary=f"created imported donor {donor.code} (placeholder demographics){source}",
                changes={
                    "code": [None, donor.code],
                    "planned_graft": [None, row.graft],
                    "status": [None, "donated"],
                    "mrn": [None, IMPORTED_MRN],
                },
            )
        outcome = SurgicalOutcome(
            donor=donor,
            anastomoses=row.anastomoses,
            technique=row.technique,
            proposed_type=row.proposed_type,
            predicted_anastomoses=TYPICAL_COUNT[row.proposed_type],
            source=SurgicalOutcome.Source.IMPORTED,
            recorded_by=actor.user if actor else None,
        )
        outcome._history_user = actor.user if actor else None
        outcome.save()
        result.outcomes_created += 1
        record_event(
            actor=actor,
            kind=AuditEvent.Kind.CREATE,
            record=outcome,
            donor=donor,
            channel="command",
            summary=f"imported outcome{source} (line {row.line}): type {row.proposed_type}, "
            f"{counted(row.anastomoses, 'anastomosis', 'anastomoses')}{', ' + row.technique if row.technique else ''}",
            changes={
                "proposed_type": row.proposed_type,
                "anastomoses": row.anastomoses,
                "technique": row.technique,
                "predicted_anastomoses": outcome.predicted_anastomoses,
                "source": "imported",
            },
        )
    return result
