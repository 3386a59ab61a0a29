"""Reads of the imaging app, scoped to the actor's centre, and the audit of image reads.

Another centre's upload, study, series or instance is answered as not found (its
existence is not disclosed) and the attempt is audited, as for donors.

Image reads are audited as reads of the donor's record, aggregated so that scrolling
through a series does not write an event per slice: one event per series (or upload)
per user per minute (`IMAGE_READ_AUDIT_SECONDS`). Viewer page loads and file downloads
are recorded every time.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from django.core.cache import cache
from django.db.models import Case, Q, QuerySet, Value, When
from django.utils import timezone

from core.audit import Actor, record_event, record_type_of
from core.errors import IllegalState, InvalidInput, NotFound
from core.models import AuditEvent
from core.roles import Action
from donors.models import Donor
from donors.services import actor_centre_id, record_refused_access, require

from .dicom import pixel_to_patient
from .dicom.display import MIP_MARKERS, edge_markers, scale_bar
from .models import DicomPeer, Instance, Measurement, Series, Study, TreeProposal, Upload
from .overlay_labels import LabelRequest, place_labels
from .rendering import load_mip_data
from .slices import SLICE_FIELDS, geometry_of, slice_at
from .tree_output import is_uncertain

IMAGE_READ_AUDIT_SECONDS = 60


def _scoped(actor: Actor, queryset: QuerySet, pk, action: Action, label: str, owner_path: str):
    """The record when the object at `owner_path` (a donor, or a study: it has a centre even when
    detached from its donor) is of the actor's centre."""
    require(actor, action)
    record = queryset.filter(pk=pk).first() if str(pk).isdigit() else None
    owner = owner_centre = None
    if record is not None:
        owner = record
        for part in filter(None, owner_path.split(".")):
            owner = getattr(owner, part)
        owner_centre = owner.centre_id
    if record is None or owner_centre != actor.centre_id:
        if record is not None:
            owner_donor_id = owner.pk if isinstance(owner, Donor) else getattr(owner, "donor_id", None)
            record_refused_access(
                actor=actor,
                record_type=record_type_of(queryset.model),
                record_id=pk,
                target_centre_id=owner_centre,
                donor_id=owner_donor_id,
            )
        raise NotFound(f"no {label} {pk} in your centre")
    return record


def upload_for(*, actor: Actor, pk, action: Action = Action.UPLOAD_IMAGES) -> Upload:
    return _scoped(actor, Upload.objects.select_related("donor"), pk, action, "upload", "")


def study_for(*, actor: Actor, pk, action: Action = Action.VIEW_IMAGES) -> Study:
    return _scoped(actor, Study.objects.select_related("donor"), pk, action, "study", "")


def series_for(*, actor: Actor, pk, action: Action = Action.VIEW_IMAGES) -> Series:
    return _scoped(actor, Series.objects.select_related("study__donor"), pk, action, "series", "study")


def slice_for(*, actor: Actor, series_pk: int, index: int) -> tuple[Instance, int]:
    """One slice of a series of the actor's centre: the instance holding it (with its series, study and
    donor, in one query: scrolling asks for every slice, so the series is not read again on its own for
    each) and the frame it is (0-based, in file order; 0 for a single-frame image)."""
    require(actor, Action.VIEW_IMAGES)
    instance = (
        Instance.objects.filter(series_id=series_pk, slice_index__lte=index)
        .select_related("series__study__donor")
        .order_by("-slice_index", "pk")
        .first()
        if index >= 0
        else None
    )
    if instance is None or instance.series.study.centre_id != actor.centre_id:
        series_for(actor=actor, pk=series_pk)  # another centre's series: refused and audited as such
        raise NotFound("no such slice")
    if index >= instance.slice_index + instance.frames:
        raise NotFound("no such slice")
    return instance, instance.slice_frames()[index - instance.slice_index]


def instance_for(*, actor: Actor, pk, action: Action = Action.VIEW_IMAGES) -> Instance:
    return _scoped(
        actor, Instance.objects.select_related("donor", "series__study"), pk, action, "image", "series.study"
    )


def studies_of(*, donor: Donor) -> list[Study]:
    studies = list(donor.studies.prefetch_related("series").order_by("-created_at", "-pk"))
    return studies


