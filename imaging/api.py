"""REST: DICOM uploads and their reports, studies and series, MRCP calls, measurements.

Pictures (MIPs, slices, thumbnails) and DICOM files are served by the permission-checked
views of `imaging.views`; the JSON here gives their addresses.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_common import ActorMixin
from core.errors import InvalidInput, NotFound
from core.roles import Action
from donors import selectors as donor_selectors
from donors import services as donor_services
from donors.models import Centre

from . import proposals, selectors, services
from .models import DicomPeer, Measurement, Series, Study, Upload, UploadFile


class UploadIn(serializers.Serializer):
    donor = serializers.IntegerField(help_text="The donor's id.")
    files = serializers.ListField(
        child=serializers.FileField(), help_text="DICOM files and/or zip archives (send the field once per file)."
    )


class UploadFileOut(serializers.ModelSerializer):
    class Meta:
        model = UploadFile
        fields = ["name", "size", "outcome", "reason", "warnings", "sop_instance_uid", "series"]


class SeriesOut(serializers.ModelSerializer):
    series_uid = serializers.CharField(source="series_instance_uid")
    instances = serializers.IntegerField(source="instance_count")
    slice_count = serializers.IntegerField(
        help_text="Slices to scroll: one per frame (an Enhanced MR file holds the whole series in one instance)."
    )
    mrcp = serializers.BooleanField(source="used_as_mrcp", help_text="Used as the MRCP (override, else recognition).")
    viewer_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    mip_url = serializers.SerializerMethodField()

    class Meta:
        model = Series
        fields = [
            "id",
            "series_uid",
            "series_number",
            "description",
            "protocol",
            "modality",
            "echo_time",
            "instances",
            "slice_count",
            "mrcp",
            "is_mrcp",
            "mrcp_reasons",
            "mrcp_override",
            "warnings",
            "rows",
            "columns",
            "pixel_spacing",
            "slice_spacing",
            "orientation",
            "render_state",
            "render_error",
            "viewer_url",
            "thumbnail_url",
            "mip_url",
        ]

    def get_viewer_url(self, series) -> str:
        return reverse("imaging:viewer", args=[series.pk])

    def get_thumbnail_url(self, series) -> str | None:
        return reverse("imaging:thumbnail", args=[series.pk]) if series.thumbnail_path else None

    def get_mip_url(self, series) -> str | None:
        return reverse("imaging:mip", args=[series.pk]) if series.mip_path else None


class StudyOut(serializers.ModelSerializer):
    study_uid = serializers.CharField(source="study_instance_uid")
    identity_open = serializers.BooleanField(
        help_text="The identity is unresolved: a radiologist must confirm the study is the donor's or detach it."
    )
    identity_resolved_by = serializers.CharField(
        source="identity_acknowledged_by.username",
        allow_null=True,
        default=None,
        help_text="Who confirmed or detached the study.",
    )
    identity_resolved_at = serializers.DateTimeField(source="identity_acknowledged_at", allow_null=True)
    series = SeriesOut(many=True)

    class Meta:
        model = Study
        fields = [
            "id",
            "study_uid",
            "donor",
            "description",
            "study_date",
            "patient_id",
            "patient_name",
            "identity_state",
            "identity_warning",
            "identity_open",
            "identity_reason",
            "identity_resolved_by",
            "identity_resolved_at",
            "detached_from",
            "created_at",
            "series",
        ]


class UploadOut(serializers.ModelSerializer):
    processed = serializers.IntegerField(help_text="Files with a report line so far.")
    files = serializers.SerializerMethodField()
    series = serializers.SerializerMethodField()
    ready = serializers.SerializerMethodField()
    identity_warnings = serializers.SerializerMethodField()

    class Meta:
        model = Upload
        fields = [
            "id",
            "donor",
            "state",
            "error",
            "received_files",
            "received_bytes",
            "expected_files",
            "processed",
            "accepted",
            "duplicates",
            "rejected",
            "created_at",
            "started_at",
            "finished_at",
            "ready",
            "identity_warnings",
            "files",
            "series",
        ]

    def _series(self, upload) -> list[Series]:
        if not hasattr(upload, "_series_cache"):
            upload._series_cache = selectors.upload_series(upload) if upload.finished else []
        return upload._series_cache

    @extend_schema_field(UploadFileOut(many=True))
    def get_files(self, upload):
        return UploadFileOut(upload.files.all(), many=True).data

    @extend_schema_field(SeriesOut(many=True))
    def get_series(self, upload):
        return SeriesOut(self._series(upload), many=True).data

    @extend_schema_field(
        inline_serializer(
            "IdentityWarning",
            fields={
                "study": serializers.IntegerField(),
                "warning": serializers.CharField(),
                "open": serializers.BooleanField(),
            },
            many=True,
        )
    )
    def get_identity_warnings(self, upload):
        studies = {s.study for s in self._series(upload)}
        return [
            {"study": study.pk, "warning": study.identity_warning, "open": study.identity_open}
            for study in sorted(studies, key=lambda s: s.pk)
            if study.identity_warning
        ]

    @extend_schema_field(
        serializers.BooleanField(help_text="Imported and every series' pictures rendered (or failed).")
    )
    def get_ready(self, upload):
        if upload.state == Upload.State.FAILED:
            return True
        if upload.state != Upload.State.DONE:
            return False
        return all(s.render_state in (Series.Render.DONE, Series.Render.FAILED) for s in self._series(upload))


class UploadAccepted(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    status_url = serializers.CharField()


class UploadCreate(ActorMixin, APIView):
    """Upload DICOM files or zip archives for a donor; the import runs in the background."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": UploadIn}, responses={202: UploadAccepted})
    def post(self, request):
        actor = self.actor
        donor_services.require(actor, Action.UPLOAD_IMAGES)
        try:
            donor_id = request.data.get("donor")
            received = request.FILES.getlist("files")
        except (TooManyFilesSent, RequestDataTooBig):
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
            raise InvalidInput(
                f"files: too many files in one request (at most {limit}); upload a zip or send them in parts",
                fields={"files": [f"at most {limit} files per request"]},
            ) from None
        if not str(donor_id or "").isdigit():
            raise InvalidInput("donor: the donor's id is required", fields={"donor": ["the donor's id is required"]})
        donor = donor_selectors.donor_for(actor=actor, pk=int(donor_id), action=Action.UPLOAD_IMAGES)
        files = [services.Incoming(f.name, f.size, f) for f in received]
        upload = services.create_upload(actor=actor, donor=donor, files=files, channel=actor.channel)
        url = reverse("api-upload", args=[upload.pk])
        return Response(
            {"id": upload.pk, "state": upload.state, "status_url": url},
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": url},
        )


