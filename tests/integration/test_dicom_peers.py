"""The systems allowed to send studies to the DICOM node: registered per centre by AE title (and host),
through the API or `manage.py register_dicom_ae`, audited, and shown read-only in the admin."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from core.models import AuditEvent
from imaging.models import DicomPeer

pytestmark = pytest.mark.django_db


def test_a_coordinator_registers_and_lists_the_centres_peers(users, api_as, other_centre):
    client = api_as(users["coordinator"])
    answer = client.post("/api/v1/dicom-peers/", {"ae_title": " MYPACS ", "host": "10.0.0.7"}, format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["ae_title"] == "MYPACS"
    peer = DicomPeer.objects.get(ae_title="MYPACS")
    assert peer.centre == users["coordinator"].centre and peer.host == "10.0.0.7"
    assert AuditEvent.objects.filter(kind="create", record_type="imaging.DicomPeer", record_id=str(peer.pk)).exists()
    DicomPeer.objects.create(ae_title="ELSEWHERE", centre=other_centre)
    listed = client.get("/api/v1/dicom-peers/")
    assert listed.status_code == 200
    assert [p["ae_title"] for p in listed.json()] == ["MYPACS"]
    assert AuditEvent.objects.filter(kind="list", record_type="imaging.DicomPeer").exists()


@pytest.mark.parametrize(
    "title, reason",
    [
        ("    ", "not all spaces"),
        ("A" * 17, "at most 16"),
        ("BAD\\AE", "backslash"),
        ("TAB\tAE", "control"),
    ],
)
def test_an_invalid_ae_title_is_refused_with_the_field(users, api_as, title, reason):
    answer = api_as(users["coordinator"]).post("/api/v1/dicom-peers/", {"ae_title": title}, format="json")
    assert answer.status_code == 400
    assert reason in str(answer.json())
    assert not DicomPeer.objects.exists()


def test_a_registered_title_cannot_be_registered_twice(users, api_as):
    client = api_as(users["coordinator"])
    assert client.post("/api/v1/dicom-peers/", {"ae_title": "MYPACS"}, format="json").status_code == 201
    again = client.post("/api/v1/dicom-peers/", {"ae_title": "MYPACS"}, format="json")
    assert again.status_code == 409, again.content
    assert "already registered" in str(again.json())


def test_a_surgeon_may_not_register_a_peer(users, api_as):
    answer = api_as(users["surgeon"]).post("/api/v1/dicom-peers/", {"ae_title": "MYPACS"}, format="json")
    assert answer.status_code == 403
    assert not DicomPeer.objects.exists()


def test_the_command_registers_a_peer_and_explains_mistakes(centre):
    out = StringIO()
    call_command("register_dicom_ae", "SCANNER1", "--centre", "home", "--host", "10.1.1.1", stdout=out)
    assert "registered SCANNER1 for centre home" in out.getvalue()
    assert DicomPeer.objects.get(ae_title="SCANNER1").host == "10.1.1.1"
    assert AuditEvent.objects.filter(record_type="imaging.DicomPeer", channel="command").exists()
    with pytest.raises(CommandError, match="no centre with code 'nowhere'"):
        call_command("register_dicom_ae", "OTHER", "--centre", "nowhere")
    with pytest.raises(CommandError, match="already registered"):
        call_command("register_dicom_ae", "SCANNER1", "--centre", "home")
    with pytest.raises(CommandError, match="at most 16"):
        call_command("register_dicom_ae", "X" * 20, "--centre", "home")


def test_the_admin_lists_peers_read_only(centre, admin_client):
    DicomPeer.objects.create(ae_title="MYPACS", centre=centre)
    page = admin_client.get("/admin/imaging/dicompeer/")
    assert page.status_code == 200 and b"MYPACS" in page.content
    assert admin_client.get("/admin/imaging/dicompeer/add/").status_code == 403
