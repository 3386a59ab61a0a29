"""REST API for donors, recipients and status changes. Thin: serializers parse, services write."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.validators import UniqueTogetherValidator

from core.api_common import ActorMixin
from core.audit import record_reads, record_recipient_reads
from core.errors import InvalidInput

from . import selectors, services
from .models import AboGroup, Donor, Graft, Recipient, StatusChange
from .workflow import Status


class RecipientOut(serializers.ModelSerializer):
    paediatric = serializers.BooleanField(read_only=True)

    class Meta:
        model = Recipient
        fields = [
            "id",
            "code",
            "age_years",
            "weight_kg",
            "abo",
            "diagnosis",
            "diagnosis_detail",
            "own_duct_usable",
            "paediatric",
            "version",
            "created_at",
            "updated_at",
        ]


class RecipientIn(serializers.ModelSerializer):
    class Meta:
        model = Recipient
        fields = ["code", "age_years", "weight_kg", "abo", "diagnosis", "diagnosis_detail", "own_duct_usable"]
        validators: list[UniqueTogetherValidator] = []  # codes are unique per centre: the service checks


class RecipientUpdateIn(RecipientIn):
    version = serializers.IntegerField(help_text="The version you read: a stale one is refused with 409.")
    always_required = ("version",)

    class Meta(RecipientIn.Meta):
        fields = RecipientIn.Meta.fields + ["version"]


class DonorOut(serializers.ModelSerializer):
    bmi = serializers.DecimalField(max_digits=4, decimal_places=1, read_only=True, allow_null=True)
    status_label = serializers.SerializerMethodField()

    class Meta:
        model = Donor
        fields = [
            "id",
            "code",
            "mrn",
            "given_name",
            "family_name",
            "date_of_birth",
            "sex",
            "height_cm",
            "weight_kg",
            "bmi",
            "abo",
            "relationship",
            "planned_graft",
            "status",
            "status_label",
            "recipient",
            "version",
            "created_at",
            "updated_at",
        ]

    def get_status_label(self, donor) -> str:
        return Status(donor.status).label


def _iso(moment, zone) -> str:
    """As DRF's DateTimeField renders it: in the current time zone, ISO 8601, 'Z' for UTC."""
    text = moment.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


LIST_FIELDS = (
    "id",
    "code",
    "mrn",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "height_cm",
    "weight_kg",
    "abo",
    "relationship",
    "planned_graft",
    "status",
    "recipient_id",
    "version",
    "created_at",
    "updated_at",
)


def donor_rows(rows) -> list[dict]:
    """The list page's rows from `.values(*LIST_FIELDS)`: exactly DonorOut's output, built without
    model instances or per-field serializer overhead (the list is what hospital systems poll)."""
    zone = timezone.get_current_timezone()
    out = []
    for d in rows:
        bmi = Donor.bmi_for(height_cm=d["height_cm"], weight_kg=d["weight_kg"])
        out.append(
            {
                "id": d["id"],
                "code": d["code"],
                "mrn": d["mrn"],
                "given_name": d["given_name"],
                "family_name": d["family_name"],
                "sex": d["sex"],
                "date_of_birth": d["date_of_birth"].isoformat() if d["date_of_birth"] else None,
                "height_cm": None if d["height_cm"] is None else f"{d['height_cm']:.1f}",
                "weight_kg": None if d["weight_kg"] is None else f"{d['weight_kg']:.1f}",
                "bmi": None if bmi is None else f"{bmi:.1f}",
                "abo": d["abo"],
                "relationship": d["relationship"],
                "planned_graft": d["planned_graft"],
                "status": d["status"],
                "status_label": Status(d["status"]).label,
                "recipient": d["recipient_id"],
                "version": d["version"],
                "created_at": _iso(d["created_at"], zone),
                "updated_at": _iso(d["updated_at"], zone),
            }
        )
    return out


class CentreRecipientField(serializers.PrimaryKeyRelatedField):
    """A recipient of the requesting centre (`context["centre_id"]`): another centre's id is
    answered exactly as one that does not exist, so an error discloses nothing."""

    default_error_messages = {"does_not_exist": "no recipient {pk_value} in your centre"}

    def get_queryset(self):
        centre_id = self.context.get("centre_id")
        if centre_id is None:  # no requesting centre: no recipient is one of its own
            return Recipient.objects.none()
        return Recipient.objects.filter(centre_id=centre_id)