class UploadDetail(ActorMixin, APIView):
    """Progress of an upload's import and its per-file report."""

    @extend_schema(responses={200: UploadOut})
    def get(self, request, pk):
        actor = self.actor
        upload = selectors.upload_for(actor=actor, pk=pk)
        selectors.record_image_read(
            actor=actor, donor=upload.donor, record=upload, what=f"DICOM upload {upload.pk} report"
        )
        return Response(UploadOut(upload).data)


class DonorStudies(ActorMixin, APIView):
    """The donor's MRCP studies and their series."""

    @extend_schema(responses={200: StudyOut(many=True)})
    def get(self, request, pk):
        actor = self.actor
        donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.VIEW_IMAGES)
        donor_services.record_donor_read(actor=actor, donor=donor, what="MRCP studies")
        return Response(StudyOut(selectors.studies_of(donor=donor), many=True).data)


class IdentityReasonIn(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text="How the identity was checked (required).")


class _StudyIdentityResolution(ActorMixin, APIView):
    """A radiologist's answer to a study whose files do not name the donor: the reason is required."""

    def post(self, request, pk):
        actor = self.actor
        study = selectors.study_for(actor=actor, pk=pk, action=Action.RESOLVE_IMAGE_IDENTITY)
        serializer = IdentityReasonIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.resolve(actor, study, serializer.validated_data["reason"])

    def resolve(self, actor, study, reason: str) -> Response:
        raise NotImplementedError


@extend_schema_view(post=extend_schema(request=IdentityReasonIn, responses={200: StudyOut}))
class StudyConfirm(_StudyIdentityResolution):
    """A radiologist confirms the study is the donor's although the files name someone else (or no one)."""

    def resolve(self, actor, study, reason: str) -> Response:
        return Response(StudyOut(services.confirm_identity(actor=actor, study=study, reason=reason)).data)