# ------------------------------------------------------------------ identity


def unmatched_studies(*, actor: Actor) -> list[Study]:
    """The centre's studies detached from a donor, waiting to be attached to the right one."""
    require(actor, Action.RESOLVE_IMAGE_IDENTITY)
    return list(
        Study.objects.filter(centre_id=actor_centre_id(actor), donor__isnull=True)
        .select_related("detached_from", "identity_acknowledged_by")
        .prefetch_related("series")
        .order_by("-identity_acknowledged_at", "-pk")
    )


def unresolved_series(donor: Donor) -> list[Series]:
    return list(
        Series.objects.filter(study__donor=donor, study__identity_state=Study.Identity.UNRESOLVED)
        .select_related("study")
        .order_by("study__created_at", "study_id", "series_number", "pk")
    )


def identity_blockers(donor: Donor) -> list[str]:
    """Why the donor's images may not be the donor's: one line per series whose identity is
    unresolved, naming what differs and who resolves it. Empty when nothing blocks."""
    blockers = []
    for series in unresolved_series(donor):
        what = "; ".join(line for line in series.study.identity_warning.splitlines() if line)
        name = series.description or series.series_instance_uid
        blockers.append(
            f"series '{name}' (study '{series.study}'): {what or 'identity not checked'}; "
            "a radiologist must confirm it is the donor's or detach it"
        )
    return blockers


def refuse_while_images_unresolved(donor: Donor, *, cannot: str) -> None:
    """Raise IllegalState (409) naming every unresolved series, e.g. cannot="mark the anatomy final".

    Finalising the anatomy, signing the decision and issuing a report all refuse while any series
    of the donor may not be the donor's."""
    blockers = identity_blockers(donor)
    if blockers:
        raise IllegalState(
            f"cannot {cannot}: the files of {len(blockers)} series may not be the donor's: " + "; ".join(blockers),
            fields={"images": blockers},
        )


def reportable_series(donor: Donor) -> QuerySet[Series]:
    """The donor's series whose images a report may show: matched or confirmed, never unresolved
    or detached."""
    return Series.objects.filter(
        study__donor=donor, study__identity_state__in=[Study.Identity.MATCHED, Study.Identity.CONFIRMED]
    )


def _mrcp_series_of(donor: Donor) -> QuerySet[Series]:
    return (
        reportable_series(donor)
        .filter(modality="MR")
        .filter(Q(mrcp_override=True) | Q(mrcp_override__isnull=True, is_mrcp=True))
        .select_related("study")
    )


def mrcp_series_of(donor: Donor) -> list[Series]:
    """The donor's MRCP series an anatomy may be read on (of matched or confirmed studies), newest first."""
    return list(_mrcp_series_of(donor).order_by("-study__study_date", "-study__created_at", "series_number", "pk"))


def donor_mrcp_series(*, donor: Donor, series_id, field: str = "series") -> Series:
    """The donor's MRCP series with this id; anything else (another donor's series, a series that is
    not MRCP or whose identity is unresolved, not a number) is refused naming `field`."""
    found = _mrcp_series_of(donor).filter(pk=series_id).first() if str(series_id).isdigit() else None
    if found is None:
        reason = "not one of the donor's MRCP series: choose one from the list"
        raise InvalidInput(f"{field}: {reason}", fields={field: [reason]})
    return found


def mrcp_mip_series(*, donor: Donor, study_uid: str = "") -> Series | None:
    """The series whose MIP the donor's report shows: a rendered MRCP of a matched or confirmed study
    (the annotated study's first), or None."""
    candidates = (
        reportable_series(donor)
        .filter(render_state=Series.Render.DONE, modality="MR")
        .filter(Q(mrcp_override=True) | Q(mrcp_override__isnull=True, is_mrcp=True))
        .exclude(mip_path="")
        .select_related("study")
        .order_by("-study__created_at", "series_number", "pk")
    )
    found = list(candidates[:20])
    for series in found:
        if study_uid and series.study.study_instance_uid == study_uid:
            return series
    return found[0] if found else None


