"""REST: the stateless classifier, annotations and their results, surgical outcomes."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_common import ActorMixin, ErrorDetailSerializer, error_body
from core.errors import NotFound
from core.roles import Action
from donors import selectors as donor_selectors
from donors import services as donor_services
from imaging import selectors as imaging_selectors

from . import selectors, services
from .diagram import diagram_svg
from .document import classify_document
from .models import Annotation, SurgicalOutcome
from .outcomes import TECHNIQUE_COUNTS
from .presets import preset_document
from .services import errors_by_field

TYPICAL = preset_document("typical_right_lobe")

CLASSIFY_EXAMPLE = OpenApiExample("Typical right lobe, RHD 7 mm", value=TYPICAL, request_only=True)
RESULT_EXAMPLE = OpenApiExample(
    "Result",
    response_only=True,
    value={
        "valid": True,
        "errors": [],
        "results": {
            "proposed": {
                "type": "1",
                "graft_ducts": 1,
                "exits": ["RHD"],
                "rule": "one exit, RHD 7 mm >= 5 mm",
                "unrepresented": [],
                "provisional": False,
                "exit_lengths": {"RHD": 7},
                "flags": [],
            },
            "huang": {
                "type": "1",
                "rule": "RAHD and RPHD join to form the RHD",
                "unrepresented": [],
                "provisional": False,
            },
        },
        "prediction": {
            "anastomoses": 1,
            "suitability": "suitable",
            "technique": "end-to-end",
            "technique_basis": "no recipient given: duct-to-duct assumed",
            "probability": {
                "value": 0.816,
                "ci95": [0.68, 0.92],
                "prior_cases": 36,
                "prior_matched": 30,
                "local_cases": 0,
                "local_matched": 0,
                "model": "beta-binomial",
            },
        },
    },
)
INVALID_EXAMPLE = OpenApiExample(
    "Invalid document",
    response_only=True,
    status_codes=["400"],
    value={
        "valid": False,
        "errors": ["RHD.length_mm: needed to classify (single graft duct)"],
        "results": None,
        "prediction": None,
        "error": {
            "code": "invalid",
            "message": "RHD.length_mm: needed to classify (single graft duct)",
            "fields": {"RHD.length_mm": ["needed to classify (single graft duct)"]},
        },
    },
)

ResultDocument = inline_serializer(
    "ClassificationResultDocument",
    fields={
        "valid": serializers.BooleanField(),
        "errors": serializers.ListField(child=serializers.CharField()),
        "results": serializers.DictField(allow_null=True),
        "prediction": serializers.DictField(allow_null=True),
    },
)

InvalidResultDocument = inline_serializer(
    "ClassificationInvalidDocument",
    fields={
        # Absent when the body itself could not be read (not JSON, nested too deep, NUL characters).
        "valid": serializers.BooleanField(required=False),
        "errors": serializers.ListField(child=serializers.CharField(), required=False),
        "results": serializers.DictField(allow_null=True, required=False),
        "prediction": serializers.DictField(allow_null=True, required=False),
        "error": ErrorDetailSerializer(help_text="The API's common error shape, beside the result document."),
    },
)


def result_response(result: dict, *, extra: dict | None = None) -> Response:
    """200 with the result document, or 400 with it and the common error shape beside it."""
    body = dict(result) | (extra or {})
    if result["valid"]:
        return Response(body)
    fields = errors_by_field(result["errors"])
    body |= error_body("invalid", result["errors"][0], fields)
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


class ClassifyView(ActorMixin, APIView):
    """Classify an anatomy document without storing anything (hospital systems, live preview).

    The probability is updated with your centre's recorded outcomes; pass `donor` to plan the
    technique for that donor's recipient."""

    @extend_schema(
        request=inline_serializer(
            "AnatomyDocument",
            fields={
                "format": serializers.CharField(),
                "graft": serializers.CharField(),
                "ducts": serializers.ListField(child=serializers.DictField()),
            },
        ),
        responses={200: ResultDocument, 400: InvalidResultDocument},
        parameters=[
            OpenApiParameter(
                "include", str, description="`diagram` adds `diagram_svg`, the duct diagram", required=False
            ),
            OpenApiParameter(
                "donor", int, description="a donor of your centre: its recipient decides the technique", required=False
            ),
        ],
        examples=[CLASSIFY_EXAMPLE, RESULT_EXAMPLE, INVALID_EXAMPLE],
    )
    def post(self, request):
        actor = self.actor
        donor_services.require(actor, Action.CLASSIFY)
        recipient = None
        donor_id = request.query_params.get("donor")
        if donor_id:
            donor = donor_selectors.donor_for(actor=actor, pk=donor_id)
            recipient = selectors.recipient_context(donor)
            donor_services.record_donor_read(actor=actor, donor=donor, what="recipient details to plan the technique")
        result = classify_document(
            request.data, recipient=recipient, local_tallies=selectors.centre_tallies(actor.centre_id)
        )
        extra = None
        if request.query_params.get("include") == "diagram" and result["valid"]:
            extra = {"diagram_svg": diagram_svg(request.data, result["results"]["proposed"]["exits"])}
        return result_response(result, extra=extra)


