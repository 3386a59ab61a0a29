"""Annotations through the API and the services: validation, classification runs, finalising,
outcomes and the local update of the prediction."""

import datetime
import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from classification.document import RULES_VERSION
from classification.models import Annotation, ClassificationResult, ClassificationRun, SurgicalOutcome
from classification.presets import preset_document
from core.models import AuditEvent
from tests.conftest import anatomy_case
from tests.factories import DonorFactory, accept_donor

pytestmark = pytest.mark.django_db


@pytest.fixture
def radiologist_api(make_user):
    client = APIClient()
    client.force_authenticate(make_user("radiologist"))
    return client


@pytest.fixture
def surgeon_api(make_user):
    client = APIClient()
    client.force_authenticate(make_user("surgeon"))
    return client


def typical(rhd_mm=7):
    document = preset_document("typical_right_lobe")
    for duct in document["ducts"]:
        if duct["id"] == "RHD":
            duct["length_mm"] = rhd_mm
    return document


def create(api, donor, document, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/annotations/", {"donor": donor.pk, "document": document}, format="json")
    return response


def test_saving_classifies_and_stores_one_result_per_system(
    radiologist_api, donor, eager_tasks, django_capture_on_commit_callbacks
):
    response = create(radiologist_api, donor, typical(), django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    annotation = Annotation.objects.get(donor=donor)
    assert annotation.classification == "done" and annotation.state == "draft"
    run = ClassificationRun.objects.get(annotation=annotation)
    assert run.rules_version == RULES_VERSION and run.anatomy == typical()
    assert sorted(run.results.values_list("system", flat=True)) == sorted(
        ["proposed", "couinaud", "huang", "choi", "karakas", "ohkubo"]
    )
    assert run.results.get(system="proposed").type == "1"
    assert run.prediction["anastomoses"] == 1
    body = radiologist_api.get(f"/api/v1/annotations/{annotation.pk}/").json()
    assert body["current_run"]["results"]["proposed"]["exits"] == ["RHD"]
    assert AuditEvent.objects.filter(kind="create", record_type="classification.ClassificationRun").count() == 1


def test_a_changed_annotation_makes_new_results_and_keeps_the_old(
    radiologist_api, donor, eager_tasks, django_capture_on_commit_callbacks
):
    create(radiologist_api, donor, typical(7), django_capture_on_commit_callbacks)
    annotation = Annotation.objects.get(donor=donor)
    with django_capture_on_commit_callbacks(execute=True):
        response = radiologist_api.put(
            f"/api/v1/annotations/{annotation.pk}/",
            {"document": typical(4), "version": annotation.version},
            format="json",
        )
    assert response.status_code == 200, response.content
    runs = radiologist_api.get(f"/api/v1/annotations/{annotation.pk}/results/").json()
    assert [run["results"]["proposed"]["type"] for run in runs] == ["2", "1"]
    assert [run["revision"] for run in runs] == [2, 1]
    assert response.json()["classification"] == "pending"  # answered before the task ran
    current = radiologist_api.get(f"/api/v1/annotations/{annotation.pk}/").json()["current_run"]
    assert current["results"]["proposed"]["type"] == "2"


def test_classifying_twice_stores_nothing_new(
    donor, make_user, actor_for, eager_tasks, django_capture_on_commit_callbacks
):
    from classification import jobs, services

    with django_capture_on_commit_callbacks(execute=True):
        annotation = services.save_annotation(
            actor=actor_for(make_user("radiologist")), donor=donor, document=typical()
        )
    before = (ClassificationRun.objects.count(), ClassificationResult.objects.count(), AuditEvent.objects.count())
    assert jobs.classify_annotation(annotation_id=annotation.pk) is None
    assert (
        ClassificationRun.objects.count(),
        ClassificationResult.objects.count(),
        AuditEvent.objects.count(),
    ) == before


@pytest.mark.parametrize(
    "mutate,field,fragment",
    [
        (lambda d: d["ducts"][0].update(drains_into="RHX"), "RAHD.drains_into", "unknown duct 'RHX'"),
        (lambda d: next(x for x in d["ducts"] if x["id"] == "RHD").pop("length_mm"), "RHD.length_mm", "needed"),
        (lambda d: next(x for x in d["ducts"] if x["id"] == "RHD").update(length_mm=-3), "RHD.length_mm", ""),
        (lambda d: next(x for x in d["ducts"] if x["id"] == "RHD").update(length_mm=900), "RHD.length_mm", ""),
        (lambda d: d.update(graft="left_lobe"), "document.graft", "not the donor's planned graft"),
        (lambda d: d.pop("ducts"), "document.ducts", ""),
        (
            lambda d: next(x for x in d["ducts"] if x["id"] == "RPHD").update(junction_mm=7.5),
            "RPHD.junction_mm",
            "7.5 mm is beyond the end of RHD (RHD.length_mm is 7 mm)",
        ),
    ],
)
def test_bad_anatomy_is_refused_per_field_and_nothing_stored(
    radiologist_api, donor, mutate, field, fragment, eager_tasks, django_capture_on_commit_callbacks
):
    document = typical()
    mutate(document)
    response = create(radiologist_api, donor, document, django_capture_on_commit_callbacks)
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert field in fields, fields
    assert fragment in " ".join(fields[field])
    assert not Annotation.objects.exists() and not ClassificationRun.objects.exists()


def test_loops_are_refused(radiologist_api, donor, eager_tasks, django_capture_on_commit_callbacks):
    document = typical()
    for duct in document["ducts"]:
        if duct["id"] == "LHD":
            duct["drains_into"] = "B23"
    response = create(radiologist_api, donor, document, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert "loop" in response.json()["error"]["message"].lower() or any(
        "loop" in " ".join(reasons) for reasons in response.json()["error"]["fields"].values()
    )


def test_not_json_body_is_a_clear_400(radiologist_api):
    response = radiologist_api.post("/api/v1/classify/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]


def test_huge_number_is_a_clear_400(radiologist_api):
    body = json.dumps(typical()).replace('"length_mm": 7}', '"length_mm": ' + "7" * 5000 + "}")
    response = radiologist_api.post("/api/v1/classify/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_anatomy_page_refuses_a_huge_number_by_its_field(make_user, donor):
    client = Client()
    client.force_login(make_user("radiologist"))
    text = json.dumps(typical()).replace('"length_mm": 7}', '"length_mm": ' + "7" * 5000 + "}")
    response = client.post(f"/anatomy/donors/{donor.pk}/", {"document": text})
    assert response.status_code == 400
    assert response.context["errors"] == {
        "RHD.length_mm": ["must be between 0 and 200 mm (got a number 5000 characters long)"]
    }
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("case", ["typical_rl_rhd_7mm", "three_right_ducts", "rphd_to_cystic", "missing_rhd_length"])
def test_stateless_classify_returns_the_result_document(radiologist_api, case):
    data = anatomy_case(case)
    response = radiologist_api.post("/api/v1/classify/", data["anatomy"], format="json")
    body = response.json()
    assert response.status_code == (200 if data["expected"]["valid"] else 400)
    assert body["valid"] == data["expected"]["valid"]
    assert body["errors"] == data["expected"]["errors"]
    if body["valid"]:
        for system, expected in data["expected"]["results"].items():
            for key, value in expected.items():
                assert body["results"][system][key] == value
        assert body["prediction"]["anastomoses"] == data["expected"]["prediction"]["anastomoses"]
    assert not Annotation.objects.exists()


def test_classify_can_include_the_diagram(radiologist_api):
    body = radiologist_api.post("/api/v1/classify/?include=diagram", typical(), format="json").json()
    assert body["diagram_svg"].startswith("<svg")


def finalise(api, annotation):
    annotation.refresh_from_db()
    return api.post(f"/api/v1/annotations/{annotation.pk}/finalise/", {"version": annotation.version}, format="json")


def test_finalise_then_surgeon_records_outcome_and_it_feeds_the_prediction(
    radiologist_api, surgeon_api, centre, eager_tasks, django_capture_on_commit_callbacks
):
    donors = [DonorFactory(centre=centre) for _ in range(3)]
    for donor in donors:
        create(radiologist_api, donor, typical(7), django_capture_on_commit_callbacks)
    first = Annotation.objects.get(donor=donors[0])
    # Not final yet: no outcome can be recorded.
    refused = surgeon_api.post(f"/api/v1/donors/{donors[0].pk}/outcome/", {"anastomoses": 1}, format="json")
    assert refused.status_code == 409 and "not final" in refused.json()["error"]["message"]
    for donor in donors:
        assert finalise(radiologist_api, Annotation.objects.get(donor=donor)).status_code == 200
    worklist = surgeon_api.get("/api/v1/surgical-worklist/").json()
    assert [row["donor_code"] for row in worklist] == sorted(d.code for d in donors)
    before = worklist[0]["prediction"]["probability"]
    assert (before["prior_matched"], before["prior_cases"], before["local_cases"]) == (30, 36, 0)
    # (1 + 30) / (2 + 36) = 0.8158
    assert before["value"] == pytest.approx(31 / 38)

    accept_donor(donors[0])
    ok = surgeon_api.post(
        f"/api/v1/donors/{donors[0].pk}/outcome/",
        {
            "operated_on": str(datetime.date.today()),
            "anastomoses": 2,
            "technique": "double end-to-end",
            "ductoplasty": False,
            "complications": "bile leak day 5",
        },
        format="json",
    )
    assert ok.status_code == 201, ok.content
    assert ok.json()["predicted_anastomoses"] == 1 and ok.json()["proposed_type"] == "1"
    after = surgeon_api.get("/api/v1/surgical-worklist/").json()[1]["prediction"]["probability"]
    # One local type-1 donor who needed two: (1 + 30 + 0) / (2 + 36 + 1) = 31/39
    assert (after["local_cases"], after["local_matched"]) == (1, 0)
    assert after["value"] == pytest.approx(31 / 39)
    assert first.pk  # the first donor's anatomy stays as it was
    assert SurgicalOutcome.objects.get(donor=donors[0]).source == "recorded"


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"anastomoses": 0}, "anastomoses"),
        ({"anastomoses": 9}, "anastomoses"),
        ({"anastomoses": 1, "technique": "double Roux-en-Y"}, "technique"),
        ({"anastomoses": 2, "technique": "stapled"}, "technique"),
    ],
)
def test_impossible_outcomes_are_refused(
    radiologist_api, surgeon_api, donor, payload, field, eager_tasks, django_capture_on_commit_callbacks
):
    create(radiologist_api, donor, typical(), django_capture_on_commit_callbacks)
    finalise(radiologist_api, Annotation.objects.get(donor=donor))
    response = surgeon_api.post(f"/api/v1/donors/{donor.pk}/outcome/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not SurgicalOutcome.objects.exists()


def test_editing_a_final_annotation_reopens_it(radiologist_api, donor, eager_tasks, django_capture_on_commit_callbacks):
    create(radiologist_api, donor, typical(7), django_capture_on_commit_callbacks)
    annotation = Annotation.objects.get(donor=donor)
    finalise(radiologist_api, annotation)
    annotation.refresh_from_db()
    assert annotation.state == "final"
    with django_capture_on_commit_callbacks(execute=True):
        radiologist_api.put(
            f"/api/v1/annotations/{annotation.pk}/",
            {"document": typical(12), "version": annotation.version},
            format="json",
        )
    annotation.refresh_from_db()
    assert annotation.state == "draft" and annotation.revision == 2


def test_stale_annotation_edit_conflicts(radiologist_api, donor, eager_tasks, django_capture_on_commit_callbacks):
    create(radiologist_api, donor, typical(7), django_capture_on_commit_callbacks)
    annotation = Annotation.objects.get(donor=donor)
    url = f"/api/v1/annotations/{annotation.pk}/"
    with django_capture_on_commit_callbacks(execute=True):
        assert radiologist_api.put(url, {"document": typical(8), "version": 1}, format="json").status_code == 200
    stale = radiologist_api.put(url, {"document": typical(9), "version": 1}, format="json")
    assert stale.status_code == 409


def test_other_roles_and_centres(make_user, donor, foreign_donor, eager_tasks, django_capture_on_commit_callbacks):
    surgeon = APIClient()
    surgeon.force_authenticate(make_user("surgeon"))
    assert (
        surgeon.post("/api/v1/annotations/", {"donor": donor.pk, "document": typical()}, format="json").status_code
        == 403
    )
    radiologist = APIClient()
    radiologist.force_authenticate(make_user("radiologist"))
    assert (
        radiologist.post(
            "/api/v1/annotations/", {"donor": foreign_donor.pk, "document": typical()}, format="json"
        ).status_code
        == 404
    )
    auditor = APIClient()
    auditor.force_authenticate(make_user("auditor"))
    assert auditor.post("/api/v1/classify/", typical(), format="json").status_code == 403
    radiologist_b = APIClient()
    radiologist_b.force_authenticate(make_user("radiologist", centre_obj=foreign_donor.centre))
    with django_capture_on_commit_callbacks(execute=True):
        radiologist_b.post("/api/v1/annotations/", {"donor": foreign_donor.pk, "document": typical()}, format="json")
    foreign = Annotation.objects.get(donor=foreign_donor)
    assert radiologist.get(f"/api/v1/annotations/{foreign.pk}/").status_code == 404
    assert radiologist.get("/api/v1/annotations/").json() == []


def test_reclassify_classifies_anatomies_whose_runs_predate_the_rules(
    radiologist_api, donor, eager_tasks, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    create(radiologist_api, donor, typical(), django_capture_on_commit_callbacks)
    annotation = Annotation.objects.get(donor=donor)
    ClassificationRun.objects.filter(annotation=annotation).update(rules_version="2024.1")
    fresh = DonorFactory(centre=donor.centre)
    create(radiologist_api, fresh, typical(), django_capture_on_commit_callbacks)

    out = __import__("io").StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("reclassify", stdout=out)

    assert out.getvalue().startswith("1 anatomy queued")
    annotation.refresh_from_db()
    assert annotation.classification == "done"
    assert annotation.runs.filter(rules_version=RULES_VERSION).count() == 1
    assert annotation.runs.filter(rules_version="2024.1").count() == 1, "old runs stay for the record"
    assert ClassificationRun.objects.filter(annotation__donor=fresh).count() == 1