def viewer_overlay(series: Series) -> dict[str, dict]:
    """What the viewer draws on the slices and on the MIP: the patient direction at each edge, a scale
    bar, and why either is missing. The slices' geometry is read from the middle slice."""
    found = slice_at(series, max(series.slice_count - 1, 0) // 2)
    middle = found[0] if found else None
    markers = edge_markers(middle.orientation) if middle else None
    bar = scale_bar(middle.pixel_spacing, middle.columns) if middle else None
    slices = {
        "markers": markers.as_dict() if markers else None,
        "scale": bar.as_dict() if bar else None,
        "notes": [
            note
            for missing, note in (
                (markers is None, "No orientation markers: the images carry no usable orientation."),
                (bar is None, "No scale bar: the images carry no usable pixel spacing."),
            )
            if missing
        ],
    }
    mip_bar = scale_bar(series.mip_spacing, series.mip_shape[1]) if series.mip_path and series.mip_shape else None
    mip = {
        "markers": MIP_MARKERS.as_dict(),
        "scale": mip_bar.as_dict() if mip_bar else None,
        "notes": [] if mip_bar else ["No scale bar: the MIP has no usable pixel spacing."],
    }
    return {"slices": slices, "mip": mip}


def why_not_measurable(series: Series) -> str:
    """Why distances cannot be measured on this series (empty when they can), said before anyone tries.

    The same rule as measuring itself: every point needs its slice's position, orientation and
    Pixel Spacing. A slice lacking one is found by a query, not by reading the files.
    """
    instances = series.instances.all()
    if instances.filter(Q(position__isnull=True) | Q(orientation__isnull=True)).exists():
        return "Distances cannot be measured on this series: some images carry no position or orientation."
    if instances.filter(pixel_spacing__isnull=True).exists():
        return "Distances cannot be measured on this series: its images carry no usable Pixel Spacing (0028,0030)."
    return ""


def uploads_of(*, donor: Donor, limit: int = 10) -> list[Upload]:
    return list(donor.image_uploads.select_related("uploaded_by").order_by("-created_at", "-pk")[:limit])


def measurements_of(*, donor: Donor, series: Series | None = None) -> QuerySet[Measurement]:
    measurements = Measurement.objects.filter(donor=donor).select_related("series", "created_by")
    if series is not None:
        measurements = measurements.filter(series=series)
    return measurements.order_by("-created_at", "-pk")


def upload_series(upload: Upload) -> list[Series]:
    ids = set(upload.files.exclude(series__isnull=True).values_list("series_id", flat=True))
    return list(Series.objects.filter(pk__in=ids).select_related("study").order_by("series_number", "pk"))


def record_image_read(*, actor: Actor, donor: Donor | None, record, what: str) -> bool:
    """Record a read of images, at most once per record per user per minute. True if recorded.

    Scrolling asks for a picture per slice: when this reader's last event for the record is known
    (from the cache) to be less than a minute old, the audit table is not searched again."""
    window = timedelta(seconds=IMAGE_READ_AUDIT_SECONDS)
    now = timezone.now()
    record_type = record_type_of(record)
    reader = f"user-{actor.user.pk}" if actor.user is not None else f"client-{getattr(actor.api_client, 'pk', '')}"
    key = f"image-read-audited:{reader}:{record_type}:{record.pk}"
    last = cache.get(key)
    if last is not None and now - last < window:
        return False
    last = (
        AuditEvent.objects.filter(
            user=actor.user,
            kind=AuditEvent.Kind.READ,
            record_type=record_type,
            record_id=str(record.pk),
            at__gte=now - window,
        )
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    if last is not None:
        cache.set(key, last, timeout=max(1, int((last + window - now).total_seconds())))
        return False
    event = record_event(
        actor=actor,
        kind=AuditEvent.Kind.READ,
        record=record,
        donor=donor,
        summary=f"viewed {what} (further reads within {IMAGE_READ_AUDIT_SECONDS} s not recorded)"[:300],
    )
    cache.set(key, event.at, timeout=IMAGE_READ_AUDIT_SECONDS)
    return True


def record_download(*, actor: Actor, donor: Donor | None, record, what: str) -> None:
    record_event(
        actor=actor, kind=AuditEvent.Kind.DOWNLOAD, record=record, donor=donor, summary=f"downloaded {what}"[:300]
    )


def record_series_read(*, actor: Actor, series: Series, what: str) -> None:
    """A read of a series' page: a read of its donor's record, or of an unmatched study of the centre."""
    study = series.study
    if study.donor is not None:
        record_event(actor=actor, kind=AuditEvent.Kind.READ, record=study.donor, summary=f"viewed {what}")
    else:
        record_event(
            actor=actor,
            kind=AuditEvent.Kind.READ,
            record=study,
            centre_id=study.centre_id,
            summary=f"viewed {what} (unmatched study)"[:300],
        )


def record_unmatched_list_read(*, actor: Actor, count: int) -> None:
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.READ,
        record_type="imaging.Study",
        centre_id=actor.centre_id,
        summary=f"viewed the centre's unmatched studies ({count})",
    )


def donor_to_attach(*, actor: Actor, code: str) -> Donor:
    """The donor of the actor's centre with this code, for attaching an unmatched study."""
    require(actor, Action.RESOLVE_IMAGE_IDENTITY)
    code = (code or "").strip()
    donor = Donor.objects.filter(centre_id=actor_centre_id(actor), code=code).first() if code else None
    if donor is None:
        reason = f"no donor '{code}' in your centre" if code else "give the donor's code"
        raise InvalidInput(f"donor: {reason}", fields={"donor": [reason]})
    return donor


def dicom_peers_of(*, actor: Actor) -> list[DicomPeer]:
    """The systems allowed to send studies to the DICOM node for the actor's centre; the list is audited."""
    require(actor, Action.UPLOAD_IMAGES)
    peers = list(DicomPeer.objects.filter(centre_id=actor_centre_id(actor)).order_by("ae_title"))
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.LIST,
        record_type="imaging.DicomPeer",
        centre_id=actor.centre_id,
        summary=f"listed the centre's DICOM peers ({len(peers)})",
    )
    return peers