class DonorIn(serializers.ModelSerializer):
    date_of_birth = serializers.DateField()
    height_cm = serializers.DecimalField(max_digits=4, decimal_places=1)
    weight_kg = serializers.DecimalField(max_digits=4, decimal_places=1)
    recipient = CentreRecipientField(required=False, allow_null=True)

    class Meta:
        model = Donor
        fields = list(services.DONOR_FIELDS)
        validators: list[UniqueTogetherValidator] = []  # codes are unique per centre: the service checks


class DonorUpdateIn(DonorIn):
    version = serializers.IntegerField(help_text="The version you read: a stale one is refused with 409.")
    # Required on PATCH too (the schema's AutoSchema keeps it so in the Patched... components).
    always_required = ("version",)

    class Meta(DonorIn.Meta):
        fields = DonorIn.Meta.fields + ["version"]


class TransitionIn(serializers.Serializer):
    to_status = serializers.ChoiceField(choices=[s.value for s in Status])
    reason = serializers.CharField(max_length=2000)
    version = serializers.IntegerField(required=False)


class TransitionOut(serializers.ModelSerializer):
    changed_by = serializers.CharField(source="changed_by.username")

    class Meta:
        model = StatusChange
        fields = ["id", "from_status", "to_status", "reason", "changed_by", "changed_at"]


LIST_FILTERS = {
    "status": [s.value for s in Status],
    "planned_graft": list(Graft.values),
    "abo": list(AboGroup.values),
}
LIST_PARAMETERS = [
    OpenApiParameter(
        name, str, enum=choices, required=False, description=f"only donors with this {name.replace('_', ' ')}"
    )
    for name, choices in LIST_FILTERS.items()
] + [OpenApiParameter("search", str, required=False, description="code, name or MRN contains")]


def list_filters(params) -> dict:
    """The list's query filters, each checked against its choices (a bad one is a 400 naming it)."""
    errors = {
        name: [f"'{params[name]}' is not one of: {', '.join(choices)}"]
        for name, choices in LIST_FILTERS.items()
        if params.get(name) and params[name] not in choices
    }
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], fields=errors)
    return {
        "search": params.get("search", "").strip(),
        "status": params.get("status", ""),
        "graft": params.get("planned_graft", ""),
        "abo": params.get("abo", ""),
    }


def _validated(serializer_class, data, *, partial=False, actor=None):
    context = {"centre_id": actor.centre_id} if actor is not None else {}
    serializer = serializer_class(data=data, partial=partial, context=context)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


DONOR_EXAMPLE = OpenApiExample(
    "A right-lobe donor",
    value={
        "code": "D-2026-014",
        "mrn": "MRN0042",
        "given_name": "Ayse",
        "family_name": "Demir",
        "date_of_birth": "1990-04-12",
        "sex": "female",
        "height_cm": "165.0",
        "weight_kg": "62.0",
        "abo": "A",
        "relationship": "sibling",
        "planned_graft": "right_lobe",
        "recipient": None,
    },
    request_only=True,
)


class DonorListCreate(ActorMixin, generics.ListCreateAPIView):
    """Donors of your centre; search by code, name or MRN; filter by status, graft and ABO."""

    serializer_class = DonorOut
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Donor.objects.none()
        return selectors.donor_list(actor=self.actor)

    @extend_schema(responses={200: DonorOut(many=True)}, parameters=LIST_PARAMETERS)
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        actor = self.actor
        queryset = selectors.donor_list(actor=actor, **list_filters(request.query_params))
        page = self.paginate_queryset(queryset.values(*LIST_FIELDS))
        record_reads(actor=actor, donors=page, summary="listed donors")
        return self.get_paginated_response(donor_rows(page))

    @extend_schema(request=DonorIn, responses={201: DonorOut}, examples=[DONOR_EXAMPLE])
    def post(self, request, *args, **kwargs):
        actor = self.actor
        values = _validated(DonorIn, request.data, actor=actor)
        donor = services.create_donor(actor=actor, values=values)
        return Response(DonorOut(donor).data, status=status.HTTP_201_CREATED)


