"""FHIR R4 over HTTP: an issued report as a DiagnosticReport, the search of a patient's reports, the
CapabilityStatement, and `manage.py export_fhir`. Authentication, centre scoping and auditing as the REST
API's; every answer parses back with fhir.resources' R4B models."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.operationoutcome import OperationOutcome
from rest_framework.test import APIClient

from core.models import AuditEvent
from core.tokens import issue_api_client
from reports.fhir import mapping
from reports.models import ReportVersion
from tests.factories import DonorFactory
from tests.integration.test_reports import issue_api, worked_up_donor

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

FHIR_JSON = "application/fhir+json"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def issued(centre, staff, media, eager_tasks, django_capture_on_commit_callbacks):
    """A worked-up donor with one issued report version whose PDF is rendered."""
    donor = worked_up_donor(centre, staff, django_capture_on_commit_callbacks, code="D-FHIR")
    response = issue_api(staff["surgeon"], donor, django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    version = ReportVersion.objects.select_related("donor", "donor__centre").get(pk=response.json()["id"])
    assert version.pdf_state == "ready"
    return version


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def fhir_json(response) -> dict:
    assert response["Content-Type"].startswith(FHIR_JSON), response["Content-Type"]
    return json.loads(response.content)


def parses(resource: dict):
    """The resource and each contained resource parse back with the R4B models, unchanged."""
    model = get_fhir_model_class(resource["resourceType"])
    assert mapping.as_json(model.model_validate(resource)) == resource
    for item in resource.get("contained") or []:
        get_fhir_model_class(item["resourceType"]).model_validate(item)
    return resource


def outcome(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = fhir_json(response)
    OperationOutcome.model_validate(body)
    assert body["issue"][0]["code"] == code, body
    return body


def contained(resource, kind):
    return [r for r in resource["contained"] if r["resourceType"] == kind]


def fhir_reads(version):
    return AuditEvent.objects.filter(
        kind="read", record_type="reports.ReportVersion", record_id=str(version.pk), summary__contains="as FHIR"
    )


# ---------------------------------------------------------------- read


def test_read_answers_the_issued_version_as_a_validated_diagnostic_report(issued, staff):
    version, donor = issued, issued.donor
    surgeon = browser(staff["surgeon"])
    response = surgeon.get(f"/fhir/DiagnosticReport/{version.pk}")
    assert response.status_code == 200
    report = parses(fhir_json(response))
    DiagnosticReport.model_validate(report)
    assert report["id"] == str(version.pk) and report["status"] == "final"
    assert report["conclusion"] == version.content["conclusion"]["text"]

    patient = contained(report, "Patient")[0]
    assert patient["identifier"][0]["value"] == donor.mrn
    assert patient["identifier"][0]["system"] == mapping.mrn_system(donor.centre.code)

    observations = {o["id"]: o for o in contained(report, "Observation")}
    grwr = version.content["volumetry"]["grwr"]
    assert observations["grwr"]["valueQuantity"]["value"] == grwr["value"]
    ast = next(v for v in version.content["labs"]["values"] if v["label"] == "AST")
    assert observations["lab-1920-8"]["valueQuantity"]["value"] == ast["value"]
    assert observations["lab-1920-8"]["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "1920-8",
        "display": mapping.LAB_LOINC["AST"][0].display,
    }
    types = {
        o["id"]: o["valueCodeableConcept"]["coding"][0]["code"]
        for o in observations.values()
        if o["id"].startswith("biliary-")
    }
    assert types == {f"biliary-{s['system']}": s["type"] for s in version.content["biliary"]["systems"]}
    assert observations["prediction"]["valueInteger"] == version.content["prediction"]["anastomoses"]

    study = contained(report, "ImagingStudy")[0]
    assert study["identifier"] == [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.3.4"}]
    assert [s["uid"] for s in study["series"]] == ["1.2.3.4.1"] and study["status"] == "available"

    form = report["presentedForm"][0]
    assert form["contentType"] == "application/pdf" and "data" not in form
    assert form["url"] == f"http://testserver/api/v1/reports/{version.pk}/pdf/"
    # The link is the permission-checked download, with the same credential, audited as a download.
    download = surgeon.get(form["url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == version.pdf.open("rb").read()
    assert AuditEvent.objects.filter(kind="download", record_id=str(version.pk)).count() == 1

    (event,) = fhir_reads(version)
    assert event.user == staff["surgeon"] and event.donor_id == donor.pk and event.channel == "api"


def test_a_pdf_not_rendered_yet_is_left_out(issued, staff):
    ReportVersion.objects.filter(pk=issued.pk).update(pdf_state="pending")
    report = parses(fhir_json(browser(staff["hepatologist"]).get(f"/fhir/DiagnosticReport/{issued.pk}")))
    assert "presentedForm" not in report and report["result"]


def test_tokens_and_sessions_authenticate_and_the_role_decides(issued, staff, centre):
    url = f"/fhir/DiagnosticReport/{issued.pk}"
    anonymous = Client().get(url)
    outcome(anonymous, 401, "login")
    assert anonymous["WWW-Authenticate"] == "Token"
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token abcdefgh.not-a-key")
    outcome(bad.get(url), 401, "login")

    # An auditor is refused; a hospital system's token reads issued versions (FHIR and the REST API alike).
    outcome(browser(staff["auditor"]).get(url), 403, "forbidden")
    client, key = issue_api_client(centre=centre, name="EHR")
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert APIClient().get(f"/api/v1/reports/{issued.pk}/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    response = token.get(url)
    assert response.status_code == 200 and parses(fhir_json(response))["id"] == str(issued.pk)
    # The live (unissued) report stays with the clinical roles.
    assert token.get(f"/api/v1/donors/{issued.donor_id}/report/").status_code == 403
    (event,) = fhir_reads(issued)
    assert event.api_client == client and event.channel == "api"


def test_another_centres_report_is_not_found_and_the_attempt_audited(issued, make_user, other_centre):
    stranger = browser(make_user("surgeon", centre_obj=other_centre, username="stranger"))
    foreign = outcome(stranger.get(f"/fhir/DiagnosticReport/{issued.pk}"), 404, "not-found")
    missing = outcome(stranger.get(f"/fhir/DiagnosticReport/{issued.pk + 1000}"), 404, "not-found")
    # Nothing tells an existing report from a missing one but the id asked for.
    assert foreign["issue"][0]["diagnostics"].replace(str(issued.pk), "N") == missing["issue"][0][
        "diagnostics"
    ].replace(str(issued.pk + 1000), "N")
    denied = AuditEvent.objects.get(kind="denied", record_id=str(issued.pk))
    assert denied.target_centre_id == issued.donor.centre_id and denied.donor_code == ""

    bundle = parses(fhir_json(stranger.get(f"/fhir/DiagnosticReport?patient={issued.donor_id}")))
    assert bundle["total"] == 0 and "entry" not in bundle
    assert AuditEvent.objects.filter(kind="denied", record_type="donors.Donor", record_id=str(issued.donor_id)).exists()
    assert not fhir_reads(issued).exists()


# ---------------------------------------------------------------- formats


FORMATS = [
    # Accept, _format, answered
    ("", None, True),
    ("application/fhir+json", None, True),
    ("application/fhir+json; fhirVersion=4.0", None, True),
    ("application/json", None, True),
    ("text/html,application/xhtml+xml,*/*;q=0.8", None, True),
    ("application/fhir+xml", None, False),
    ("text/html", None, False),
    ("application/fhir+json; fhirVersion=5.0", None, False),
    ("application/fhir+json;q=0", None, False),
    ("application/fhir+xml", "json", True),
    ("application/fhir+xml", "application/fhir%2Bjson", True),
    ("application/fhir+xml", "application/fhir+json", True),  # an unencoded "+" arrives as a space
    ("application/fhir+json", "xml", False),
    ("", "application/fhir%2Bxml", False),
    ("", "turtle", False),
]


def test_accept_and_format_choose_fhir_json_or_a_406(issued, staff):
    surgeon = browser(staff["surgeon"])
    reads = 0
    for accept, format_, answered in FORMATS:
        query = f"?_format={format_}" if format_ else ""
        headers = {"HTTP_ACCEPT": accept} if accept else {}
        response = surgeon.get(f"/fhir/DiagnosticReport/{issued.pk}{query}", **headers)
        if answered:
            assert response.status_code == 200, (accept, format_)
            assert parses(fhir_json(response))["resourceType"] == "DiagnosticReport"
            reads += 1
        else:
            outcome(response, 406, "not-supported")
        assert fhir_reads(issued).count() == reads, (accept, format_)


# ---------------------------------------------------------------- search


def test_search_by_patient_answers_every_version_newest_first_and_audits_each(
    issued, staff, django_capture_on_commit_callbacks
):
    donor = issued.donor
    second = issue_api(staff["hepatologist"], donor, django_capture_on_commit_callbacks).json()["id"]
    DonorFactory(centre=donor.centre, code="D-OTHER")  # another donor of the centre: not in the answer
    surgeon = browser(staff["surgeon"])
    response = surgeon.get(f"/fhir/DiagnosticReport?patient={donor.pk}")
    assert response.status_code == 200
    bundle = parses(fhir_json(response))
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset" and bundle["total"] == 2
    assert [e["resource"]["id"] for e in bundle["entry"]] == [str(second), str(issued.pk)]
    assert bundle["entry"][0]["fullUrl"] == f"http://testserver/fhir/DiagnosticReport/{second}"
    assert bundle["link"][0]["url"] == f"http://testserver/fhir/DiagnosticReport?patient={donor.pk}"
    for entry in bundle["entry"]:
        parses(entry["resource"])
    events = AuditEvent.objects.filter(kind="read", donor_id=donor.pk, summary__contains="as FHIR (search)")
    assert sorted(int(e.record_id) for e in events) == sorted([second, issued.pk])

    same = parses(fhir_json(surgeon.get(f"/fhir/DiagnosticReport?_count=5&patient=Patient/{donor.pk}&_format=json")))
    assert [e["resource"]["id"] for e in same["entry"]] == [str(second), str(issued.pk)]
    # The self link names the search as understood: an unknown parameter is ignored and left out.
    assert same["link"][0]["url"] == (
        f"http://testserver/fhir/DiagnosticReport?patient=Patient%2F{donor.pk}&_format=json"
    )
    system = mapping.mrn_system(donor.centre.code)
    by_mrn = parses(fhir_json(surgeon.get("/fhir/DiagnosticReport", {"patient:identifier": f"{system}|{donor.mrn}"})))
    assert by_mrn["total"] == 2
    assert parses(fhir_json(surgeon.get("/fhir/DiagnosticReport", {"patient:identifier": donor.mrn})))["total"] == 2
    elsewhere = surgeon.get("/fhir/DiagnosticReport", {"patient:identifier": f"urn:oid:1.2.3|{donor.mrn}"})
    assert parses(fhir_json(elsewhere))["total"] == 0


BAD_SEARCHES = [
    ("", "patient"),
    ("?patient=abc", "patient"),
    ("?patient=Practitioner/1", "patient"),
    ("?patient=1&patient:identifier=x", "patient"),
    ("?patient:identifier=sys|", "patient:identifier"),
]


def test_bad_search_parameters_are_a_400_naming_the_parameter(issued, staff):
    surgeon = browser(staff["surgeon"])
    for query, parameter in BAD_SEARCHES:
        body = outcome(surgeon.get(f"/fhir/DiagnosticReport{query}"), 400, "invalid")
        assert body["issue"][0]["expression"] == [parameter], query
    assert not fhir_reads(issued).exists()


# ---------------------------------------------------------------- metadata, unknown paths, methods


def test_metadata_needs_no_credential_and_reads_no_donor(db):
    before = AuditEvent.objects.count()
    response = Client().get("/fhir/metadata")
    assert response.status_code == 200
    statement = fhir_json(response)
    CapabilityStatement.model_validate(statement)
    assert statement["implementation"]["url"] == "http://testserver/fhir"
    assert statement["rest"][0]["resource"][0]["type"] == "DiagnosticReport"
    outcome(Client().get("/fhir/metadata?_format=xml"), 406, "not-supported")
    assert AuditEvent.objects.count() == before


def test_other_paths_and_methods_answer_operation_outcomes(issued, staff):
    surgeon = browser(staff["surgeon"])
    nul = outcome(surgeon.get("/fhir/DiagnosticReport?patient=1%00"), 400, "invalid")
    assert nul["issue"][0]["expression"] == ["patient"]
    outcome(Client().get("/fhir/metadata?_format=%00"), 400, "invalid")
    outcome(surgeon.get("/fhir/Patient/1"), 404, "not-found")
    outcome(surgeon.get("/fhir/DiagnosticReport/abc"), 404, "not-found")
    outcome(surgeon.post(f"/fhir/DiagnosticReport/{issued.pk}"), 405, "not-supported")
    outcome(surgeon.delete(f"/fhir/DiagnosticReport/{issued.pk}"), 405, "not-supported")


# ---------------------------------------------------------------- the command


def test_export_fhir_prints_the_latest_version_with_everything_contained_and_the_pdf_embedded(
    issued, staff, django_capture_on_commit_callbacks
):
    donor = issued.donor
    second = ReportVersion.objects.get(
        pk=issue_api(staff["surgeon"], donor, django_capture_on_commit_callbacks).json()["id"]
    )
    out = io.StringIO()
    call_command("export_fhir", "--donor", donor.code, stdout=out)
    report = parses(json.loads(out.getvalue()))
    assert report["resourceType"] == "DiagnosticReport" and report["id"] == str(second.pk)
    ids = {r["id"] for r in report["contained"]}
    references = {r["reference"] for r in report["result"]} | {report["subject"]["reference"]}
    references |= {r["reference"] for r in report["imagingStudy"] + report["performer"]}
    assert all(ref.startswith("#") and ref[1:] in ids for ref in references)
    form = report["presentedForm"][0]
    assert base64.b64decode(form["data"]) == second.pdf.open("rb").read() and "url" not in form
    event = AuditEvent.objects.get(kind="read", record_id=str(second.pk), channel="command")
    assert event.donor_id == donor.pk and event.user is None and "FHIR" in event.summary

    call_command("export_fhir", "--donor", donor.code, "--centre", donor.centre.code, stdout=io.StringIO())
    with pytest.raises(CommandError, match="no donor NOPE"):
        call_command("export_fhir", "--donor", "NOPE")
    bare = DonorFactory(centre=donor.centre, code="D-BARE-FHIR")
    with pytest.raises(CommandError, match="no issued report"):
        call_command("export_fhir", "--donor", bare.code)


# ---------------------------------------------------------------- OpenAPI


def test_the_fhir_endpoints_are_in_the_openapi_schema(tmp_path, db):
    out = tmp_path / "schema.json"
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(out))
    schema = json.loads(out.read_text())
    read = schema["paths"]["/fhir/DiagnosticReport/{id}"]["get"]
    assert FHIR_JSON in read["responses"]["200"]["content"]
    for code in ("401", "403", "404", "406"):
        body = read["responses"][code]["content"][FHIR_JSON]["schema"]
        assert body["properties"]["resourceType"]["enum"] == ["OperationOutcome"]
    search = schema["paths"]["/fhir/DiagnosticReport"]["get"]
    assert {"patient", "patient:identifier", "_format"} <= {p["name"] for p in search["parameters"]}
    assert read["operationId"] == "fhir_diagnostic_report_read"
    metadata = schema["paths"]["/fhir/metadata"]["get"]
    # No credential, and no error but a 406 to document.
    assert (
        sorted(metadata["responses"]) == ["200", "400", "406"]
        and not metadata.get("security")
        and "security" not in schema
    )
