"""FHIR R4 endpoints under /fhir/: an issued report version as a DiagnosticReport, the search of a
patient's reports, and the CapabilityStatement.

Authentication, centre scoping and auditing are the REST API's (a token or a session; another centre's
report is not found; every read of a donor's report is audited). Answers are `application/fhir+json`,
chosen by `_format` (which wins) or `Accept`; anything else is 406. Every error is an OperationOutcome.
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.audit import actor_from_request
from core.errors import DomainError, InvalidInput

from ..models import ReportVersion
from . import mapping, selectors, services

SOFTWARE = "Living donor liver workup"
SOFTWARE_VERSION = "1.0.0"
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})
JSON_MEDIA_RANGES = JSON_FORMATS | {"application/*", "*/*"}


class FhirJsonRenderer(BaseRenderer):
    media_type = mapping.FHIR_JSON
    format = "json"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _media_ranges(accept: str):
    """(media range, q, fhirVersion) of each entry of an Accept header."""
    for entry in accept.split(","):
        parts = [p.strip() for p in entry.split(";")]
        if not parts[0]:
            continue
        params = {}
        for part in parts[1:]:
            key, _, value = part.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 0.0
        yield parts[0].lower(), q, params.get("fhirversion", "")


def json_acceptable(accept: str) -> bool:
    if not accept.strip():
        return True
    return any(
        media in JSON_MEDIA_RANGES and q > 0 and (not version or version.startswith("4.0"))
        for media, q, version in _media_ranges(accept)
    )


class FhirNegotiation(BaseContentNegotiation):
    """FHIR JSON only: `_format` wins over `Accept` (as the FHIR specification says); else 406."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        wanted = request.query_params.get("_format")
        if wanted is not None:
            # An unencoded "+" arrives as a space: "application/fhir json" is "application/fhir+json".
            if wanted.split(";")[0].strip().replace(" ", "+").lower() in JSON_FORMATS:
                return renderer, renderer.media_type
            raise exceptions.NotAcceptable(f"_format {wanted!r} is not offered; use json or application/fhir+json")
        accept = request.headers.get("Accept", "")
        if json_acceptable(accept):
            return renderer, renderer.media_type
        raise exceptions.NotAcceptable(f"cannot answer as {accept}; FHIR resources here are application/fhir+json")


def outcome_response(status: int, message: str, expression=(), headers=None) -> Response:
    outcome = mapping.operation_outcome(status, message, list(expression))
    return Response(mapping.as_json(outcome), status=status, headers=headers)


def fhir_exception_handler(exc, context):
    """Every error as an OperationOutcome, with the status the REST API would answer."""
    if isinstance(exc, DomainError):
        return outcome_response(exc.status_code, exc.message, exc.fields)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django's 500
    headers = {}
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if wait:
        headers["Retry-After"] = str(int(wait))
    return outcome_response(exc.status_code, str(exc.detail), headers=headers)


# ---------------------------------------------------------------- OpenAPI

ERRORS = {
    400: "A bad parameter (the OperationOutcome names it).",
    401: "No credential, or a bad one.",
    403: "Your role may not read suitability reports.",
    404: "No such report in your centre.",
    406: "Only application/fhir+json (or _format=json) is offered.",
    429: "Too many requests for this token.",
}


def _resource_schema(resource_type: str, description: str) -> dict:
    return {
        "type": "object",
        "description": f"FHIR R4 {resource_type}. {description}",
        "properties": {"resourceType": {"type": "string", "enum": [resource_type]}},
        "required": ["resourceType"],
        "additionalProperties": True,
    }


OPERATION_OUTCOME = _resource_schema("OperationOutcome", "One issue: severity, code, diagnostics, expression.")


