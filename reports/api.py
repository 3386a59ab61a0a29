"""REST: a donor's suitability report (current content, issuing), issued versions and their
PDF, and the centre's cohort statistics."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_common import ActorMixin, ErrorSerializer
from core.roles import Action
from donors import selectors as donor_selectors
from donors import services as donor_services
from donors.services import require

from . import cohort, selectors, services
from .content import report_content
from .models import PacsSend, ReportVersion

ErrorOut = ErrorSerializer

ReportContentOut = inline_serializer(
    "SuitabilityReportContent",
    fields={
        "format": serializers.CharField(help_text="ldlt-suitability-report/1"),
        "generated_at": serializers.DateTimeField(),
        "identity": serializers.DictField(
            help_text="Pseudonymous donor code, centre, status and the linked recipient."
        ),
        "versions": serializers.DictField(
            help_text="Rules version, anatomy revision, report version (null until issued)."
        ),
        "demographics": serializers.DictField(
            help_text="Sex, age, height, weight, BMI, BSA (with its formula), graft."
        ),
        "abo": serializers.DictField(),
        "labs": serializers.DictField(help_text="Latest laboratory values with APRI and FIB-4."),
        "steatosis": serializers.DictField(help_text="Every modality recorded and the one that decides."),
        "volumetry": serializers.DictField(help_text="Graft, remnant, GRWR with the density factor used."),
        "vascular": serializers.DictField(),
        "biliary": serializers.DictField(
            help_text="All six classifications with the rule behind each, the diagram (SVG) "
            "and the MRCP series whose MIP is shown."
        ),
        "prediction": serializers.DictField(
            allow_null=True,
            help_text="Predicted anastomoses, technique, probability and the number of local cases behind it.",
        ),
        "outcome": serializers.DictField(allow_null=True),
        "checks": serializers.ListField(
            child=serializers.DictField(),
            help_text="Every check: pass, borderline, fail or missing against the centre's threshold.",
        ),
        "counts": serializers.DictField(child=serializers.IntegerField()),
        "outstanding": serializers.ListField(child=serializers.DictField()),
        "thresholds": serializers.DictField(),
        "decision": serializers.DictField(allow_null=True, help_text="The team's decision and the three sign-offs."),
        "conclusion": serializers.DictField(),
        "issued": serializers.DictField(required=False, help_text="Only in issued versions: number, by, at."),
    },
)


class VersionOut(serializers.ModelSerializer):
    donor = serializers.IntegerField(source="donor_id")
    donor_code = serializers.CharField(source="donor.code")
    issued_by = serializers.CharField(source="issued_by.username")
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = ReportVersion
        fields = [
            "id",
            "donor",
            "donor_code",
            "number",
            "content_sha256",
            "rules_version",
            "annotation_revision",
            "issued_by",
            "issued_at",
            "pdf_state",
            "pdf_error",
            "pdf_sha256",
            "pdf_url",
        ]

    def get_pdf_url(self, version) -> str | None:
        if version.pdf_state != ReportVersion.PdfState.READY:
            return None
        return f"/api/v1/reports/{version.pk}/pdf/"


class VersionDetailOut(VersionOut):
    content = serializers.JSONField(help_text="The report exactly as issued.")

    class Meta(VersionOut.Meta):
        fields = VersionOut.Meta.fields + ["content"]


NOT_FINAL_EXAMPLE = OpenApiExample(
    "Anatomy not final",
    response_only=True,
    status_codes=["409"],
    value={
        "error": {
            "code": "illegal_state",
            "message": "cannot issue the report: the biliary anatomy (revision 1) "
            "is a draft: the radiologist must mark it final before a report is issued",
            "fields": {"annotation": ["the biliary anatomy (revision 1) is a draft: ..."]},
        }
    },
)


class DonorReport(ActorMixin, APIView):
    """The donor's suitability report as it stands now (not issued)."""

    @extend_schema(responses={200: ReportContentOut, 403: ErrorOut, 404: ErrorOut})
    def get(self, request, pk):
        actor = self.actor
        donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.VIEW_REPORT)
        content = report_content(donor)
        services.record_report_read(actor=actor, donor=donor, what="suitability report")
        return Response(content)


class IssueReport(ActorMixin, APIView):
    """Freeze the report as the donor's next version; its PDF is rendered in the background."""

    @extend_schema(
        request=None,
        responses={201: VersionOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
        examples=[NOT_FINAL_EXAMPLE],
    )
    def post(self, request, pk):
        actor = self.actor
        donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.ISSUE_REPORT)
        version = services.issue_report(actor=actor, donor=donor)
        version.refresh_from_db()
        return Response(VersionOut(version).data, status=201)


class ReportVersionDetail(ActorMixin, APIView):
    """An issued version: who issued it when, its hash, the PDF's state, and the frozen content."""

    @extend_schema(responses={200: VersionDetailOut, 403: ErrorOut, 404: ErrorOut})
    def get(self, request, pk):
        actor = self.actor
        version = selectors.version_for(actor=actor, pk=pk, action=Action.READ_ISSUED_REPORT)
        services.record_version_read(actor=actor, version=version)
        return Response(VersionDetailOut(version).data)