class RunOut(serializers.Serializer):
    id = serializers.IntegerField()
    revision = serializers.IntegerField()
    rules_version = serializers.CharField()
    document_sha256 = serializers.CharField()
    anatomy = serializers.JSONField()
    prediction = serializers.JSONField()
    created_at = serializers.DateTimeField()
    results = serializers.SerializerMethodField()

    def get_results(self, run) -> dict:
        return {result.system: result.detail for result in run.results.all()}


class AnnotationOut(serializers.ModelSerializer):
    donor = serializers.IntegerField(source="donor_id")
    finalised_by = serializers.CharField(source="finalised_by.username", allow_null=True, default=None)
    provenance = serializers.JSONField(
        help_text="Which ducts were taken from a tree proposal ('proposal'), and which were edited by hand "
        "since ('edited'); a duct not listed was drawn by hand."
    )
    donor_code = serializers.CharField(source="donor.code")
    current_run = serializers.SerializerMethodField()

    class Meta:
        model = Annotation
        fields = [
            "id",
            "donor",
            "donor_code",
            "document",
            "revision",
            "state",
            "study_uid",
            "series_uid",
            "classification",
            "classification_error",
            "finalised_at",
            "version",
            "provenance",
            "finalised_by",
            "created_at",
            "updated_at",
            "current_run",
        ]

    def get_current_run(self, annotation) -> dict | None:
        run = selectors.current_run(annotation)
        return RunOut(run).data if run else None


class AnnotationIn(serializers.Serializer):
    donor = serializers.IntegerField(help_text="The donor's id.")
    document = serializers.JSONField()
    study_uid = serializers.CharField(required=False, allow_blank=True, max_length=64)


class AnnotationUpdateIn(serializers.Serializer):
    document = serializers.JSONField()
    study_uid = serializers.CharField(required=False, allow_blank=True, max_length=64)
    version = serializers.IntegerField(help_text="The version you read: a stale one is refused with 409.")


class VersionIn(serializers.Serializer):
    version = serializers.IntegerField()


def _annotation(actor, pk) -> Annotation:
    annotation = Annotation.objects.select_related("donor").filter(pk=pk).first() if str(pk).isdigit() else None
    if annotation is None or annotation.donor.centre_id != actor.centre_id:
        if annotation is not None:
            donor_services.record_refused_access(
                actor=actor,
                record_type="classification.Annotation",
                record_id=pk,
                target_centre_id=annotation.donor.centre_id,
                donor_id=annotation.donor_id,
            )
        raise NotFound(f"no annotation {pk} in your centre")
    found = selectors.annotation_of(actor=actor, donor=annotation.donor)
    if found is None:  # removed since the read above
        raise NotFound(f"no annotation {pk} in your centre")
    return found