class DonorDetail(ActorMixin, generics.GenericAPIView):
    serializer_class = DonorOut
    queryset = Donor.objects.none()

    def get(self, request, pk):
        actor = self.actor
        donor = selectors.donor_for(actor=actor, pk=pk)
        services.record_donor_read(actor=actor, donor=donor)
        return Response(DonorOut(donor).data)

    @extend_schema(request=DonorUpdateIn, responses={200: DonorOut})
    def patch(self, request, pk):
        return self._update(request, pk, partial=True)

    @extend_schema(request=DonorUpdateIn, responses={200: DonorOut})
    def put(self, request, pk):
        return self._update(request, pk, partial=False)

    def _update(self, request, pk, *, partial):
        from core.roles import Action

        actor = self.actor
        donor = selectors.donor_for(actor=actor, pk=pk, action=Action.EDIT_DEMOGRAPHICS)
        values = _validated(DonorUpdateIn, request.data, partial=partial, actor=actor)
        version = values.pop("version", None)
        donor = services.update_donor(actor=actor, donor=donor, expected_version=version, values=values)
        return Response(DonorOut(donor).data)


class DonorTransitions(ActorMixin, generics.GenericAPIView):
    """The donor's status history; POST moves the donor to a new status with a reason."""

    serializer_class = TransitionOut
    queryset = StatusChange.objects.none()
    pagination_class = None

    @extend_schema(responses={200: TransitionOut(many=True)})
    def get(self, request, pk):
        actor = self.actor
        donor = selectors.donor_for(actor=actor, pk=pk)
        services.record_donor_read(actor=actor, donor=donor, what="status history")
        return Response(TransitionOut(selectors.status_history(donor=donor), many=True).data)

    @extend_schema(
        request=TransitionIn,
        responses={201: TransitionOut},
        examples=[
            OpenApiExample(
                "Start evaluation", value={"to_status": "in_evaluation", "reason": "consented"}, request_only=True
            )
        ],
    )
    def post(self, request, pk):
        from core.roles import Action

        actor = self.actor
        donor = selectors.donor_for(actor=actor, pk=pk, action=Action.CHANGE_STATUS)
        values = _validated(TransitionIn, request.data)
        change = services.transition_donor(
            actor=actor,
            donor=donor,
            to_status=values["to_status"],
            reason=values["reason"],
            expected_version=values.get("version"),
        )
        return Response(TransitionOut(change).data, status=status.HTTP_201_CREATED)


class RecipientListCreate(ActorMixin, generics.ListCreateAPIView):
    serializer_class = RecipientOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Recipient.objects.none()
        return selectors.recipient_list(actor=self.actor)

    def list(self, request, *args, **kwargs):
        actor = self.actor
        page = self.paginate_queryset(selectors.recipient_list(actor=actor))
        record_recipient_reads(actor=actor, recipients=page, summary="listed recipients")
        return self.get_paginated_response(RecipientOut(page, many=True).data)

    @extend_schema(request=RecipientIn, responses={201: RecipientOut})
    def post(self, request, *args, **kwargs):
        values = _validated(RecipientIn, request.data)
        recipient = services.create_recipient(actor=self.actor, values=values)
        return Response(RecipientOut(recipient).data, status=status.HTTP_201_CREATED)


class RecipientDetail(ActorMixin, generics.GenericAPIView):
    serializer_class = RecipientOut
    queryset = Recipient.objects.none()

    def get(self, request, pk):
        actor = self.actor
        recipient = selectors.recipient_for(actor=actor, pk=pk)
        services.record_recipient_read(actor=actor, recipient=recipient)
        return Response(RecipientOut(recipient).data)

    @extend_schema(request=RecipientUpdateIn, responses={200: RecipientOut})
    def patch(self, request, pk):
        from core.roles import Action

        actor = self.actor
        recipient = selectors.recipient_for(actor=actor, pk=pk, action=Action.EDIT_RECIPIENT)
        values = _validated(RecipientUpdateIn, request.data, partial=True)
        version = values.pop("version", None)
        recipient = services.update_recipient(actor=actor, recipient=recipient, expected_version=version, values=values)
        return Response(RecipientOut(recipient).data)
