"""The DICOMweb endpoints. Token (`Authorization: Token <key>`) or session authentication; a
session POST keeps its CSRF check, a token needs none.

Errors answer in the API's JSON shape; an Accept the resource cannot satisfy answers 406.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import uuid
from functools import partial

import pydicom
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from pydicom.encaps import generate_frames
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from core.audit import actor_from_request
from core.errors import InvalidInput, NotFound
from core.roles import Action
from donors.services import require

from .. import rendering, services
from ..dicom import DicomRejected, read_instance
from ..models import Instance
from ..storage import has_local_paths
from . import selectors
from .protocol import (
    DICOM,
    DICOM_JSON,
    OCTET_STREAM,
    BadMultipart,
    BadQuery,
    TooLarge,
    accepts,
    dataset,
    multipart_body,
    multipart_boundary,
    multipart_content_type,
    new_boundary,
    parse_query,
    split_multipart,
    to_json,
)

# STOW failure reasons (PS3.18 table 10.5.3-2 / PS3.4 C-STORE statuses)
CANNOT_UNDERSTAND = 0xC000
OUT_OF_RESOURCES = 0xA700
STUDY_MISMATCH = 0xA900


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "too_large"


class LengthRequired(exceptions.APIException):
    status_code = 411
    default_code = "length_required"


class ErrorsAsJson(BaseContentNegotiation):
    """The views answer their own media types; DRF's renderer only writes error bodies, always as JSON."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return JSONRenderer(), "application/json"


class DicomWebView(APIView):
    schema = None  # not part of the REST API's OpenAPI schema
    content_negotiation_class = ErrorsAsJson

    def actor(self, request):
        return actor_from_request(request, channel="api")

    def base_url(self, request) -> str:
        return request.build_absolute_uri(reverse("dicomweb:studies")).rstrip("/")


def _negotiate(request, offers):
    chosen = accepts(request.headers.get("Accept", ""), offers)
    if chosen is None:
        raise exceptions.NotAcceptable(
            "cannot answer as "
            + request.headers.get("Accept", "")
            + "; this resource is available as "
            + ", ".join(f'{m}; type="{t}"' if t else m for m, t in offers)
        )
    return chosen


def _json(request, items) -> HttpResponse:
    _negotiate(request, [(DICOM_JSON, None), ("application/json", None)])
    return HttpResponse(_dumps(items), content_type=DICOM_JSON)


def _dumps(items) -> bytes:
    return json.dumps(items).encode()


def _query(request, level: str):
    try:
        return parse_query(level, [(k, v) for k, values in request.GET.lists() for v in values])
    except BadQuery as bad:
        raise InvalidInput(str(bad), fields={bad.parameter: [bad.reason]}) from None


def _study_dataset(study, base: str):
    series = list(study.series.all())
    return dataset(
        StudyInstanceUID=study.study_instance_uid,
        StudyDate=study.study_date,
        StudyDescription=study.description,
        PatientID=study.patient_id,
        PatientName=study.patient_name,
        ModalitiesInStudy=sorted({s.modality for s in series if s.modality}),
        NumberOfStudyRelatedSeries=len(series),
        NumberOfStudyRelatedInstances=sum(s.instance_count for s in series),
        RetrieveURL=f"{base}/{study.study_instance_uid}",
    )


def _series_dataset(series, base: str):
    study = series.study
    return dataset(
        StudyInstanceUID=study.study_instance_uid,
        SeriesInstanceUID=series.series_instance_uid,
        Modality=series.modality,
        SeriesNumber=series.series_number,
        SeriesDescription=series.description,
        NumberOfSeriesRelatedInstances=series.instance_count,
        RetrieveURL=f"{base}/{study.study_instance_uid}/series/{series.series_instance_uid}",
    )


def _instance_dataset(instance: Instance, base: str):
    series = instance.series
    study = series.study
    return dataset(
        StudyInstanceUID=study.study_instance_uid,
        SeriesInstanceUID=series.series_instance_uid,
        SOPClassUID=instance.sop_class_uid,
        SOPInstanceUID=instance.sop_instance_uid,
        InstanceNumber=instance.instance_number,
        Rows=instance.rows,
        Columns=instance.columns,
        NumberOfFrames=instance.frames,
        RetrieveURL=f"{base}/{study.study_instance_uid}/series/{series.series_instance_uid}"
        f"/instances/{instance.sop_instance_uid}",
    )


# ------------------------------------------------------------------ QIDO-RS and STOW-RS on /studies


