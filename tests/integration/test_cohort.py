"""The cohort statistics: the study's Table 4 reproduced, agreement with scipy, which outcomes and
annotations count, the page, the API, the CSV, the command and the demo centre."""

from __future__ import annotations

import csv
import datetime
import io
import json
import random

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient
from scipy.stats import chi2_contingency, fisher_exact

from classification import services as classification_services
from classification.models import Annotation, SurgicalOutcome
from core.models import AuditEvent
from donors.models import Centre
from reports.cohort import cohort_statistics
from reports.demo import seed_study_cohort, study_cohort_csv
from reports.services import import_outcomes
from tests.factories import DonorFactory, accept_donor
from tests.integration.test_reports import actor, annotate, typical

pytestmark = pytest.mark.django_db

STUDY_TABLE4 = {
    "type1": {"single": 30, "multiple": 6},
    "type2": {"single": 27, "multiple": 29},
    "type3": {"single": 0, "multiple": 1},
}


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Many users per test: a fast hasher keeps the setup short (nothing here checks hashing)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def study(centre):
    """The study's 93 operated donors imported into the home centre."""
    import_outcomes(centre_name=centre.name, text=study_cohort_csv(), source_name="study.csv")
    return centre


def test_the_study_cohort_gives_the_published_statistics(study):
    stats = cohort_statistics(study)
    assert stats["table4"] == STUDY_TABLE4 and stats["n"] == 92
    assert round(stats["chi2"], 2) == 11.47 and round(stats["chi2_p"], 4) == 0.0007
    # 10.0247: "10.03" in the brief is the three-decimal 10.025 rounded once more.
    assert stats["chi2_yates"] == pytest.approx(10.025, abs=5e-4) and round(stats["chi2_yates_p"], 4) == 0.0015
    assert round(stats["fisher_p"], 4) == 0.0009 and round(stats["odds_ratio"], 2) == 5.37
    assert stats["type1_single"]["k"] == 30 and stats["type1_single"]["n"] == 36
    assert stats["type2_double"]["proportion"] == pytest.approx(29 / 56)
    assert stats["outcomes"] == {"total": 93, "recorded": 0, "imported": 93}
    assert {r["technique"]: r["count"] for r in stats["techniques"]} == {
        "end-to-end": 20,
        "Roux-en-Y": 37,
        "double end-to-end": 12,
        "double Roux-en-Y": 23,
        "triple Roux-en-Y": 1,
        "other": 0,
    }
    agreement = stats["prediction_agreement"]
    assert (agreement["agree"], agreement["n"]) == (30 + 29 + 1, 93)
    assert agreement["confusion"]["2"] == {"1": 27, "2": 29, "3": 0}


def test_the_command_prints_the_statistics_as_json(study, capsys):
    call_command("cohort_report", "--centre", study.name, "--json")
    out = json.loads(capsys.readouterr().out)
    assert out["table4"] == STUDY_TABLE4
    assert {k: round(out[k], 4) for k in ("chi2", "chi2_p", "chi2_yates", "chi2_yates_p", "fisher_p")} == {
        "chi2": 11.4662,
        "chi2_p": 0.0007,
        "chi2_yates": 10.0247,
        "chi2_yates_p": 0.0015,
        "fisher_p": 0.0009,
    }
    call_command("cohort_report", "--centre", study.code)
    text = capsys.readouterr().out
    assert "chi-square 11.466 (p 0.0007); Yates 10.025 (p 0.0015); Fisher p 0.0009" in text