class AnnotationList(ActorMixin, APIView):
    """The centre's anatomy annotations; POST records a donor's anatomy (queued for classification)."""

    @extend_schema(responses={200: AnnotationOut(many=True)})
    def get(self, request):
        actor = self.actor
        annotations = list(selectors.annotation_list(actor=actor, state=request.query_params.get("state", "")))
        from core.audit import record_reads

        record_reads(actor=actor, donors=[a.donor for a in annotations], summary="listed anatomy annotations")
        return Response(AnnotationOut(annotations, many=True).data)

    @extend_schema(
        request=AnnotationIn,
        responses={201: AnnotationOut},
        examples=[OpenApiExample("Record anatomy", value={"donor": 1, "document": TYPICAL}, request_only=True)],
    )
    def post(self, request):
        actor = self.actor
        serializer = AnnotationIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        donor = donor_selectors.donor_for(actor=actor, pk=data["donor"], action=Action.RECORD_ANATOMY)
        if Annotation.objects.filter(donor=donor).exists():
            return Response(
                error_body(
                    "conflict",
                    "the donor already has an annotation: update it instead",
                    {"donor": ["already annotated"]},
                ),
                status=409,
            )
        services.save_annotation(
            actor=actor, donor=donor, document=data["document"], study_uid=data.get("study_uid", "")
        )
        return Response(AnnotationOut(selectors.annotation_of(actor=actor, donor=donor)).data, status=201)


class AnnotationDetail(ActorMixin, APIView):
    @extend_schema(responses={200: AnnotationOut})
    def get(self, request, pk):
        actor = self.actor
        annotation = _annotation(actor, pk)
        donor_services.record_donor_read(actor=actor, donor=annotation.donor, what="biliary anatomy")
        return Response(AnnotationOut(annotation).data)

    @extend_schema(request=AnnotationUpdateIn, responses={200: AnnotationOut})
    def put(self, request, pk):
        actor = self.actor
        donor_services.require(actor, Action.RECORD_ANATOMY)
        annotation = _annotation(actor, pk)
        serializer = AnnotationUpdateIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.save_annotation(
            actor=actor,
            donor=annotation.donor,
            document=data["document"],
            expected_version=data.get("version"),
            study_uid=data.get("study_uid", ""),
        )
        return Response(AnnotationOut(selectors.annotation_of(actor=actor, donor=annotation.donor)).data)


class AnnotationFinalise(ActorMixin, APIView):
    """Mark the annotation final: from then on its results count as the centre's."""

    @extend_schema(request=VersionIn, responses={200: AnnotationOut})
    def post(self, request, pk):
        actor = self.actor
        donor_services.require(actor, Action.FINALISE_ANATOMY)
        annotation = _annotation(actor, pk)
        serializer = VersionIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.finalise_annotation(
            actor=actor, annotation=annotation, expected_version=serializer.validated_data["version"]
        )
        return Response(AnnotationOut(selectors.annotation_of(actor=actor, donor=annotation.donor)).data)


class AnnotationResults(ActorMixin, APIView):
    """Every stored classification run of the annotation, newest first (old runs stay for the record)."""

    @extend_schema(responses={200: RunOut(many=True)})
    def get(self, request, pk):
        actor = self.actor
        annotation = _annotation(actor, pk)
        donor_services.record_donor_read(actor=actor, donor=annotation.donor, what="classification results")
        return Response(RunOut(selectors.run_history(annotation=annotation), many=True).data)


class OutcomeIO(serializers.ModelSerializer):
    technique = serializers.ChoiceField(choices=list(TECHNIQUE_COUNTS), required=False, allow_blank=True)
    anastomoses = serializers.IntegerField(help_text="Number of biliary anastomoses done (1-8).")
    version = serializers.IntegerField(required=False)
    operated_on = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="Date of the operation: required when the outcome is first recorded (it sets the donor to "
        "donated); not before 1900-01-01, not in the future, not before the team's decision.",
    )

    class Meta:
        model = SurgicalOutcome
        fields = [
            "operated_on",
            "anastomoses",
            "technique",
            "ductoplasty",
            "complications",
            "version",
            "proposed_type",
            "predicted_anastomoses",
            "source",
            "recorded_at",
        ]
        read_only_fields = ["proposed_type", "predicted_anastomoses", "source", "recorded_at"]


