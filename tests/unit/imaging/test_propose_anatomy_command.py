"""`manage.py propose_anatomy`: the tree of the 3D MRCP in a folder or zip, printed without the database
(these tests have no database access: any query would fail them)."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from functools import cache
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from classification.presets import preset_document
from imaging.dicom.phantom import generate_series
from imaging.models import TreeProposal
from imaging.proposals import body_of


@cache
def series_folder(root: str) -> Path:
    folder = Path(root) / "mrcp"
    generate_series(
        preset_document("typical_right_lobe"), folder, slices=40, rows=160, columns=160, pixel_spacing=(1.6, 1.6)
    )
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return series_folder(str(tmp_path_factory.mktemp("propose")))


def run(*args: str) -> str:
    out = StringIO()
    call_command("propose_anatomy", *args, stdout=out)
    return out.getvalue()


def test_a_folder_gives_the_proposal_in_the_apis_shape(folder):
    body = json.loads(run(str(folder), "--graft", "right_lobe", "--json"))
    stored = TreeProposal(
        pk=7,
        series_id=3,
        graft="right_lobe",
        state="ready",
        document=body["document"],
        duct_confidence=body["duct_confidence"],
        junction_confidence=body["junction_confidence"],
        centrelines=body["centrelines"],
        extractor_version=body["extractor_version"],
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    api = body_of(stored)
    assert set(body) == set(api)
    assert body["ducts"] == api["ducts"] and body["document"] == api["document"]
    assert body["centrelines"] == api["centrelines"]
    assert (body["id"], body["series"], body["created_at"]) == (None, None, None)
    assert body["state"] == "ready" and body["document"]["graft"] == "right_lobe"
    assert {"RHD", "LHD"} <= {duct["id"] for duct in body["ducts"]}


def test_a_zip_gives_the_same_proposal_as_its_folder(folder, tmp_path):
    archive = tmp_path / "mrcp.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.iterdir()):
            zipped.write(path, f"export/{path.name}")
    from_zip = json.loads(run(str(archive), "--graft", "right_lobe", "--json"))
    from_folder = json.loads(run(str(folder), "--graft", "right_lobe", "--json"))
    assert from_zip == from_folder


def test_the_summary_names_each_duct_and_marks_the_uncertain_ones(folder):
    text = run(str(folder), "--graft", "right_lobe")
    body = json.loads(run(str(folder), "--graft", "right_lobe", "--json"))
    for duct in body["ducts"]:
        line = next(line for line in text.splitlines() if line.split()[:1] == [duct["id"]])
        assert f"into {duct['drains_into']}" in line
        assert line.endswith("uncertain") == duct["low_confidence"]
    assert "radiologist" in text


def test_the_summary_names_the_segments_no_proposed_duct_drains(folder, monkeypatch):
    from imaging.management.commands import propose_anatomy
    from imaging.tree import propose_tree

    def missing_the_right_posterior_duct(volume, geometries, *, graft):
        found = propose_tree(volume, geometries, graft=graft)
        ducts = [d for d in found.document["ducts"] if d["id"] != "RPHD"]
        return type(found)({**found.document, "ducts": ducts}, {}, {}, {})

    assert "No duct found" not in run(str(folder), "--graft", "right_lobe")
    monkeypatch.setattr(propose_anatomy, "propose_tree", missing_the_right_posterior_duct)
    text = run(str(folder), "--graft", "right_lobe")
    assert "No duct found draining segment(s) 6, 7: a duct was missed there" in text


def test_the_largest_series_is_chosen(folder, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for path in folder.iterdir():
        (mixed / path.name).write_bytes(path.read_bytes())
    generate_series(preset_document("typical_right_lobe"), mixed / "scout", slices=6, rows=64, columns=64)
    text = run(str(mixed), "--graft", "right_lobe")
    assert "40 slices from 40 file(s); 6 other file(s) not used" in text


def test_unevenly_spaced_slices_are_refused_with_the_reason(folder, tmp_path):
    gapped = tmp_path / "gapped"
    gapped.mkdir()
    for index, path in enumerate(sorted(folder.iterdir())):
        if index != 20:
            (gapped / path.name).write_bytes(path.read_bytes())
    with pytest.raises(CommandError, match="not evenly spaced"):
        run(str(gapped), "--graft", "right_lobe")


def test_a_folder_without_dicom_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(CommandError, match="no readable DICOM image"):
        run(str(tmp_path), "--graft", "right_lobe")


def test_an_unknown_graft_is_refused(folder):
    with pytest.raises(CommandError, match="graft"):
        run(str(folder), "--graft", "whole_liver")
