"""The viewer's edge markers, scale bar and saved measurements, its slice pictures, and the anatomy
editor's choice of the MRCP series the anatomy was read on (refused when not one of the donor's)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from classification import services as anatomy_services
from classification.models import Annotation
from classification.presets import preset_document
from core.audit import Actor
from core.models import AuditEvent
from imaging.models import Instance, Measurement, Series, Study
from tests.factories import DonorFactory
from tests.integration.imaging_support import as_uploads, phantom, upload

pytestmark = pytest.mark.django_db

CORONAL = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0]
AXIAL = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_series(
    donor,
    *,
    uid: str,
    description: str = "3D MRCP",
    orientation=CORONAL,
    spacing=(0.75, 0.75),
    slices: int = 3,
    mrcp: bool = True,
    identity: str = Study.Identity.MATCHED,
    study_date: str = "20240105",
) -> Series:
    study, _ = Study.objects.get_or_create(
        donor=donor,
        centre=donor.centre,
        study_instance_uid=uid,
        defaults={"description": "MRCP", "study_date": study_date, "identity_state": identity},
    )
    series = Series.objects.create(
        study=study,
        series_instance_uid=f"{uid}.{Series.objects.count() + 1}",
        series_number=Series.objects.count() + 1,
        description=description,
        modality="MR",
        is_mrcp=mrcp,
        instance_count=slices,
        rows=256,
        columns=256,
        pixel_spacing=list(spacing) if spacing else None,
    )
    for index in range(slices):
        Instance.objects.create(
            series=series,
            donor=donor,
            sop_instance_uid=f"{series.series_instance_uid}.{index}",
            slice_index=index,
            rows=256,
            columns=256,
            position=[0.0, float(index), 0.0],
            orientation=orientation,
            pixel_spacing=list(spacing) if spacing else None,
            file=f"missing/{index}.dcm",
        )
    return series


def viewer_config(client, series) -> dict:
    response = client.get(f"/imaging/series/{series.pk}/")
    assert response.status_code == 200
    return response.context["config"]


# ------------------------------------------------------------------ the viewer


def test_the_viewer_gives_the_markers_and_scale_of_a_coronal_series(make_user, donor):
    series = make_series(donor, uid="1.2.3.1", spacing=(0.78125, 0.78125))  # 256 x 0.78 = 200 mm
    overlay = viewer_config(page_client(make_user("radiologist")), series)["overlay"]
    assert overlay["slices"]["markers"] == {"top": "H", "bottom": "F", "left": "R", "right": "L"}
    assert overlay["slices"]["scale"] == {"mm": 50.0, "fraction": 0.25, "label": "50 mm"}
    assert overlay["slices"]["notes"] == []


def test_an_axial_series_reads_anterior_at_the_top(make_user, donor):
    series = make_series(donor, uid="1.2.3.2", orientation=AXIAL)
    overlay = viewer_config(page_client(make_user("radiologist")), series)["overlay"]
    assert overlay["slices"]["markers"] == {"top": "A", "bottom": "P", "left": "R", "right": "L"}


def test_no_scale_bar_and_a_note_without_pixel_spacing(make_user, donor):
    series = make_series(donor, uid="1.2.3.3", spacing=None)
    client = page_client(make_user("radiologist"))
    response = client.get(f"/imaging/series/{series.pk}/")
    slices = response.context["config"]["overlay"]["slices"]
    assert slices["scale"] is None
    assert slices["markers"] is not None
    assert slices["notes"] == ["No scale bar: the images carry no usable pixel spacing."]
    assert "No scale bar: the images carry no usable pixel spacing." in response.content.decode()


def test_no_scale_bar_for_an_implausible_spacing_and_no_markers_without_orientation(make_user, donor):
    series = make_series(donor, uid="1.2.3.4", spacing=(0.0, 0.0), orientation=[0, 0, 0, 0, 0, 0])
    slices = viewer_config(page_client(make_user("radiologist")), series)["overlay"]["slices"]
    assert slices["scale"] is None and slices["markers"] is None
    assert len(slices["notes"]) == 2


def test_the_viewer_hands_its_saved_measurements_to_the_page(make_user, donor):
    radiologist = make_user("radiologist")
    series = make_series(donor, uid="1.2.3.5")
    points = [{"slice": 1, "row": 10.0, "col": 12.0}, {"slice": 1, "row": 30.0, "col": 12.0}]
    Measurement.objects.create(
        donor=donor,
        series=series,
        kind="slices",
        points=points,
        patient_points=[[0, 0, 0], [0, 0, 15]],
        length_mm=15.04,
        label="RHD",
        created_by=radiologist,
    )
    config = viewer_config(page_client(radiologist), series)
    assert config["measurements"] == [{"label": "RHD", "lengthMm": 15.0, "kind": "slices", "points": points}]


def test_the_viewer_links_to_the_donors_anatomy(make_user, donor):
    series = make_series(donor, uid="1.2.3.6")
    body = page_client(make_user("radiologist")).get(f"/imaging/series/{series.pk}/").content.decode()
    assert f'href="/anatomy/donors/{donor.pk}/" data-testid="record-anatomy">Record the anatomy</a>' in body


def test_slice_pictures_are_kept_privately_and_read_in_few_queries(
    make_user, donor, tmp_path, settings, eager_tasks, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    radiologist = make_user("radiologist")
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user=radiologist)
    truth = phantom(tmp_path / "series", donor=donor, slices=12, size=64)
    upload(api, donor, as_uploads(truth.paths), django_capture_on_commit_callbacks)
    series = Series.objects.get(study__donor=donor)
    client = page_client(radiologist)
    with django_assert_max_num_queries(6):  # session, user, the slice with its series, the audit check (+ event)
        response = client.get(f"/imaging/series/{series.pk}/slices/3.png")
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    assert response["Cache-Control"] == "private, max-age=3600"
    again = client.get(f"/imaging/series/{series.pk}/slices/3.png", headers={"if-none-match": response["ETag"]})
    assert again.status_code == 304
    assert client.get(f"/imaging/series/{series.pk}/slices/{series.instance_count}.png").status_code == 404


def test_a_slice_of_another_centres_series_is_not_found_and_audited(make_user, donor, other_centre):
    foreign = make_series(DonorFactory(centre=other_centre), uid="9.9.9")
    response = page_client(make_user("radiologist")).get(f"/imaging/series/{foreign.pk}/slices/0.png")
    assert response.status_code == 404
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.DENIED, record_id=str(foreign.pk)).exists()


# ------------------------------------------------------------------ the anatomy's series


def post_anatomy(client, donor, **fields):
    annotation = Annotation.objects.filter(donor=donor).first()
    data = {
        "document": json.dumps(preset_document("typical_right_lobe")),
        "version": annotation.version if annotation else "",
    }
    data.update(fields)
    return client.post(f"/anatomy/donors/{donor.pk}/", data)


def test_the_editor_offers_the_donors_mrcp_series_only(make_user, donor):
    chosen = make_series(donor, uid="1.2.4.1", description="3D MRCP SPACE respiratory triggered", slices=160)
    make_series(donor, uid="1.2.4.1", description="T2 HASTE", mrcp=False)
    make_series(donor, uid="1.2.4.2", description="unresolved MRCP", identity=Study.Identity.UNRESOLVED)
    make_series(DonorFactory(centre=donor.centre), uid="1.2.4.3", description="other donor's MRCP")
    response = page_client(make_user("radiologist")).get(f"/anatomy/donors/{donor.pk}/")
    assert [s.pk for s in response.context["series_choices"]] == [chosen.pk]
    body = response.content.decode()
    assert f'<option value="{chosen.pk}">3D MRCP SPACE respiratory triggered · 2024-01-05 · 160 slices</option>' in body
    assert 'name="study_uid"' not in body  # no UID to type


def test_the_anatomy_records_the_chosen_series_and_links_to_it(make_user, donor, eager_tasks):
    older = make_series(donor, uid="1.2.5.1", study_date="20230101")
    newer = make_series(donor, uid="1.2.5.2", study_date="20240301")
    client = page_client(make_user("radiologist"))
    response = post_anatomy(client, donor, series=str(older.pk))
    assert response.status_code == 302
    annotation = Annotation.objects.get(donor=donor)
    assert annotation.study_uid == "1.2.5.1"
    page = client.get(f"/anatomy/donors/{donor.pk}/")
    assert page.context["read_on"] == older
    assert [s.pk for s in page.context["series_choices"]] == [newer.pk, older.pk]
    body = page.content.decode()
    assert f'<option value="{older.pk}" selected>' in body
    assert f'href="/imaging/series/{older.pk}/" data-testid="open-series"' in body

    # Saving again without choosing keeps the series; choosing another records its study.
    assert post_anatomy(client, donor, series="").status_code == 302
    assert Annotation.objects.get(donor=donor).study_uid == "1.2.5.1"
    assert post_anatomy(client, donor, series=str(newer.pk)).status_code == 302
    assert Annotation.objects.get(donor=donor).study_uid == "1.2.5.2"


def test_the_anatomy_records_which_series_of_a_study_it_was_read_on(make_user, donor, eager_tasks):
    first = make_series(donor, uid="1.2.7.1", description="3D MRCP coronal")
    second = make_series(donor, uid="1.2.7.1", description="3D MRCP axial")
    client = page_client(make_user("radiologist"))
    assert post_anatomy(client, donor, series=str(second.pk)).status_code == 302
    annotation = Annotation.objects.get(donor=donor)
    assert (annotation.study_uid, annotation.series_uid) == ("1.2.7.1", second.series_instance_uid)
    assert client.get(f"/anatomy/donors/{donor.pk}/").context["read_on"] == second

    assert post_anatomy(client, donor, series=str(first.pk)).status_code == 302
    annotation = Annotation.objects.get(donor=donor)
    assert annotation.series_uid == first.series_instance_uid
    change = AuditEvent.objects.filter(
        record_id=str(annotation.pk), summary__startswith="changed biliary anatomy"
    ).last()
    assert change.changes["series_uid"] == [second.series_instance_uid, first.series_instance_uid]


@pytest.mark.parametrize("which", ["other donor", "not mrcp", "unresolved", "missing", "not a number"])
def test_a_series_that_is_not_one_of_the_donors_mrcp_series_is_refused(make_user, donor, which):
    others = {
        "other donor": lambda: make_series(DonorFactory(centre=donor.centre), uid="1.2.6.1").pk,
        "not mrcp": lambda: make_series(donor, uid="1.2.6.2", mrcp=False).pk,
        "unresolved": lambda: make_series(donor, uid="1.2.6.3", identity=Study.Identity.UNRESOLVED).pk,
        "missing": lambda: 999999,
        "not a number": lambda: "1.2.6.4",
    }
    response = post_anatomy(page_client(make_user("radiologist")), donor, series=str(others[which]()))
    assert response.status_code == 400
    assert response.context["errors"] == {"series": ["not one of the donor's MRCP series: choose one from the list"]}
    assert not Annotation.objects.filter(donor=donor).exists()


def test_the_service_refuses_another_donors_series_and_keeps_the_study_uid_api(make_user, donor):
    radiologist = Actor(user=make_user("radiologist"), channel="page")
    foreign = make_series(DonorFactory(centre=donor.centre), uid="1.2.7.1")
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        anatomy_services.save_annotation(
            actor=radiologist, donor=donor, document=preset_document("typical_right_lobe"), series_id=foreign.pk
        )
    assert set(refused.value.fields) == {"series"}
    # The UID itself is still accepted as it was (the API's study_uid).
    saved = anatomy_services.save_annotation(
        actor=radiologist, donor=donor, document=preset_document("typical_right_lobe"), study_uid="1.2.7.9"
    )
    assert saved.study_uid == "1.2.7.9"