@extend_schema_view(post=extend_schema(request=IdentityReasonIn, responses={200: StudyOut}))
class StudyDetach(_StudyIdentityResolution):
    """A radiologist detaches a study that is not the donor's; it is kept among the centre's unmatched studies."""

    def resolve(self, actor, study, reason: str) -> Response:
        return Response(StudyOut(services.detach_study(actor=actor, study=study, reason=reason)).data)


@extend_schema_view(post=extend_schema(request=IdentityReasonIn, responses={204: None}))
class StudyDiscard(_StudyIdentityResolution):
    """A radiologist discards an unmatched study that is no donor's; its files are deleted (audited)."""

    def resolve(self, actor, study, reason: str) -> Response:
        services.discard_study(actor=actor, study=study, reason=reason)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AttachIn(serializers.Serializer):
    donor = serializers.IntegerField(help_text="The id of the donor to file the study under.")


class StudyAttach(ActorMixin, APIView):
    """A radiologist files an unmatched study under a donor of the centre; its identity is checked again."""

    @extend_schema(request=AttachIn, responses={200: StudyOut})
    def post(self, request, pk):
        actor = self.actor
        study = selectors.study_for(actor=actor, pk=pk, action=Action.RESOLVE_IMAGE_IDENTITY)
        serializer = AttachIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            donor = donor_selectors.donor_for(
                actor=actor, pk=serializer.validated_data["donor"], action=Action.RESOLVE_IMAGE_IDENTITY
            )
        except NotFound as missing:
            raise InvalidInput(missing.message, fields={"donor": [missing.message]}) from None
        study = services.attach_study(actor=actor, study=study, donor=donor)
        return Response(StudyOut(study).data)


class UnmatchedStudies(ActorMixin, APIView):
    """The centre's studies detached from a donor, waiting to be attached to the right one."""

    pagination_class = None

    @extend_schema(responses={200: StudyOut(many=True)})
    def get(self, request):
        actor = self.actor
        studies = selectors.unmatched_studies(actor=actor)
        selectors.record_unmatched_list_read(actor=actor, count=len(studies))
        return Response(StudyOut(studies, many=True).data)


class SliceOut(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.IntegerField(help_text="The instance holding the slice.")
    frame = serializers.IntegerField(help_text="The instance's frame it is (1-based, as DICOM numbers frames).")
    instance_number = serializers.IntegerField(allow_null=True)
    position = serializers.ListField(child=serializers.FloatField(), allow_null=True)


class SeriesDetailOut(SeriesOut):
    slices = serializers.SerializerMethodField()
    mip_shape = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    mip_window = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    slice_window = serializers.ListField(child=serializers.FloatField(), allow_null=True)

    class Meta(SeriesOut.Meta):
        fields = SeriesOut.Meta.fields + ["mip_shape", "mip_window", "slice_window", "slices"]

    @extend_schema_field(SliceOut(many=True))
    def get_slices(self, series):
        slices = [
            {
                "index": instance.slice_index + place,
                "id": instance.pk,
                "frame": frame + 1,
                "instance_number": instance.instance_number,
                "position": instance.frame_positions[frame]
                if instance.frames > 1 and instance.frame_positions
                else (instance.position if instance.frames == 1 else None),
            }
            for instance in series.instances.order_by("slice_index")
            for place, frame in enumerate(instance.slice_frames())
        ]
        return SliceOut(slices, many=True).data


class SeriesDetail(ActorMixin, APIView):
    @extend_schema(responses={200: SeriesDetailOut})
    def get(self, request, pk):
        actor = self.actor
        series = selectors.series_for(actor=actor, pk=pk)
        selectors.record_series_read(actor=actor, series=series, what=f"MRCP series {series.pk}")
        return Response(SeriesDetailOut(series).data)


class MrcpIn(serializers.Serializer):
    mrcp = serializers.BooleanField(allow_null=True, help_text="true, false, or null to follow the recognition.")


class SeriesMrcp(ActorMixin, APIView):
    """A radiologist's call whether the series is the MRCP."""

    @extend_schema(request=MrcpIn, responses={200: SeriesOut})
    def post(self, request, pk):
        actor = self.actor
        series = selectors.series_for(actor=actor, pk=pk, action=Action.MEASURE_IMAGES)
        serializer = MrcpIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        series = services.set_mrcp_override(actor=actor, series=series, mrcp=serializer.validated_data["mrcp"])
        return Response(SeriesOut(series).data)


class SeriesRender(ActorMixin, APIView):
    """Make a series' pictures again (after a failure, or a render that never finished)."""

    @extend_schema(request=None, responses={202: SeriesOut, 409: None})
    def post(self, request, pk):
        actor = self.actor
        series = selectors.series_for(actor=actor, pk=pk, action=Action.UPLOAD_IMAGES)
        series = services.render_again(actor=actor, series=series)
        return Response(SeriesOut(series).data, status=status.HTTP_202_ACCEPTED)


POINTS_HELP = (
    "Two points. kind 'slices': {slice, row, col} each (row and column may be fractional, 0 is a pixel "
    "centre; the slices may differ); kind 'mip': {row, col} on the MIP array (see mip_shape)."
)


class DistanceIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Measurement.Kind.choices)
    points = serializers.ListField(child=serializers.DictField(), min_length=2, max_length=2, help_text=POINTS_HELP)


