"""The DICOM node's own encodings give the bytes pynetdicom gives; its folder of received files."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGLSLossless
from pynetdicom.dimse_messages import C_STORE_RSP
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event

from imaging.dicom import DicomRejected
from imaging.dicom_link import store_response_command, stored_file
from imaging.dicom_node import DurableFolder

MR = "1.2.840.10008.5.1.4.1.1.4"


def pynetdicom_command(response: C_STORE) -> bytes:
    message = C_STORE_RSP()
    message.primitive_to_message(response)
    (data,) = list(message.encode_msg(1, 16384))
    ((_, fragment),) = data.presentation_data_value_list
    assert fragment[0:1] == b"\x03"  # the one and last command fragment
    return fragment[1:]


@pytest.mark.parametrize(
    ("status", "comment", "instance"),
    [
        (0x0000, None, "1.2.3.4.55"),  # odd length: padded
        (0x0000, None, "1.2.3.4.5"),
        (0xC000, "pixel data does not match its header (rows)", "1.2.3"),
        (0xA700, "odd comment", "1.2.826.0.1.3680043.8.498.1"),
    ],
)
def test_a_store_response_is_encoded_as_pynetdicom_encodes_it(status, comment, instance):
    response = C_STORE()
    response.MessageIDBeingRespondedTo = 7
    response.AffectedSOPClassUID = MR
    response.AffectedSOPInstanceUID = instance
    response.Status = status
    if comment:
        response.ErrorComment = comment
    assert store_response_command(response) == pynetdicom_command(response)


def test_other_responses_are_left_to_pynetdicom():
    response = C_STORE()
    response.MessageIDBeingRespondedTo = 7
    response.AffectedSOPClassUID = MR
    response.Status = 0xC000
    response.OffendingElement = [0x00280010]
    assert store_response_command(response) is None
    request = C_STORE()  # a request, not a response
    request.MessageID = 1
    request.AffectedSOPClassUID = MR
    assert store_response_command(request) is None


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGLSLossless])
@pytest.mark.parametrize("instance", ["1.2.3.45", "1.2.3.4"])
def test_a_received_instance_is_the_file_pynetdicom_would_write(syntax, instance):
    request = C_STORE()
    request.MessageID = 1
    request.AffectedSOPClassUID = MR
    request.AffectedSOPInstanceUID = instance
    request.DataSet = BytesIO(b"\x08\x00\x16\x00\x1a\x00\x00\x001.2.840.10008.5.1.4.1.1.4\x00")
    event = SimpleNamespace(request=request, context=SimpleNamespace(transfer_syntax=UID(syntax)))
    event.file_meta = Event.file_meta.fget(event)  # type: ignore[attr-defined]
    assert stored_file(event) == Event.encoded_dataset(event)  # type: ignore[arg-type]


@pytest.fixture
def syncer():
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


def test_names_are_made_ahead_and_those_unused_are_removed_at_the_end(tmp_path, syncer):
    folder = DurableFolder(str(tmp_path / "received" / "one"), syncer)
    assert folder.write(0, b"first", lambda: "checked") == "checked"
    assert sorted(os.listdir(folder.folder)) == [f"{n:05d}.dcm" for n in range(DurableFolder.BATCH)]
    assert Path(folder.path(0)).read_bytes() == b"first"

    def refuse():
        raise DicomRejected("not a DICOM file")

    with pytest.raises(DicomRejected):
        folder.write(1, b"junk", refuse)
    folder.write(2, b"third", lambda: None)
    folder.write(DurableFolder.BATCH + 3, b"far", lambda: None)  # beyond the first batch
    folder.close()
    assert sorted(os.listdir(folder.folder)) == ["00000.dcm", "00002.dcm", f"{DurableFolder.BATCH + 3:05d}.dcm"]
    assert Path(folder.path(2)).read_bytes() == b"third"