class Studies(DicomWebView):
    def get(self, request):
        actor = self.actor(request)
        studies = selectors.search_studies(actor, _query(request, "study"))
        base = self.base_url(request)
        return _json(request, to_json(_study_dataset(s, base) for s in studies))

    def post(self, request):
        return _store(request, self.actor(request), self.base_url(request), study_uid="")


class StudySeries(DicomWebView):
    def get(self, request, study):
        found = selectors.search_series(self.actor(request), study, _query(request, "series"))
        base = self.base_url(request)
        return _json(request, to_json(_series_dataset(s, base) for s in found))


class SeriesInstances(DicomWebView):
    def get(self, request, study, series):
        found = selectors.search_instances(self.actor(request), study, series, _query(request, "instance"))
        base = self.base_url(request)
        return _json(request, to_json(_instance_dataset(i, base) for i in found))


# ------------------------------------------------------------------ WADO-RS


def _files(request, actor, study, series="", instance=""):
    _negotiate(request, [("multipart/related", DICOM)])
    instances = list(selectors.instances_of(actor, study, series, instance))
    selectors.record_retrieve(actor, instances, "DICOM files")
    boundary = new_boundary()
    parts = (({"Content-Type": DICOM}, partial(rendering.stored_bytes, i.file)) for i in instances)
    return StreamingHttpResponse(multipart_body(parts, boundary), content_type=multipart_content_type(DICOM, boundary))


def _metadata(request, actor, study, series="", instance=""):
    _negotiate(request, [(DICOM_JSON, None), ("application/json", None)])
    instances = list(selectors.instances_of(actor, study, series, instance))
    selectors.record_retrieve(actor, instances, "DICOM metadata")
    items = []
    for item in instances:
        with default_storage.open(item.file, "rb") as handle:
            header = pydicom.dcmread(handle, stop_before_pixels=True)
        header.file_meta = pydicom.dataset.FileMetaDataset()  # the JSON model has no file meta group
        items.append(header.to_json_dict())  # no pixel data; other binary values inline
    return HttpResponse(_dumps(items), content_type=DICOM_JSON)


class Study(DicomWebView):
    def get(self, request, study):
        return _files(request, self.actor(request), study)

    def post(self, request, study):
        return _store(request, self.actor(request), self.base_url(request), study_uid=study)


class Series(DicomWebView):
    def get(self, request, study, series):
        return _files(request, self.actor(request), study, series)


class InstanceView(DicomWebView):
    def get(self, request, study, series, instance):
        return _files(request, self.actor(request), study, series, instance)


class StudyMetadata(DicomWebView):
    def get(self, request, study):
        return _metadata(request, self.actor(request), study)


class SeriesMetadata(DicomWebView):
    def get(self, request, study, series):
        return _metadata(request, self.actor(request), study, series)


class InstanceMetadata(DicomWebView):
    def get(self, request, study, series, instance):
        return _metadata(request, self.actor(request), study, series, instance)


def _frame_numbers(raw: str, count: int) -> list[int]:
    numbers = []
    for part in raw.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise InvalidInput(f"frames: '{part}' is not a frame number", fields={"frames": ["frame numbers from 1"]})
        if int(part) > count:
            raise NotFound(f"no frame {part}: the instance has {count} frame(s)")
        numbers.append(int(part))
    return numbers


def _frame_bytes(data: bytes, numbers: list[int]) -> tuple[list[bytes], str]:
    """The frames' bytes as stored (native pixels, or each frame's compressed stream) and their syntax."""
    found = pydicom.dcmread(io.BytesIO(data))
    syntax = found.file_meta.TransferSyntaxUID
    count = int(getattr(found, "NumberOfFrames", 1) or 1)
    if syntax.is_encapsulated:
        frames = list(generate_frames(found.PixelData, number_of_frames=count))
        return [frames[n - 1] for n in numbers], str(syntax)
    size = found.Rows * found.Columns * found.SamplesPerPixel * found.BitsAllocated // 8
    pixels = found.PixelData
    return [pixels[(n - 1) * size : n * size] for n in numbers], str(syntax)


class Frames(DicomWebView):
    def get(self, request, study, series, instance, frames):
        actor = self.actor(request)
        wanted, _ = _negotiate(request, [("multipart/related", OCTET_STREAM), (OCTET_STREAM, None)])
        found = selectors.instance_of(actor, study, series, instance)
        numbers = _frame_numbers(frames, found.frames)
        selectors.record_retrieve(actor, [found], "image frames")
        chunks, syntax = _frame_bytes(rendering.stored_bytes(found.file), numbers)
        media = f"{OCTET_STREAM}; transfer-syntax={syntax}"
        if wanted == OCTET_STREAM and len(chunks) == 1:  # asked for one frame as a single body
            return HttpResponse(chunks[0], content_type=media)
        boundary = new_boundary()
        parts = [({"Content-Type": media}, partial(bytes, chunk)) for chunk in chunks]
        return StreamingHttpResponse(
            multipart_body(parts, boundary), content_type=multipart_content_type(OCTET_STREAM, boundary)
        )