def test_the_command_names_an_unknown_centre(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no centre named 'Nowhere'"):
        call_command("cohort_report", "--centre", "Nowhere", "--json")


@pytest.mark.parametrize("seed", range(12))
def test_table4_tests_agree_with_scipy_on_random_tables(centre, seed):
    rng = random.Random(seed)
    cells = [rng.randint(0, 25) for _ in range(4)]
    if seed == 0:
        cells = [3, 0, 4, 2]  # a zero cell
    rows = ["donor_code,graft,proposed_type,anastomoses,technique"]
    number = 0
    for (kind, count), n in zip([("1", 1), ("1", 2), ("2", 1), ("2", 2)], cells, strict=True):
        for _ in range(n):
            number += 1
            rows.append(f"R-{number:03d},right_lobe,{kind},{count if count == 1 else rng.choice([2, 3])},")
    if number == 0:
        pytest.skip("empty table")
    import_outcomes(centre_name=centre.name, text="\n".join(rows))
    stats = cohort_statistics(centre)
    table = [[cells[0], cells[1]], [cells[2], cells[3]]]
    if 0 in (sum(table[0]), sum(table[1]), cells[0] + cells[2], cells[1] + cells[3]):
        assert stats["chi2"] is None and stats["chi2_yates"] is None
    else:
        plain = chi2_contingency(table, correction=False)
        corrected = chi2_contingency(table, correction=True)
        assert stats["chi2"] == pytest.approx(plain[0], rel=1e-9)
        assert stats["chi2_p"] == pytest.approx(plain[1], rel=1e-9)
        assert stats["chi2_yates"] == pytest.approx(corrected[0], rel=1e-9, abs=1e-12)
        assert stats["chi2_yates_p"] == pytest.approx(corrected[1], rel=1e-9)
    assert stats["fisher_p"] == pytest.approx(fisher_exact(table).pvalue, rel=1e-7)


def test_recorded_outcomes_count_only_while_the_anatomy_is_final(
    centre, make_user, eager_tasks, django_capture_on_commit_callbacks
):
    radiologist, surgeon = make_user("radiologist"), make_user("surgeon")
    donor = DonorFactory(centre=centre)
    annotation = annotate(donor, radiologist, django_capture_on_commit_callbacks)
    accept_donor(donor, signers={"surgeon": surgeon, "radiologist": radiologist})
    classification_services.record_outcome(
        actor=actor(surgeon),
        donor=donor,
        values={"anastomoses": 2, "technique": "double end-to-end", "operated_on": datetime.date.today()},
    )
    stats = cohort_statistics(centre)
    assert stats["table4"]["type1"] == {"single": 0, "multiple": 1} and stats["outcomes"]["recorded"] == 1
    # The radiologist reopens the anatomy (a draft again): the outcome no longer counts.
    annotation.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        classification_services.save_annotation(
            actor=actor(radiologist), donor=donor, document=typical(12.0), expected_version=annotation.version
        )
    stats = cohort_statistics(centre)
    assert stats["outcomes"]["total"] == 0 and stats["table4"]["type1"] == {"single": 0, "multiple": 0}


def test_types_per_system_come_from_final_annotations_current_runs(
    centre, other_centre, make_user, eager_tasks, django_capture_on_commit_callbacks
):
    from classification.presets import preset_document

    radiologist = make_user("radiologist")
    annotate(DonorFactory(centre=centre), radiologist, django_capture_on_commit_callbacks)  # type 1, Huang 1
    annotate(
        DonorFactory(centre=centre),
        radiologist,
        django_capture_on_commit_callbacks,
        document=preset_document("rphd_into_lhd"),
    )  # type 2, Huang 3
    annotate(DonorFactory(centre=centre), radiologist, django_capture_on_commit_callbacks, final=False)  # draft
    # A final annotation changed to another type: only its current run counts.
    changed = DonorFactory(centre=centre)
    annotation = annotate(changed, radiologist, django_capture_on_commit_callbacks)
    annotation.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        classification_services.save_annotation(
            actor=actor(radiologist),
            donor=changed,
            document=preset_document("trifurcation"),
            expected_version=annotation.version,
        )
    annotation.refresh_from_db()
    classification_services.finalise_annotation(
        actor=actor(radiologist), annotation=annotation, expected_version=annotation.version
    )
    other_radiologist = make_user("radiologist", centre_obj=other_centre)
    annotate(DonorFactory(centre=other_centre), other_radiologist, django_capture_on_commit_callbacks)

    stats = cohort_statistics(centre)
    assert stats["annotated_donors"] == 3
    counts = {s: {r["type"]: r["count"] for r in info["types"]} for s, info in stats["systems"].items()}
    assert counts["proposed"] == {"1": 1, "2": 2, "3": 0, "unclassified": 0}
    assert counts["huang"]["1"] == 1 and counts["huang"]["2"] == 1 and counts["huang"]["3"] == 1
    assert counts["couinaud"]["A"] == 1 and counts["couinaud"]["B"] == 1 and counts["couinaud"]["D1"] == 1
    assert list(counts["karakas"]) == ["K1", "K2a", "K2b", "K3a", "K3b", "K4", "unclassified"]


def test_the_page_the_api_and_the_csv(study, make_user, other_centre):
    surgeon, auditor = make_user("surgeon"), make_user("auditor")
    html = browser(surgeon).get("/reports/cohort/").content.decode()
    assert 'data-testid="chi2">11.466<' in html and 'data-testid="chi2-yates">10.025<' in html
    assert 'data-testid="fisher-p">0.0009<' in html and "<svg" in html
    assert "83 % (68-92 %)" in html  # type 1 single 30/36 with its Wilson interval
    assert browser(auditor).get("/reports/cohort/").status_code == 200
    body = APIClient()
    body.force_authenticate(surgeon)
    data = body.get("/api/v1/cohort/").json()
    assert data["table4"] == STUDY_TABLE4 and data["centre"]["code"] == study.code

    response = browser(auditor).get("/reports/cohort.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["section", "group", "category", "value"]
    assert ["table4", "type1", "single", "30"] in rows and ["table4", "type2", "multiple", "29"] in rows
    assert ["test", "table4", "chi2", "11.4662"] in rows and ["test", "table4", "fisher_p", "0.000872876"] in rows
    event = AuditEvent.objects.get(kind="download", record_type="reports.Cohort")
    assert event.user == auditor and event.centre_id == study.pk and event.channel == "download"

    # Another centre sees its own (empty) cohort, never this one.
    stranger = make_user("surgeon", centre_obj=other_centre)
    other = browser(stranger).get("/reports/cohort/").content.decode()
    assert "Other Centre" in other and 'data-testid="chi2">' not in other


@pytest.mark.parametrize(
    "role,status",
    [
        ("coordinator", 200),
        ("radiologist", 200),
        ("hepatologist", 200),
        ("surgeon", 200),
        ("auditor", 200),
        ("integration_client", 403),
    ],
)
def test_cohort_permissions(study, make_user, role, status):
    user = make_user(role)
    assert browser(user).get("/reports/cohort/").status_code == status
    assert browser(user).get("/reports/cohort.csv").status_code == status
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/v1/cohort/")
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"]["code"] == "forbidden"
        assert not AuditEvent.objects.filter(kind="download", record_type="reports.Cohort").exists()


def test_an_empty_centre_shows_a_page_without_numbers(centre, make_user):
    html = browser(make_user("surgeon")).get("/reports/cohort/").content.decode()
    assert "Not enough outcomes for the test" in html and "No final biliary annotations" in html


def test_the_demo_seeder_loads_the_study_centre_once_and_its_users_see_numbers(db, eager_tasks):
    first = seed_study_cohort(centre=None, users={})
    second = seed_study_cohort(centre=None, users={})
    assert "93 operated donors" in first and "already loaded" in second
    study = Centre.objects.get(code="study")
    assert study.name == "Study Cohort Centre"
    assert SurgicalOutcome.objects.filter(donor__centre=study, source="imported").count() == 93
    client = Client()
    login = client.post("/accounts/login/", {"username": "study-surgeon", "password": "demo-pass-2026"})
    assert login.status_code == 302 and "_auth_user_id" in client.session
    html = client.get("/reports/cohort/").content.decode()
    assert 'data-testid="chi2">11.466<' in html
    # Illustrative final anatomy with each donor's proposed type fills the per-system tables.
    assert Annotation.objects.filter(donor__centre=study, state="final").count() == 93
    stats = cohort_statistics(study)
    assert stats["annotated_donors"] == 93
    assert {r["type"]: r["count"] for r in stats["systems"]["proposed"]["types"]} == {
        "1": 36,
        "2": 56,
        "3": 1,
        "unclassified": 0,
    }
    assert stats["table4"] == STUDY_TABLE4 and stats["outcomes"]["recorded"] == 0
