"""`manage.py import_outcomes`: the whole file or nothing, every refused line named with its reason."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from classification.models import SurgicalOutcome
from core.models import AuditEvent
from donors.models import Centre, Donor
from tests.factories import DonorFactory

pytestmark = pytest.mark.django_db

HEADER = "donor_code,graft,proposed_type,anastomoses,technique"
GOOD = [
    "H-001,right_lobe,1,1,end-to-end",
    "H-002,left_lateral_segment,2,2,double Roux-en-Y",
    "H-003,left_lobe,2,1,",
    "H-004,right_lobe,3,3,triple roux-en-y",
]


def write(tmp_path, lines, name="outcomes.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(path, centre="Historic Centre"):
    out, err = StringIO(), StringIO()
    call_command("import_outcomes", str(path), "--centre", centre, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(path, centre="Historic Centre"):
    err = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_outcomes", str(path), "--centre", centre, stdout=StringIO(), stderr=err)
    return str(raised.value), err.getvalue()


def test_a_good_file_creates_the_centre_donors_and_outcomes(tmp_path):
    out, _ = run(write(tmp_path, [HEADER] + GOOD))
    assert "imported 4 outcome(s) into Historic Centre [historic-centre] (new centre)" in out
    assert "4 donor(s) created" in out
    centre = Centre.objects.get(name="Historic Centre")
    assert centre.code == "historic-centre"
    donors = {d.code: d for d in Donor.objects.filter(centre=centre)}
    assert set(donors) == {"H-001", "H-002", "H-003", "H-004"}
    placeholder = donors["H-002"]
    assert (placeholder.mrn, placeholder.given_name, placeholder.family_name) == ("IMPORTED", "Imported", "H-002")
    assert placeholder.date_of_birth is None and placeholder.height_cm is None and placeholder.weight_kg is None
    assert placeholder.sex == "" and placeholder.abo == "" and placeholder.age_years is None
    assert placeholder.planned_graft == "left_lateral_segment" and placeholder.status == "donated"
    outcomes = {o.donor.code: o for o in SurgicalOutcome.objects.select_related("donor")}
    assert {
        c: (o.proposed_type, o.anastomoses, o.predicted_anastomoses, o.technique, o.source) for c, o in outcomes.items()
    } == {
        "H-001": ("1", 1, 1, "end-to-end", "imported"),
        "H-002": ("2", 2, 2, "double Roux-en-Y", "imported"),
        "H-003": ("2", 1, 2, "", "imported"),
        "H-004": ("3", 3, 3, "triple Roux-en-Y", "imported"),
    }
    events = AuditEvent.objects.filter(centre_id=centre.pk)
    assert {e.channel for e in events} == {"command"}
    assert events.filter(record_type="donors.Centre").count() == 1
    assert events.filter(record_type="donors.Donor", kind="create").count() == 4
    assert events.filter(record_type="classification.SurgicalOutcome", kind="create").count() == 4
    assert "line 3" in events.get(donor_code="H-002", record_type="classification.SurgicalOutcome").summary


def test_known_donors_get_their_outcome_and_no_new_donor(tmp_path, centre):
    known = DonorFactory(centre=centre, code="H-001", planned_graft="right_lobe", status="donated")
    run(write(tmp_path, [HEADER, GOOD[0]]), centre=centre.name)
    assert Donor.objects.filter(centre=centre).count() == 1
    assert SurgicalOutcome.objects.get().donor == known
    assert not AuditEvent.objects.filter(record_type="donors.Donor").exists()
    assert not AuditEvent.objects.filter(record_type="donors.Centre").exists()


@pytest.mark.parametrize(
    "row,reason",
    [
        ("H-009,whole_liver,1,1,end-to-end", "unknown graft 'whole_liver'"),
        ("H-009,right_lobe,1,1,stapled", "unknown technique 'stapled'"),
        ("H-009,right_lobe,1,one,end-to-end", "anastomoses 'one' is not a whole number"),
        ("H-009,right_lobe,1,1.5,", "anastomoses '1.5' is not a whole number"),
        ("H-009,right_lobe,1,0,", "anastomoses 0 is impossible (1 to 8)"),
        ("H-009,right_lobe,2,9,", "anastomoses 9 is impossible (1 to 8)"),
        ("H-009,right_lobe,1,1,double end-to-end", "'double end-to-end' joins 2 duct(s), not 1"),
        ("H-009,right_lobe,4,1,end-to-end", "unknown proposed_type '4' (1, 2 or 3)"),
        ("H-001,right_lobe,1,1,end-to-end", "duplicate donor_code 'H-001' (first on line 2)"),
        (",right_lobe,1,1,", "donor_code is empty"),
        ("H-009,right_lobe,1", "3 fields, expected 5"),
    ],
)
def test_each_refused_row_is_named_and_nothing_is_imported(tmp_path, row, reason):
    path = write(tmp_path, [HEADER] + GOOD + [row])
    message, err = refused(path)
    assert "1 row(s) refused: nothing imported" in message
    assert f"line 6: {reason}" in err, err
    assert not Centre.objects.filter(name="Historic Centre").exists()
    assert not Donor.objects.exists() and not SurgicalOutcome.objects.exists() and not AuditEvent.objects.exists()


def test_a_donor_that_already_has_an_outcome_is_refused(tmp_path, centre):
    run(write(tmp_path, [HEADER, GOOD[0]]), centre=centre.name)
    before = (Donor.objects.count(), SurgicalOutcome.objects.count(), AuditEvent.objects.count())
    message, err = refused(write(tmp_path, [HEADER, GOOD[1], GOOD[0]], name="again.csv"), centre=centre.name)
    assert "line 3: donor H-001 already has an outcome" in err
    assert (Donor.objects.count(), SurgicalOutcome.objects.count(), AuditEvent.objects.count()) == before


def test_a_known_donor_not_donated_gets_no_imported_outcome(tmp_path, centre):
    DonorFactory(centre=centre, code="H-001", planned_graft="right_lobe", status="in_evaluation")
    _, err = refused(write(tmp_path, [HEADER, GOOD[0]]), centre=centre.name)
    assert "line 2: donor H-001 is in evaluation, not donated" in err
    assert not SurgicalOutcome.objects.exists()


def test_a_known_donor_with_another_graft_is_refused(tmp_path, centre):
    DonorFactory(centre=centre, code="H-001", planned_graft="left_lobe", status="donated")
    _, err = refused(write(tmp_path, [HEADER, GOOD[0]]), centre=centre.name)
    assert "line 2: donor H-001 is planned for left_lobe, not right_lobe" in err
    assert not SurgicalOutcome.objects.exists()


@pytest.mark.parametrize(
    "header", ["donor,graft,type,anastomoses,technique", "donor_code,graft,proposed_type,anastomoses", ""]
)
def test_a_wrong_header_refuses_the_file(tmp_path, header):
    path = write(tmp_path, [header] + GOOD)
    message, err = refused(path)
    assert "line 1:" in err and ("wrong header" in err or "empty" in err)
    assert not Donor.objects.exists() and not Centre.objects.exists()


def test_every_refused_line_is_listed(tmp_path):
    path = write(tmp_path, [HEADER, GOOD[0], "H-002,right_lobe,7,1,", "", "H-003,right_lobe,1,x,stapled", GOOD[0]])
    message, err = refused(path)
    assert "3 row(s) refused" in message
    lines = err.strip().splitlines()
    assert lines[0] == "line 3: unknown proposed_type '7' (1, 2 or 3)"
    assert lines[1].startswith("line 5: anastomoses 'x' is not a whole number; unknown technique 'stapled'")
    assert lines[2] == "line 6: duplicate donor_code 'H-001' (first on line 2)"


def test_a_missing_or_binary_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_outcomes", str(tmp_path / "nope.csv"), "--centre", "X")
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_outcomes", str(path), "--centre", "X")


def test_the_help_says_the_file_is_one_transaction():
    from reports.management.commands.import_outcomes import Command

    assert "whole file is one transaction" in Command.help and "nothing is imported" in Command.help


def test_a_derived_centre_code_never_clashes(tmp_path, db):
    Centre.objects.create(name="Historic", code="historic-centre")
    run(write(tmp_path, [HEADER, GOOD[0]]))
    assert Centre.objects.get(name="Historic Centre").code == "historic-centre-2"


def test_an_imported_donors_report_shows_the_placeholders_as_unknown(tmp_path):
    from reports.content import report_content

    run(write(tmp_path, [HEADER, GOOD[0]]))
    donor = Donor.objects.select_related("centre", "recipient").get(code="H-001")
    content = report_content(donor)
    checks = {c["check"]: c for c in content["checks"]}
    assert checks["age"]["state"] == "missing" and "imported" in checks["age"]["detail"]
    assert checks["bmi"]["state"] == "missing" and checks["abo"]["state"] == "missing"
    assert content["demographics"]["age_years"] is None and content["demographics"]["bmi"] is None
    assert content["outcome"] == content["outcome"] | {"anastomoses": 1, "source": "imported"}