def _rendered(found: Instance, media: str) -> HttpResponse:
    center, width = found.series.slice_window or (None, None)
    png = rendering.slice_png(found, center, width)
    if media == "image/jpeg":
        buffer = io.BytesIO()
        Image.open(io.BytesIO(png)).convert("L").save(buffer, format="JPEG", quality=90)
        return HttpResponse(buffer.getvalue(), content_type="image/jpeg")
    return HttpResponse(png, content_type="image/png")


class Rendered(DicomWebView):
    def get(self, request, study, series, instance):
        actor = self.actor(request)
        media, _ = _negotiate(request, [("image/png", None), ("image/jpeg", None)])
        found = selectors.instance_of(actor, study, series, instance)
        selectors.record_retrieve(actor, [found], "a rendered image")
        return _rendered(found, media)


# ------------------------------------------------------------------ WADO-URI (PS3.18 chapter 9), for old viewers

WADO_URI_TYPES = ("image/jpeg", DICOM, "image/png")


class WadoUri(DicomWebView):
    """`?requestType=WADO&studyUID=&seriesUID=&objectUID=[&contentType=]`: one instance, as its stored file
    (application/dicom) or a rendered picture (image/jpeg, the default; image/png). Other parameters of
    the standard (windowing, region, frame) are not applied."""

    def get(self, request):
        actor = self.actor(request)
        params = request.GET
        if params.get("requestType") != "WADO":
            raise InvalidInput("requestType: must be WADO", fields={"requestType": ["WADO is the only request type"]})
        missing = [key for key in ("studyUID", "seriesUID", "objectUID") if not params.get(key, "").strip()]
        if missing:
            raise InvalidInput(
                f"{', '.join(missing)}: required", fields={key: ["the UID is required"] for key in missing}
            )
        wanted = [part.split(";")[0].strip().lower() for part in params.get("contentType", "image/jpeg").split(",")]
        media = next((m for m in wanted if m in WADO_URI_TYPES), None)
        if media is None:
            raise exceptions.NotAcceptable(
                f"contentType: cannot answer as {params.get('contentType')}; available: {', '.join(WADO_URI_TYPES)}"
            )
        found = selectors.instance_of(actor, params["studyUID"], params["seriesUID"], params["objectUID"])
        if media == DICOM:
            selectors.record_retrieve(actor, [found], "a DICOM file (WADO-URI)")
            response = HttpResponse(rendering.stored_bytes(found.file), content_type=DICOM)
            response["Content-Disposition"] = f'attachment; filename="{found.sop_instance_uid}.dcm"'
            return response
        selectors.record_retrieve(actor, [found], "a rendered image (WADO-URI)")
        return _rendered(found, media)


# ------------------------------------------------------------------ STOW-RS


def request_body(request: HttpRequest):
    """The body to read. A chunked body (Orthanc's STOW client sends one) has no Content-Length, and Django
    then reads nothing of it; a WSGI server that has undone the chunking says so (`wsgi.input_terminated`,
    as gunicorn does), and its input is read to the end. A server that has not is told to send a length.
    Under ASGI the body is whole already."""
    meta = request.META
    chunked = "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
    if "wsgi.input" not in meta or meta.get("CONTENT_LENGTH") or not chunked:
        return request
    if meta.get("wsgi.input_terminated"):
        return meta["wsgi.input"]
    raise LengthRequired("this server cannot read a chunked body: send the body with a Content-Length")


class _StoredOnClose(io.RawIOBase):
    """A part being received, spooled to a temporary file (memory up to 1 MB), and saved to the
    default storage under `name` when closed."""

    def __init__(self, name: str):
        self.name = name
        self.spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 - closed in close()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self.spool.write(data)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.spool.seek(0)
            stored = default_storage.save(self.name, File(self.spool, name=self.name))
            if stored != self.name:  # pragma: no cover - the folder is new, so the name is free
                default_storage.delete(stored)
                raise OSError(f"{self.name} exists already")
        finally:
            self.spool.close()
            super().close()