class DistanceOut(serializers.Serializer):
    kind = serializers.CharField()
    points = serializers.ListField(child=serializers.DictField())
    patient_points = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()))
    length_mm = serializers.FloatField()


class SeriesDistance(ActorMixin, APIView):
    """The distance between two points in mm, in patient space, without saving anything."""

    @extend_schema(request=DistanceIn, responses={200: DistanceOut})
    def post(self, request, pk):
        actor = self.actor
        series = selectors.series_for(actor=actor, pk=pk)
        serializer = DistanceIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return Response(services.measure(series=series, kind=data["kind"], points=data["points"]))


class MeasurementOut(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username")
    series_description = serializers.CharField(source="series.description")

    class Meta:
        model = Measurement
        fields = [
            "id",
            "label",
            "length_mm",
            "series",
            "series_description",
            "kind",
            "points",
            "patient_points",
            "created_by",
            "created_at",
        ]


class MeasurementIn(DistanceIn):
    series = serializers.IntegerField()
    # DRF's serializer metaclass takes declared fields out of the class, so this field does not
    # replace `Field.label`; the stubs cannot express that.
    label = serializers.CharField(  # type: ignore[assignment]
        required=False, allow_blank=True, max_length=40, help_text="What was measured, e.g. RHD"
    )


class DonorMeasurements(ActorMixin, APIView):
    """Distances measured on the donor's MRCP (a plain list, newest first); POST saves one."""

    pagination_class = None

    @extend_schema(responses={200: MeasurementOut(many=True)})
    def get(self, request, pk):
        actor = self.actor
        donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.VIEW_IMAGES)
        donor_services.record_donor_read(actor=actor, donor=donor, what="MRCP measurements")
        return Response(MeasurementOut(selectors.measurements_of(donor=donor), many=True).data)

    @extend_schema(
        request=MeasurementIn,
        responses={201: MeasurementOut},
        examples=[
            OpenApiExample(
                "Right hepatic duct on two slices",
                request_only=True,
                value={
                    "series": 12,
                    "kind": "slices",
                    "label": "RHD",
                    "points": [{"slice": 30, "row": 120.5, "col": 140.0}, {"slice": 33, "row": 126.0, "col": 151.5}],
                },
            )
        ],
    )
    def post(self, request, pk):
        actor = self.actor
        donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.MEASURE_IMAGES)
        serializer = MeasurementIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        series = selectors.series_for(actor=actor, pk=data["series"], action=Action.MEASURE_IMAGES)
        if series.study.donor_id != donor.pk:
            raise InvalidInput("series: not a series of this donor", fields={"series": ["not a series of this donor"]})
        measurement = services.save_measurement(
            actor=actor,
            series=series,
            kind=data["kind"],
            points=data["points"],
            label=data.get("label", ""),
        )
        return Response(MeasurementOut(measurement).data, status=status.HTTP_201_CREATED)


class DicomPeerOut(serializers.ModelSerializer):
    class Meta:
        model = DicomPeer
        fields = ["id", "ae_title", "host", "created_at"]


class DicomPeerIn(serializers.Serializer):
    ae_title = serializers.CharField(
        max_length=64,
        allow_blank=True,
        trim_whitespace=False,
        help_text="The calling AE title of the sending system (1-16 characters, no backslash).",
    )
    host = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text="The address it calls from; empty: any."
    )