class FhirAutoSchema(AutoSchema):
    """Errors are documented as OperationOutcomes, in FHIR JSON."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in getattr(self.view, "documented_errors", ERRORS):
            key = str(code)
            if key not in responses:
                responses[key] = self._get_response_for_code(
                    OpenApiResponse(OPERATION_OUTCOME, description=ERRORS[code]), key, direction=direction
                )
        return dict(sorted(responses.items()))

    def get_tags(self):
        return ["fhir"]

    def get_operation_id(self):
        return getattr(self.view, "operation_id", None) or super().get_operation_id()


FORMAT_PARAMETER = OpenApiParameter(
    "_format",
    str,
    OpenApiParameter.QUERY,
    description="json, application/json or application/fhir+json; wins over Accept. Others answer 406.",
)


# ---------------------------------------------------------------- views


class FhirView(APIView):
    renderer_classes = [FhirJsonRenderer]
    parser_classes: list = []
    content_negotiation_class = FhirNegotiation
    http_method_names = ["get", "head"]
    schema = FhirAutoSchema()

    def get_exception_handler(self):
        return fhir_exception_handler

    def actor(self, request):
        return actor_from_request(request, channel="api")


def _pdf(request, version: ReportVersion) -> mapping.Pdf | None:
    """A link to the permission-checked PDF download (same credential, audited as a download), only
    once the PDF is rendered. Linked rather than embedded: a search answers every version of a donor
    and an EHR often files the structured data alone."""
    if version.pdf_state != ReportVersion.PdfState.READY or not version.pdf:
        return None
    return mapping.Pdf(
        title=selectors.pdf_title(version),
        created=version.pdf_rendered_at.isoformat() if version.pdf_rendered_at else None,
        url=request.build_absolute_uri(reverse("api-report-version-pdf", args=[version.pk])),
    )


def _resource(request, version: ReportVersion):
    return mapping.diagnostic_report(selectors.issued_report(version, pdf=_pdf(request, version)))


REPORT_SCHEMA = _resource_schema(
    "DiagnosticReport",
    "An issued suitability report version, its Patient, Organization, Practitioners, ImagingStudy and "
    "Observations contained; presentedForm links the PDF.",
)


@extend_schema(
    parameters=[FORMAT_PARAMETER],
    responses={200: OpenApiResponse(REPORT_SCHEMA, description="The DiagnosticReport.")},
)
class DiagnosticReportRead(FhirView):
    """An issued suitability report version as a FHIR DiagnosticReport."""

    operation_id = "fhir_diagnostic_report_read"
    documented_errors = (400, 401, 403, 404, 406, 429)

    def get(self, request, pk):
        actor = self.actor(request)
        version = selectors.report_version(actor=actor, pk=pk)
        resource = _resource(request, version)
        services.record_fhir_read(actor=actor, version=version)
        return Response(mapping.as_json(resource))


PATIENT_ID = re.compile(r"(?:Patient/)?([0-9]{1,18})")


def _search(actor, params) -> list[ReportVersion]:
    by_id, by_identifier = params.get("patient"), params.get("patient:identifier")
    if by_id is None and by_identifier is None:
        message = "give patient (the donor's id) or patient:identifier (the MRN)"
        raise InvalidInput(message, fields={"patient": [message]})
    if by_id is not None and by_identifier is not None:
        message = "give patient or patient:identifier, not both"
        raise InvalidInput(message, fields={"patient": [message]})
    if by_id is not None:
        match = PATIENT_ID.fullmatch(by_id.strip())
        if match is None:
            message = f"patient must be the donor's id or Patient/<id>, not {by_id!r}"
            raise InvalidInput(message, fields={"patient": [message]})
        return selectors.versions_of_patient(actor=actor, donor_id=int(match.group(1)))
    system, _, value = by_identifier.rpartition("|")
    if not value.strip():
        message = "patient:identifier must be <system>|<MRN> or the MRN"
        raise InvalidInput(message, fields={"patient:identifier": [message]})
    return selectors.versions_by_mrn(actor=actor, system=system or None, mrn=value.strip())


SEARCH_PARAMETER_NAMES = ("patient", "patient:identifier", "_format")


def _self_link(request) -> str:
    """The search as understood: the parameters used, in a fixed order (others are ignored)."""
    used = [(name, request.query_params[name]) for name in SEARCH_PARAMETER_NAMES if name in request.query_params]
    url = request.build_absolute_uri(reverse("fhir:diagnostic-report-search"))
    return f"{url}?{urlencode(used)}" if used else url


@extend_schema(
    parameters=[
        OpenApiParameter("patient", str, description=mapping.SEARCH_PARAMETERS[0][2].split("; with")[0]),
        OpenApiParameter(
            "patient:identifier", str, description="The centre's MRN: `<system>|<value>`, or the value alone."
        ),
        FORMAT_PARAMETER,
    ],
    responses={
        200: OpenApiResponse(
            _resource_schema("Bundle", "A searchset; each entry a DiagnosticReport as the read answers it."),
            description="The searchset Bundle (empty for a patient not of your centre).",
        )
    },
)
class DiagnosticReportSearch(FhirView):
    """The issued suitability reports of one patient (a donor of your centre), newest first."""

    operation_id = "fhir_diagnostic_report_search"
    documented_errors = (400, 401, 403, 406, 429)

    def get(self, request):
        actor = self.actor(request)
        versions = _search(actor, request.query_params)
        matches = []
        for version in versions:
            url = request.build_absolute_uri(reverse("fhir:diagnostic-report", args=[version.pk]))
            matches.append((url, _resource(request, version)))
        bundle = mapping.searchset(
            matches,
            self_url=_self_link(request),
            timestamp=timezone.now().isoformat(),
            bundle_id=str(uuid.uuid4()),
        )
        for version in versions:
            services.record_fhir_read(actor=actor, version=version, how="search")
        return Response(mapping.as_json(bundle))


@extend_schema(
    auth=[],
    parameters=[FORMAT_PARAMETER],
    responses={200: OpenApiResponse(_resource_schema("CapabilityStatement", ""), description="What is offered.")},
)
class Metadata(FhirView):
    """The server's CapabilityStatement (no credential needed)."""

    operation_id = "fhir_metadata"

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    documented_errors = (400, 406)

    def get(self, request):
        statement = mapping.capability_statement(
            base_url=request.build_absolute_uri(reverse("fhir:metadata")).rsplit("/", 1)[0],
            date=timezone.now().date().isoformat(),
            software=SOFTWARE,
            version=SOFTWARE_VERSION,
        )
        return Response(mapping.as_json(statement))


def unknown(request, rest=""):
    """Anything else under /fhir/: an OperationOutcome, not an HTML page."""
    outcome = mapping.operation_outcome(
        404, f"nothing at /fhir/{rest}: this server offers DiagnosticReport (read and search) and metadata"
    )
    return HttpResponse(
        json.dumps(mapping.as_json(outcome)), status=404, content_type=f"{mapping.FHIR_JSON}; charset=utf-8"
    )