# ------------------------------------------------------------------ the proposed duct tree


def tree_proposal_for(*, actor: Actor, pk, action: Action = Action.VIEW_IMAGES) -> TreeProposal:
    """A tree proposal of a series of the actor's centre."""
    return _scoped(
        actor, TreeProposal.objects.select_related("series__study__donor"), pk, action, "tree proposal", "series.study"
    )


def current_tree_proposal(*, series: Series, graft: str) -> TreeProposal | None:
    """The series' current proposal for the graft (queued, being made, ready or failed), or None."""
    return TreeProposal.objects.filter(series=series, graft=graft, current=True).select_related("series").first()


def donor_tree_proposal(*, donor: Donor, series: Series | None = None) -> TreeProposal | None:
    """The donor's current proposal for the planned graft: of ``series`` when given, else of the newest
    MRCP series (of a matched or confirmed study) that has one."""
    proposals = TreeProposal.objects.filter(
        current=True, graft=donor.planned_graft, series__in=_mrcp_series_of(donor)
    ).select_related("series__study")
    if series is not None:
        proposals = proposals.filter(series=series)
    return proposals.order_by("-created_at", "-pk").first()


def donor_tree_proposal_to_show(*, donor: Donor, series: Series | None = None) -> TreeProposal | None:
    """The proposal the anatomy page shows, in one query: the donor's current one for the planned graft
    (as ``donor_tree_proposal``), else the newest made for a graft planned before, which can no longer
    be taken (its ``graft`` says so)."""
    proposals = TreeProposal.objects.filter(current=True, series__in=_mrcp_series_of(donor)).select_related(
        "series__study"
    )
    if series is not None:
        proposals = proposals.filter(series=series)
    planned_first = Case(When(graft=donor.planned_graft, then=Value(0)), default=Value(1))
    return proposals.order_by(planned_first, "-created_at", "-pk").first()