def _receive_parts(request, folder: str) -> list[str]:
    """Write each part of the body to its own file in `folder` as it is read; the files' names."""
    try:
        _, boundary = multipart_boundary(request.headers.get("Content-Type", ""))
    except BadMultipart as bad:  # pragma: no cover - checked by the caller
        raise exceptions.UnsupportedMediaType("", detail=str(bad)) from None
    body = request_body(request._request)
    local = has_local_paths()
    if local:
        os.makedirs(default_storage.path(folder), exist_ok=True)
    paths: list[str] = []

    def open_part(headers):
        path = f"{folder}/{len(paths):05d}.dcm"
        paths.append(path)
        # An object store has no paths: the part is spooled to a temporary file, stored on close.
        return open(default_storage.path(path), "wb") if local else _StoredOnClose(path)

    try:
        split_multipart(body, boundary, open_part, max_bytes=settings.DICOM_MAX_UPLOAD_BYTES)
    except (BadMultipart, TooLarge) as bad:
        for path in paths:
            default_storage.delete(path)
        if isinstance(bad, TooLarge):
            raise PayloadTooLarge(str(bad)) from None
        raise InvalidInput(f"body: {bad}", fields={"body": [str(bad)]}) from None
    if not paths:
        raise InvalidInput("body: no DICOM part", fields={"body": ["send at least one application/dicom part"]})
    return paths


def _check_part(path: str, index: int, study_uid: str):
    """The part's header, or (None, why it is refused, the header when it could be read)."""
    size = default_storage.size(path)
    name = f"part-{index + 1}.dcm"
    limit = settings.DICOM_MAX_FILE_BYTES
    header = None
    try:
        if size > limit:
            raise DicomRejected(f"file too large ({size} bytes; the limit is {limit})", name)
        header, _ = read_instance(rendering.stored_bytes(path), name=name)
        if study_uid and header.study_instance_uid != study_uid:
            raise DicomRejected(f"the instance is of study {header.study_instance_uid}, not {study_uid}", name)
    except DicomRejected as rejected:
        default_storage.delete(path)
        failure = dataset(
            ReferencedSOPClassUID=header.sop_class_uid if header else None,
            ReferencedSOPInstanceUID=header.sop_instance_uid if header else None,
            FailureReason=STUDY_MISMATCH if header else CANNOT_UNDERSTAND,
        )
        return None, services.Refused(name=name, size=size, reason=rejected.reason), failure
    return header, size, None


def _store(request, actor, base: str, *, study_uid: str) -> HttpResponse:
    """Store the parts as the DICOM node stores C-STOREs: each part is written to disk as it is read,
    checked by the reader, and the stored ones are filed (routed by Patient ID) in one go."""
    require(actor, Action.UPLOAD_IMAGES)
    try:
        part_type, _ = multipart_boundary(request.headers.get("Content-Type", ""))
    except BadMultipart as bad:
        raise exceptions.UnsupportedMediaType(request.headers.get("Content-Type", ""), detail=str(bad)) from None
    if part_type != DICOM:
        raise exceptions.UnsupportedMediaType(
            part_type, detail='only multipart/related; type="application/dicom" can be stored'
        )
    paths = _receive_parts(request, f"imaging/received/{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:12]}")
    received: list[services.Received] = []
    refused: list[services.Refused] = []
    stored, failed = [], []
    for index, path in enumerate(paths):
        header, size_or_refusal, failure = _check_part(path, index, study_uid)
        if header is None:
            refused.append(size_or_refusal)
            failed.append(failure)
            continue
        name = f"{header.sop_instance_uid[:64]}.dcm"
        received.append(
            services.Received(
                path=path,
                name=name,
                size=size_or_refusal,
                patient_id=header.patient_id,
                study_instance_uid=header.study_instance_uid,
            )
        )
        stored.append(
            dataset(
                ReferencedSOPClassUID=header.sop_class_uid,
                ReferencedSOPInstanceUID=header.sop_instance_uid,
                RetrieveURL=f"{base}/{header.study_instance_uid}/series/{header.series_instance_uid}"
                f"/instances/{header.sop_instance_uid}",
            )
        )
    services.file_stowed(actor=actor, files=received, refused=refused)
    answer = dataset(RetrieveURL=f"{base}/{study_uid}" if study_uid else None)
    if stored:
        answer.ReferencedSOPSequence = stored
    if failed:
        answer.FailedSOPSequence = failed
    status = 200 if not failed else 202 if stored else 409
    return HttpResponse(_dumps(answer.to_json_dict()), content_type=DICOM_JSON, status=status)