class DonorOutcome(ActorMixin, APIView):
    """What surgery did for this donor; compared with the prediction frozen at recording."""

    @extend_schema(responses={200: OutcomeIO})
    def get(self, request, pk):
        actor = self.actor
        donor = donor_selectors.donor_for(actor=actor, pk=pk)
        outcome = selectors.outcome_of(donor=donor)
        if outcome is None:
            raise NotFound("no outcome recorded for this donor")
        donor_services.record_donor_read(actor=actor, donor=donor, what="surgical outcome")
        return Response(OutcomeIO(outcome).data)

    @extend_schema(request=OutcomeIO, responses={201: OutcomeIO, 200: OutcomeIO})
    def post(self, request, pk):
        actor = self.actor
        donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.RECORD_OUTCOME)
        serializer = OutcomeIO(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        version = values.pop("version", None)
        existed = selectors.outcome_of(donor=donor) is not None
        outcome = services.record_outcome(actor=actor, donor=donor, values=values, expected_version=version)
        return Response(OutcomeIO(outcome).data, status=200 if existed else 201)


class Worklist(ActorMixin, APIView):
    """Donors with a final anatomy: predicted anastomoses, technique, probability, outcome."""

    @extend_schema(
        responses={
            200: inline_serializer(
                "WorklistRow",
                fields={
                    "donor": serializers.IntegerField(),
                    "donor_code": serializers.CharField(),
                    "proposed_type": serializers.CharField(),
                    "prediction": serializers.DictField(),
                    "outcome": serializers.DictField(allow_null=True),
                },
                many=True,
            )
        }
    )
    def get(self, request):
        actor = self.actor
        rows = selectors.surgical_worklist(actor=actor)
        from core.audit import record_reads

        record_reads(actor=actor, donors=[row["donor"] for row in rows], summary="surgical worklist")
        return Response(
            [
                {
                    "donor": row["donor"].pk,
                    "donor_code": row["donor"].code,
                    "proposed_type": row["result"]["results"]["proposed"]["type"] if row["result"]["valid"] else None,
                    "prediction": row["result"]["prediction"],
                    "outcome": OutcomeIO(row["outcome"]).data if row["outcome"] else None,
                }
                for row in rows
            ]
        )


class TakeProposalIn(serializers.Serializer):
    proposal = serializers.IntegerField(help_text="The tree proposal's id (see /api/v1/donors/{id}/tree-proposal/).")
    ducts = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        allow_null=True,
        help_text="The duct ids to take; absent or null takes the whole proposal.",
    )
    version = serializers.IntegerField(
        required=False, allow_null=True, help_text="The anatomy's version you read (needed once it exists)."
    )


class DonorTakeProposal(ActorMixin, APIView):
    """Take a tree proposal into the donor's draft anatomy, whole or duct by duct. The result must be a
    valid document; the draft is then edited and marked final by the radiologist as any other."""

    @extend_schema(request=TakeProposalIn, responses={200: AnnotationOut})
    def post(self, request, pk):
        actor = self.actor
        donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.RECORD_ANATOMY)
        serializer = TakeProposalIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        proposal = imaging_selectors.tree_proposal_for(actor=actor, pk=data["proposal"], action=Action.RECORD_ANATOMY)
        services.take_tree_proposal(
            actor=actor,
            donor=donor,
            proposal=proposal,
            duct_ids=data.get("ducts"),
            expected_version=data.get("version"),
        )
        return Response(AnnotationOut(selectors.annotation_of(actor=actor, donor=donor)).data)