class DicomPeers(ActorMixin, APIView):
    """The systems (PACS, scanners) allowed to send studies to the DICOM node for the centre."""

    pagination_class = None

    @extend_schema(responses={200: DicomPeerOut(many=True)})
    def get(self, request):
        return Response(DicomPeerOut(selectors.dicom_peers_of(actor=self.actor), many=True).data)

    @extend_schema(request=DicomPeerIn, responses={201: DicomPeerOut})
    def post(self, request):
        actor = self.actor
        donor_services.require(actor, Action.UPLOAD_IMAGES)
        serializer = DicomPeerIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        centre = Centre.objects.get(pk=donor_services.actor_centre_id(actor))
        peer = services.register_dicom_peer(
            actor=actor,
            centre=centre,
            ae_title=serializer.validated_data["ae_title"],
            host=serializer.validated_data.get("host", ""),
        )
        return Response(DicomPeerOut(peer).data, status=status.HTTP_201_CREATED)


TreeProposalOut = inline_serializer(
    "TreeProposal",
    fields={
        "id": serializers.IntegerField(allow_null=True),
        "series": serializers.IntegerField(allow_null=True),
        "created_at": serializers.CharField(allow_null=True),
        "graft": serializers.CharField(),
        "state": serializers.ChoiceField(choices=["queued", "running", "ready", "failed"]),
        "reason": serializers.CharField(help_text="Why no tree was proposed, when it failed."),
        "extractor_version": serializers.CharField(),
        "low_confidence_below": serializers.FloatField(),
        "document": serializers.DictField(allow_null=True, help_text="The proposed biliary-anatomy/1 document."),
        "ducts": serializers.ListField(
            child=serializers.DictField(),
            help_text="Each duct: id, drains_into, segments, length_mm, junction_mm, confidence, "
            "junction_confidence, low_confidence.",
        ),
        "undrained_segments": serializers.ListField(
            child=serializers.IntegerField(),
            help_text="The liver's segments (2-8) no proposed duct drains: a duct was missed there.",
        ),
        "duct_confidence": serializers.DictField(child=serializers.FloatField()),
        "junction_confidence": serializers.DictField(child=serializers.FloatField()),
        "centrelines": serializers.DictField(
            child=serializers.ListField(child=serializers.ListField(child=serializers.FloatField())),
            help_text="By duct id: points in patient coordinates (mm, DICOM LPS).",
        ),
    },
)


class SeriesTreeProposal(ActorMixin, APIView):
    """The duct tree proposed from this 3D MRCP series for the donor's planned graft. A proposal is
    never the anatomy: a radiologist takes it into the draft and confirms it."""

    @extend_schema(responses={200: TreeProposalOut})
    def get(self, request, pk):
        actor = self.actor
        series = selectors.series_for(actor=actor, pk=pk)
        donor = series.study.donor
        proposal = selectors.current_tree_proposal(series=series, graft=donor.planned_graft) if donor else None
        if proposal is None or donor is None:
            why = proposals.why_not_proposable(series) if donor else "the study is not filed under a donor"
            raise NotFound("no tree proposal for this series" + (f": {why}" if why else " yet"))
        donor_services.record_donor_read(actor=actor, donor=donor, what=f"tree proposal {proposal.pk}")
        return Response(proposals.body_of(proposal))

    @extend_schema(request=None, responses={202: TreeProposalOut})
    def post(self, request, pk):
        actor = self.actor
        series = selectors.series_for(actor=actor, pk=pk, action=Action.RECORD_ANATOMY)
        proposal = services.request_tree_proposal(actor=actor, series=series)
        return Response(proposals.body_of(proposal), status=status.HTTP_202_ACCEPTED)


class DonorTreeProposal(ActorMixin, APIView):
    """The donor's current tree proposal: of the newest MRCP series that has one, for the planned graft."""

    @extend_schema(responses={200: TreeProposalOut})
    def get(self, request, pk):
        actor = self.actor
        donor = donor_selectors.donor_for(actor=actor, pk=pk, action=Action.VIEW_IMAGES)
        proposal = selectors.donor_tree_proposal(donor=donor)
        if proposal is None:
            raise NotFound("no tree proposal for this donor yet")
        donor_services.record_donor_read(actor=actor, donor=donor, what=f"tree proposal {proposal.pk}")
        return Response(proposals.body_of(proposal))