def tree_overlay(proposal: TreeProposal) -> dict:
    """The proposal's centre-lines drawn on the series' MIP: the picture's size in mm (in pixels when its
    spacing is unknown) and, for each duct, its points in those units (and as MIP rows and columns,
    ``mip_points``), where its label goes, its length and whether it is uncertain. No ducts when the
    proposal is not ready or the series has no MIP.

    Every MIP pixel remembers the slice, row and column its maximum came from, hence a patient point;
    the MIP's rows and columns are a linear function of the patient point (the projection only drops
    the depth), found by least squares over a grid of MIP pixels."""
    series = proposal.series
    empty = {"width": 0, "height": 0, "ducts": [], "font": 0}
    if proposal.state != TreeProposal.State.READY or not series.mip_data_path or not series.mip_shape:
        return empty
    mapping = _mip_mapping(series)
    if mapping is None:
        return empty
    rows, cols = series.mip_shape
    row_mm, col_mm = series.mip_spacing or (1.0, 1.0)
    lengths = {d["id"]: d.get("length_mm") for d in (proposal.document or {}).get("ducts", [])}
    ducts = []
    for duct_id, points in (proposal.centrelines or {}).items():
        if not points:
            continue
        patient = np.asarray(points, dtype=float)
        projected = np.column_stack([patient, np.ones(len(patient))]) @ mapping  # (row, col) on the MIP
        # A pixel's centre is half a pixel in from its edge; the picture spans the MIP's whole pixels.
        xy = [(round((float(c) + 0.5) * col_mm, 1), round((float(r) + 0.5) * row_mm, 1)) for r, c in projected]
        confidence = (proposal.duct_confidence or {}).get(duct_id)
        junction = (proposal.junction_confidence or {}).get(duct_id)
        ducts.append(
            {
                "id": duct_id,
                "points": " ".join(f"{x},{y}" for x, y in xy),
                "xy": xy,
                "mip_points": [[round(float(r), 1), round(float(c), 1)] for r, c in projected],
                "length_mm": lengths.get(duct_id),
                "low_confidence": duct_id != "CHD" and is_uncertain(confidence, junction),
            }
        )
    width, height = round(cols * col_mm, 1), round(rows * row_mm, 1)
    font = round(max(width, height) / 60, 1)
    # Labels go outwards from the CHD and along their ducts until they cover no other label.
    chd = next((d for d in ducts if d["id"] == "CHD"), None)
    centre_x = chd["xy"][len(chd["xy"]) // 2][0] if chd else width / 2
    placements = place_labels(
        [LabelRequest(d["id"], tree_label_text(d), d.pop("xy")) for d in ducts],
        width=width,
        height=height,
        font=font,
        centre_x=centre_x,
    )
    for duct in ducts:
        spot = placements[duct["id"]]
        duct.update(
            label=tree_label_text(duct),
            label_x=spot.x,
            label_y=spot.y,
            label_anchor=spot.anchor,
            # The same spot as a MIP row and column, for the viewer (which draws in the picture's pixels).
            label_mip=[round(spot.y / row_mm - 0.5, 2), round(spot.x / col_mm - 0.5, 2)],
        )
    return {"width": width, "height": height, "ducts": ducts, "font": font}


def tree_label_text(duct: dict) -> str:
    """A duct's label on the MIP: its name, its length and, when uncertain, that it is."""
    length = f" {duct['length_mm']:.1f} mm" if duct.get("length_mm") is not None else ""
    return f"{duct['id']}{length}{' (uncertain)' if duct['low_confidence'] else ''}"


def _mip_mapping(series: Series) -> np.ndarray | None:
    try:
        data = load_mip_data(series)
    except (FileNotFoundError, OSError):
        return None
    rows, cols = data["image"].shape
    grid_r, grid_c = np.meshgrid(
        np.linspace(0, rows - 1, min(rows, 24)).round().astype(int),
        np.linspace(0, cols - 1, min(cols, 24)).round().astype(int),
        indexing="ij",
    )
    grid_r, grid_c = grid_r.ravel(), grid_c.ravel()
    instances = list(series.instances.only(*SLICE_FIELDS).order_by("slice_index", "pk"))
    planes = [geometry_of(i, f) for i in instances for f in i.slice_frames()]
    patient, targets = [], []
    for r, c in zip(grid_r, grid_c, strict=True):
        index = int(data["slice_index"][r, c])
        plane = planes[index] if 0 <= index < len(planes) else None
        if plane is None:
            continue
        point = pixel_to_patient(plane, float(data["row_index"][r, c]), float(data["col_index"][r, c]))
        patient.append([*point, 1.0])
        targets.append([r, c])
    if len(patient) < 4:
        return None
    solution, *_ = np.linalg.lstsq(np.asarray(patient), np.asarray(targets, dtype=float), rcond=None)
    return solution
