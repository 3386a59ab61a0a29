"""insert_rows writes exactly what bulk_create writes (COPY on PostgreSQL), awkward values included."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from imaging.bulk import insert_rows
from imaging.models import Instance, Measurement, Series, Study, Upload, UploadFile
from tests.factories import DonorFactory

pytestmark = pytest.mark.django_db

AWKWARD_TEXT = [
    "plain",
    "",
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    "\\.",
    "ünïcødé ✓",
    "ends with backslash\\",
]


@pytest.fixture
def series(centre):
    donor = DonorFactory(centre=centre)
    study = Study.objects.create(donor=donor, centre=donor.centre, study_instance_uid="1.2.3")
    return Series.objects.create(study=study, series_instance_uid="1.2.3.4")


def _columns(model, row):
    return {
        f.attname: getattr(row, f.attname) for f in model._meta.concrete_fields if f.attname not in ("id", "created_at")
    }


def _report_lines(upload, tag):
    return [
        UploadFile(
            upload=upload,
            name=f"{tag}-{i}-{text}",
            size=i,
            outcome="rejected",
            reason=text,
            warnings=[text, {"nested": text, "n": i, "none": None}],
            sop_instance_uid="" if i % 2 else "1.2",
        )
        for i, text in enumerate(AWKWARD_TEXT)
    ]


def test_report_lines_round_trip_like_bulk_create(series):
    upload = Upload.objects.create(donor=series.study.donor)
    insert_rows(_report_lines(upload, "copied"))
    UploadFile.objects.bulk_create(_report_lines(upload, "created"))
    copied = UploadFile.objects.filter(name__startswith="copied").order_by("size")
    created = UploadFile.objects.filter(name__startswith="created").order_by("size")
    assert len(copied) == len(AWKWARD_TEXT)
    for a, b in zip(copied, created, strict=True):
        expected = _columns(UploadFile, b) | {"name": b.name.replace("created", "copied", 1)}
        assert _columns(UploadFile, a) == expected
        assert a.created_at is not None


def test_instances_with_nulls_and_special_floats_round_trip_like_bulk_create(series):
    donor = series.study.donor

    def instances(prefix):
        return [
            Instance(
                series=series,
                donor=donor,
                sop_instance_uid=f"{prefix}.1",
                rows=2,
                columns=3,
                position=[1.5, -2.25, 1e-7],
                orientation=None,
                slice_thickness=float("nan"),
                depth=None,
                window=[40.0, 400.0],
                instance_number=-3,
                file="a/b.dcm",
                file_size=2**40,
            ),
            Instance(
                series=series,
                donor=donor,
                sop_instance_uid=f"{prefix}.2",
                rows=2,
                columns=3,
                slice_thickness=float("inf"),
                depth=-0.1,
            ),
        ]

    insert_rows(instances("1"))
    Instance.objects.bulk_create(instances("2"))
    rows = {i.sop_instance_uid: _columns(Instance, i) for i in Instance.objects.all()}
    for n in (1, 2):
        copied, created = rows[f"1.{n}"], rows[f"2.{n}"] | {"sop_instance_uid": f"1.{n}"}
        assert repr(copied) == repr(created)  # repr: NaN equals NaN
    first = Instance.objects.get(sop_instance_uid="1.1")
    assert first.position == [1.5, -2.25, 1e-7] and first.orientation is None and first.depth is None
    assert (first.instance_number, first.file, first.file_size, first.frames) == (-3, "a/b.dcm", 2**40, 1)


def test_a_duplicate_is_an_integrity_error_and_the_batch_leaves_nothing(series):
    donor = series.study.donor
    Instance.objects.create(series=series, donor=donor, sop_instance_uid="9.9", rows=1, columns=1)
    batch = [Instance(series=series, donor=donor, sop_instance_uid=uid, rows=1, columns=1) for uid in ("9.8", "9.9")]
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(batch)
    assert list(Instance.objects.values_list("sop_instance_uid", flat=True)) == ["9.9"]


def test_models_with_a_history_are_refused(series, make_user):
    measurement = Measurement(
        donor=series.study.donor,
        series=series,
        kind="mip",
        points=[],
        patient_points=[],
        length_mm=1.0,
        created_by=make_user("radiologist"),
    )
    with pytest.raises(TypeError, match="keeps a history"):
        insert_rows([measurement])
    assert not Measurement.objects.exists()


def test_rows_that_exist_already_are_refused(series):
    upload = Upload.objects.create(donor=series.study.donor)
    line = UploadFile.objects.create(upload=upload, name="a", outcome="rejected")
    with pytest.raises(TypeError, match="new rows only"):
        insert_rows([line])
    with pytest.raises(TypeError, match="one model at a time"):
        insert_rows([UploadFile(upload=upload, name="b", outcome="rejected"), Upload(donor=series.study.donor)])
    assert list(UploadFile.objects.values_list("name", flat=True)) == ["a"]
