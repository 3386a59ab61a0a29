"""What a DICOMweb client may see: its centre's studies attached to a donor (matched or confirmed),
and the audit of what it searched and retrieved. Anything else is answered as not found."""

from __future__ import annotations

from django.db.models import QuerySet

from core.audit import Actor, record_reads
from core.errors import NotFound, NotPermitted
from core.roles import Action, may
from donors.services import actor_centre_id

from ..models import Instance, Series, Study
from ..selectors import record_image_read
from .protocol import Query

VISIBLE = (Study.Identity.MATCHED, Study.Identity.CONFIRMED)


def require_reader(actor: Actor) -> None:
    """People who may view images, and hospital systems that may send studies (a PACS reads back what it sent)."""
    if not (may(actor.roles, Action.VIEW_IMAGES) or may(actor.roles, Action.UPLOAD_IMAGES)):
        raise NotPermitted("your role may not read images")


def visible_studies(actor: Actor) -> QuerySet[Study]:
    require_reader(actor)
    return Study.objects.filter(centre_id=actor_centre_id(actor), donor__isnull=False, identity_state__in=VISIBLE)


def _study_filters(query: Query, prefix: str = "") -> dict:
    names = {"PatientID": "patient_id", "StudyInstanceUID": "study_instance_uid"}
    found = {f"{prefix}{names[k]}": v for k, v in query.filters.items() if k in names}
    if query.date_range:
        start, end = query.date_range
        if start:
            found[f"{prefix}study_date__gte"] = start
        if end:
            found[f"{prefix}study_date__lte"] = end
    if "ModalitiesInStudy" in query.filters:
        found[f"{prefix}series__modality"] = query.filters["ModalitiesInStudy"]
    return found


def _page(queryset, query: Query) -> list:
    end = query.offset + query.limit if query.limit else None
    return list(queryset[query.offset : end])


def search_studies(actor: Actor, query: Query) -> list[Study]:
    studies = (
        visible_studies(actor)
        .filter(**_study_filters(query))
        .distinct()
        .select_related("donor")
        .prefetch_related("series")
        .order_by("-study_date", "pk")
    )
    found = _page(studies, query)
    record_reads(
        actor=actor, donors=list({s.donor_id: s.donor for s in found}.values()), summary="searched studies by DICOMweb"
    )
    return found


def study_series(actor: Actor, study_uid: str) -> QuerySet[Series]:
    return Series.objects.filter(study__in=visible_studies(actor), study__study_instance_uid=study_uid)


def search_series(actor: Actor, study_uid: str, query: Query) -> list[Series]:
    series = study_series(actor, study_uid)
    if not series.exists():
        raise NotFound(f"no study {study_uid}")
    filters = {"study__" + k: v for k, v in _study_filters(query).items()}
    names = {"Modality": "modality", "SeriesInstanceUID": "series_instance_uid", "SeriesNumber": "series_number"}
    for key, column in names.items():
        if key in query.filters:
            filters[column] = query.filters[key]
    found = _page(
        series.filter(**filters).distinct().select_related("study__donor").order_by("series_number", "pk"), query
    )
    record_reads(
        actor=actor,
        donors=list({s.study.donor_id: s.study.donor for s in found}.values()),
        summary="searched series by DICOMweb",
    )
    return found


def instances_of(actor: Actor, study_uid: str, series_uid: str = "", instance_uid: str = "") -> QuerySet[Instance]:
    """The visible instances of a study (series, instance); NotFound when there are none."""
    instances = Instance.objects.filter(
        series__study__in=visible_studies(actor), series__study__study_instance_uid=study_uid
    )
    if series_uid:
        instances = instances.filter(series__series_instance_uid=series_uid)
    if instance_uid:
        instances = instances.filter(sop_instance_uid=instance_uid)
    instances = instances.select_related("series__study__donor").order_by(
        "series__series_number", "series_id", "slice_index", "pk"
    )
    if not instances.exists():
        what = instance_uid or series_uid or study_uid
        raise NotFound(f"no {'instance' if instance_uid else 'series' if series_uid else 'study'} {what}")
    return instances


def instance_of(actor: Actor, study_uid: str, series_uid: str, instance_uid: str) -> Instance:
    found = instances_of(actor, study_uid, series_uid, instance_uid).first()
    if found is None:  # pragma: no cover - instances_of has found it
        raise NotFound(f"no instance {instance_uid}")
    return found


def search_instances(actor: Actor, study_uid: str, series_uid: str, query: Query) -> list[Instance]:
    instances = instances_of(actor, study_uid, series_uid)
    filters = {"series__study__" + k: v for k, v in _study_filters(query).items()}
    names = {
        "Modality": "series__modality",
        "SeriesInstanceUID": "series__series_instance_uid",
        "SeriesNumber": "series__series_number",
        "SOPInstanceUID": "sop_instance_uid",
        "SOPClassUID": "sop_class_uid",
        "InstanceNumber": "instance_number",
    }
    for key, column in names.items():
        if key in query.filters:
            filters[column] = query.filters[key]
    found = _page(instances.filter(**filters).distinct(), query)
    record_reads(
        actor=actor,
        donors=list({i.series.study.donor_id: i.series.study.donor for i in found}.values()),
        summary="searched instances by DICOMweb",
    )
    return found


def record_retrieve(actor: Actor, instances: list[Instance], what: str) -> None:
    """A retrieve is a read of the donor's record: one (aggregated) event per series retrieved."""
    for series in {i.series_id: i.series for i in instances}.values():
        record_image_read(
            actor=actor, donor=series.study.donor, record=series, what=f"{what} of series {series.pk} by DICOMweb"
        )