class ReportVersionPdf(ActorMixin, APIView):
    """The PDF of an issued version (every download is recorded in the audit trail)."""

    def perform_content_negotiation(self, request, force=False):
        # The PDF is a file response; errors stay JSON even for `Accept: application/pdf`.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF"),
            403: ErrorOut,
            404: ErrorOut,
            409: ErrorOut,
        }
    )
    def get(self, request, pk):
        actor = self.actor
        version = selectors.version_for(actor=actor, pk=pk, action=Action.READ_ISSUED_REPORT)
        return pdf_response(actor, version)


class PacsSendOut(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username")

    class Meta:
        model = PacsSend
        fields = [
            "id",
            "version",
            "annotation",
            "annotation_revision",
            "destination",
            "state",
            "error",
            "note",
            "attempts",
            "instances",
            "study_instance_uid",
            "requested_by",
            "requested_at",
            "finished_at",
        ]


class ReportVersionPacs(ActorMixin, APIView):
    """Send an issued version to the centre's PACS (the anatomy's SR and the PDF, by C-STORE from a worker),
    and list the sends with their outcome."""

    @extend_schema(responses={200: PacsSendOut(many=True), 403: ErrorOut, 404: ErrorOut})
    def get(self, request, pk):
        actor = self.actor
        version = selectors.version_for(actor=actor, pk=pk)
        services.record_version_read(actor=actor, version=version, what="the sends to PACS")
        return Response(PacsSendOut(selectors.pacs_sends_of(version), many=True).data)

    @extend_schema(request=None, responses={202: PacsSendOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut})
    def post(self, request, pk):
        actor = self.actor
        version = selectors.version_for(actor=actor, pk=pk, action=Action.ISSUE_REPORT)
        send = services.send_to_pacs(actor=actor, version=version)
        send.refresh_from_db()
        return Response(PacsSendOut(send).data, status=202)


class AnnotationPacs(ActorMixin, APIView):
    """Send a final anatomy's SR alone to the centre's PACS (by C-STORE from a worker, into the donor's MRCP
    study), before any report is issued; and list the anatomy's sends with their outcome."""

    @extend_schema(responses={200: PacsSendOut(many=True), 403: ErrorOut, 404: ErrorOut})
    def get(self, request, pk):
        actor = self.actor
        annotation = selectors.annotation_for(actor=actor, pk=pk)
        donor_services.record_donor_read(actor=actor, donor=annotation.donor, what="the anatomy's sends to PACS")
        return Response(PacsSendOut(selectors.anatomy_pacs_sends(annotation), many=True).data)

    @extend_schema(request=None, responses={202: PacsSendOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut})
    def post(self, request, pk):
        actor = self.actor
        annotation = selectors.annotation_for(actor=actor, pk=pk, action=Action.FINALISE_ANATOMY)
        send = services.send_anatomy_to_pacs(actor=actor, annotation=annotation)
        send.refresh_from_db()
        return Response(PacsSendOut(send).data, status=202)


def pdf_response(actor, version: ReportVersion) -> FileResponse:
    selectors.require_pdf_ready(version)
    handle = version.pdf.open("rb")
    services.record_pdf_download(actor=actor, version=version)
    response = FileResponse(
        handle,
        content_type="application/pdf",
        as_attachment=True,
        filename=f"suitability-report-{version.donor.code}-v{version.number}.pdf",
    )
    response["Cache-Control"] = "private, no-store"
    return response


CohortOut = inline_serializer(
    "CohortStatistics",
    fields={
        "centre": serializers.DictField(child=serializers.CharField()),
        "rules_version": serializers.CharField(),
        "table4": serializers.DictField(
            help_text='{"type1": {"single": n, "multiple": n}, "type2": {...}, "type3": {...}}'
        ),
        "n": serializers.IntegerField(help_text="Donors in the 2 x 2 test (types 1 and 2)."),
        "chi2": serializers.FloatField(allow_null=True),
        "chi2_p": serializers.FloatField(allow_null=True),
        "chi2_yates": serializers.FloatField(allow_null=True),
        "chi2_yates_p": serializers.FloatField(allow_null=True),
        "fisher_p": serializers.FloatField(allow_null=True),
        "odds_ratio": serializers.FloatField(allow_null=True),
        "type1_single": serializers.DictField(help_text="k, n, proportion and its Wilson 95 % interval."),
        "type2_double": serializers.DictField(),
        "type3": serializers.DictField(),
        "outcomes": serializers.DictField(child=serializers.IntegerField()),
        "prediction_agreement": serializers.DictField(),
        "techniques": serializers.ListField(child=serializers.DictField()),
        "annotated_donors": serializers.IntegerField(),
        "systems": serializers.DictField(help_text="Per system: label and donors per type (final annotations)."),
        "study_table4": serializers.DictField(),
    },
)


class CohortStatistics(ActorMixin, APIView):
    """Your centre's cohort: types per system, Table 4 with its tests, prediction agreement."""

    @extend_schema(responses={200: CohortOut, 403: ErrorOut})
    def get(self, request):
        actor = self.actor
        require(actor, Action.VIEW_COHORT)
        return Response(cohort.cohort_statistics(actor.user.centre))
