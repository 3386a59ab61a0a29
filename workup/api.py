"""REST API of the donor workup: records, the evaluated checks, the decision, the centre's thresholds.

Thin like donors/api.py: serializers parse, services write, selectors read; every
read of a donor's workup is audited as a read of the donor's record.
"""

from __future__ import annotations

import dataclasses
from typing import cast

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from core.api_common import ActorMixin
from core.errors import NotPermitted
from core.roles import Action
from donors import selectors, services

from . import criteria
from . import selectors as ws
from . import services as wsv
from .models import (
    SIGNING_ROLES,
    CentreThresholds,
    Decision,
    DecisionOutcome,
    DecisionSignOff,
)

# ---------------------------------------------------------------- records

COMPUTED = {"steatosis": ("signal_fat_fraction_pct", "liver_attenuation_index")}


class _RecordOut(serializers.ModelSerializer):
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True)
    current = serializers.SerializerMethodField(help_text="True for the record that counts (the latest of its kind).")

    def get_current(self, record) -> bool:
        return record.pk in self.context.get("current_ids", ())


class _RecordIn(serializers.ModelSerializer):
    supersedes = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Id of the latest record of this kind you read (null: none). When sent and a newer "
        "record was entered meanwhile, the write is refused with 409.",
    )


def _blank_choices_out(model, names) -> dict:
    """Read-only choice fields that may be left blank: a read-only field drops `allow_blank`, so
    its documented choices would leave out the empty value the record can hold."""
    fields = {}
    for name in names:
        field = next((f for f in model._meta.concrete_fields if f.name == name), None)
        if field is not None and field.choices and field.blank:
            fields[name] = serializers.ChoiceField(
                choices=field.choices,
                allow_blank=True,
                read_only=True,
                help_text=str(field.help_text or ""),
                label=str(field.verbose_name).capitalize(),
            )
    return fields


def _serializers_for(spec: wsv.RecordKind):
    name = spec.model.__name__
    out_fields = ["id", "donor", *spec.fields, *COMPUTED.get(spec.slug, ()), "recorded_by", "recorded_at", "current"]
    out_meta = type("Meta", (), {"model": spec.model, "fields": out_fields, "read_only_fields": out_fields})
    record_out = type(
        f"{name}Out",
        (_RecordOut,),
        {"Meta": out_meta, "__module__": __name__, **_blank_choices_out(spec.model, out_fields)},
    )
    # The density factor defaults to the centre's setting when not sent.
    extra = {"density_factor": {"required": False}} if spec.slug == "volumetry" else {}
    in_meta = type(
        "Meta",
        (),
        {"model": spec.model, "fields": [*spec.fields, "supersedes"], "validators": [], "extra_kwargs": extra},
    )
    record_in = type(f"{name}In", (_RecordIn,), {"Meta": in_meta, "__module__": __name__})
    return record_out, record_in


RECORD_SERIALIZERS = {slug: _serializers_for(spec) for slug, spec in wsv.KINDS.items()}

EXAMPLES = {
    "labs": {
        "measured_on": "2026-03-02",
        "ast": "24",
        "ast_uln": "40",
        "alt": "30",
        "alt_uln": "41",
        "platelets": "250",
        "bilirubin_mg_dl": "0.6",
        "albumin_g_dl": "4.4",
        "inr": "1.0",
        "creatinine_mg_dl": "0.8",
        "serology": "HBsAg, anti-HBc, anti-HCV, HIV negative",
    },
    "volumetry": {
        "measured_on": "2026-03-04",
        "total_liver_volume_ml": "1500",
        "graft_volume_ml": "900",
        "graft_includes_mhv": False,
        "remnant_volume_ml": "600",
        "density_factor": "1.0",
        "recipient_weight_kg": "70",
        "recipient_height_cm": "172",
    },
    "steatosis": {
        "measured_on": "2026-03-04",
        "modality": "dual_echo",
        "in_phase_signal": "400",
        "opposed_phase_signal": "360",
    },
    "hepatic-artery": {"measured_on": "2026-03-04", "michels_type": "I", "segment4_origin": "left_hepatic"},
    "portal-vein": {"measured_on": "2026-03-04", "portal_scheme": "nakamura", "portal_type": "A"},
    "hepatic-veins": {
        "measured_on": "2026-03-04",
        "mhv_with_graft": False,
        "v5_mm": "6",
        "v8_mm": "3",
        "inferior_right_hv_mm": "0",
    },
    "clearances": {"measured_on": "2026-03-05", "clearance_kind": "psychosocial", "clearance_status": "cleared"},
}


class WorkupRecordsView(ActorMixin, generics.GenericAPIView):
    """Base of the per-kind endpoints: GET lists every record (newest first, `current` marks the
    one that counts); POST adds a record that supersedes the previous one of its kind."""

    kind = ""
    pagination_class = None

    def get_serializer_class(self):
        return RECORD_SERIALIZERS[self.kind][0]

    def get_queryset(self):
        return wsv.KINDS[self.kind].model._default_manager.none()

    def _current_ids(self, donor) -> set[int]:
        records = ws.latest_records(donor)
        if self.kind == "steatosis":
            return {r.pk for r in records.steatosis.values()}
        if self.kind == "clearances":
            return {r.pk for r in records.clearances.values()}
        latest = records.latest_of(self.kind)
        return {latest.pk} if latest else set()

    def list_records(self, request, pk):
        actor = self.actor
        donor = selectors.donor_for(actor=actor, pk=pk)
        services.record_donor_read(actor=actor, donor=donor, what=f"{wsv.KINDS[self.kind].title.lower()} records")
        records = (
            wsv.KINDS[self.kind]
            .model._default_manager.filter(donor=donor)
            .select_related("recorded_by")
            .order_by("-recorded_at", "-pk")
        )
        out = RECORD_SERIALIZERS[self.kind][0]
        return Response(out(records, many=True, context={"current_ids": self._current_ids(donor)}).data)

    def create_record(self, request, pk):
        actor = self.actor
        donor = selectors.donor_for(actor=actor, pk=pk)
        spec = wsv.KINDS[self.kind]
        sub = request.data.get(spec.sub_field) if spec.sub_field and hasattr(request.data, "get") else None
        wsv.require_record(actor, self.kind, sub if isinstance(sub, str) else None)
        serializer = RECORD_SERIALIZERS[self.kind][1](data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        extra = {"supersedes": values.pop("supersedes")} if "supersedes" in values else {}
        record = wsv.record_workup(actor=actor, donor=donor, kind=self.kind, values=values, **extra)
        out = RECORD_SERIALIZERS[self.kind][0]
        return Response(out(record, context={"current_ids": {record.pk}}).data, status=status.HTTP_201_CREATED)


def _record_view(slug: str) -> type[WorkupRecordsView]:
    spec = wsv.KINDS[slug]
    record_out, record_in = RECORD_SERIALIZERS[slug]
    tag = ["workup"]

    @extend_schema(tags=tag, summary=f"{spec.title}: every record of the donor", responses={200: record_out(many=True)})
    def get(self, request, pk):
        return self.list_records(request, pk)

    @extend_schema(
        tags=tag,
        summary=f"{spec.title}: add a record (recorded by the {spec.owners})",
        request=record_in,
        responses={201: record_out},
        examples=[OpenApiExample(spec.title, value=EXAMPLES[slug], request_only=True)],
    )
    def post(self, request, pk):
        return self.create_record(request, pk)

    name = "".join(part.capitalize() for part in slug.split("-")) + "Records"
    view = type(
        name,
        (WorkupRecordsView,),
        {"kind": slug, "get": get, "post": post, "__module__": __name__, "__doc__": WorkupRecordsView.__doc__},
    )
    return cast(type[WorkupRecordsView], view)


RECORD_VIEWS = {slug: _record_view(slug) for slug in wsv.KINDS}

# ---------------------------------------------------------------- checks


class CheckOut(serializers.Serializer):
    check = serializers.CharField(help_text="The check's key, e.g. apri, grwr, steatosis_pdff.")
    title = serializers.CharField()
    state = serializers.CharField(help_text="pass, borderline, fail or missing (never pass without a value).")
    value = serializers.JSONField(allow_null=True, help_text="A number or a label; null when missing.")
    unit = serializers.CharField(allow_blank=True)
    threshold = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # DRF's metaclass pops declared fields; stubs don't
    detail = serializers.CharField()
    owner = serializers.CharField(help_text="The role that records this check's inputs.")
    optional = serializers.BooleanField(help_text="A steatosis modality not needed because another one is recorded.")


class OutstandingOut(serializers.Serializer):
    title = serializers.CharField()
    owner = serializers.CharField()
    what = serializers.CharField()


class ThresholdsUsedOut(serializers.Serializer):
    basis = serializers.CharField(help_text="Centre settings (with their version) or the defaults.")
    values = serializers.DictField(child=serializers.JSONField())


class ChecksOut(serializers.Serializer):
    donor = serializers.IntegerField()
    evaluated_at = serializers.DateTimeField()
    biliary_type = serializers.CharField(allow_null=True)
    counts = serializers.DictField(child=serializers.IntegerField())
    checks = CheckOut(many=True)
    outstanding = OutstandingOut(many=True)
    thresholds = ThresholdsUsedOut()


def checks_payload(donor, evaluation: ws.Evaluation) -> dict:
    return {
        "donor": donor.pk,
        "evaluated_at": timezone.now(),
        "biliary_type": evaluation.biliary_type,
        "counts": evaluation.counts,
        "checks": ws.snapshot_of(evaluation.items),
        "outstanding": [dataclasses.asdict(o) for o in evaluation.outstanding],
        "thresholds": evaluation.thresholds_snapshot,
    }


class DonorChecks(ActorMixin, generics.GenericAPIView):
    """The donor's workup evaluated now from the latest records against the centre's thresholds."""

    serializer_class = ChecksOut
    pagination_class = None

    def get_queryset(self):
        return Decision.objects.none()

    @extend_schema(tags=["workup"], responses={200: ChecksOut})
    def get(self, request, pk):
        actor = self.actor
        donor = selectors.donor_for(actor=actor, pk=pk)
        services.record_donor_read(actor=actor, donor=donor, what="workup checks")
        return Response(ChecksOut(checks_payload(donor, ws.evaluate(donor))).data)


# ---------------------------------------------------------------- decision


class SignOffOut(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")

    class Meta:
        model = DecisionSignOff
        fields = ["signed_as", "user", "comment", "signed_at"]


class DecisionOut(serializers.ModelSerializer):
    proposed_by = serializers.CharField(source="proposed_by.username")
    sign_offs = SignOffOut(many=True)
    awaiting = serializers.SerializerMethodField(help_text="Signing roles that have not signed yet.")
    checks_snapshot = CheckOut(many=True, help_text="The checks as they stood when the decision was proposed.")
    thresholds_snapshot = ThresholdsUsedOut(help_text="The thresholds the decision was evaluated with.")

    class Meta:
        model = Decision
        fields = [
            "id",
            "donor",
            "decision_outcome",
            "reasons",
            "conditions",
            "override_reason",
            "overridden",
            "biliary_type",
            "decision_state",
            "proposed_by",
            "proposed_at",
            "completed_at",
            "sign_offs",
            "awaiting",
            "checks_snapshot",
            "thresholds_snapshot",
            "version",
        ]

    def get_awaiting(self, decision) -> list[str]:
        signed = {s.signed_as for s in decision.sign_offs.all()}
        return [r.value for r in SIGNING_ROLES if r.value not in signed]


class DecisionStateOut(serializers.Serializer):
    current = DecisionOut(allow_null=True, help_text="The latest decision not replaced (open or complete).")
    previous = DecisionOut(many=True)
    can_sign_as = serializers.ListField(
        child=serializers.CharField(), help_text="Roles you could sign the open decision in."
    )
    override_needed_if_accepted = serializers.ListField(
        child=serializers.CharField(), help_text="What accepting the donor now would override (needs a reason)."
    )


class DecisionIn(serializers.Serializer):
    decision_action = serializers.ChoiceField(
        choices=[("propose", "Propose a decision"), ("sign", "Sign the open decision")],
        help_text="propose: record the team's decision; sign: sign the open decision in your role.",
    )
    decision_outcome = serializers.ChoiceField(choices=DecisionOutcome.choices, required=False)
    reasons = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    conditions = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    override_reason = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    replaces = serializers.IntegerField(
        required=False, allow_null=True, help_text="Propose: the open decision this one replaces."
    )
    decision = serializers.IntegerField(required=False, help_text="Sign: the id of the decision you sign.")
    signed_as = serializers.ChoiceField(
        choices=[(r.value, r.label) for r in SIGNING_ROLES],
        required=False,
        help_text="Sign: your role (needed only when you hold several).",
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    def validate(self, attrs):
        if attrs["decision_action"] == "propose":
            missing = [f for f in ("decision_outcome", "reasons") if not attrs.get(f)]
        else:
            missing = [f for f in ("decision",) if attrs.get(f) is None]
        if missing:
            raise serializers.ValidationError({f: ["This field is required."] for f in missing})
        return attrs


def decision_state_payload(actor, donor) -> dict:
    decisions = list(ws.decisions_for(donor))
    current = next((d for d in decisions if d.decision_state != "superseded"), None)
    can_sign = []
    if current is not None and current.decision_state == "open":
        signed = {s.signed_as for s in current.sign_offs.all()}
        if not any(s.user_id == actor.user.pk for s in current.sign_offs.all()):
            can_sign = [r.value for r in wsv.signing_roles_of(actor.roles) if r.value not in signed]
    evaluation = ws.evaluate(donor)
    return {
        "current": current,
        "previous": [d for d in decisions if d is not current],
        "can_sign_as": can_sign,
        "override_needed_if_accepted": evaluation.override_needed(DecisionOutcome.SUITABLE),
    }


class DonorDecision(ActorMixin, generics.GenericAPIView):
    """The multidisciplinary decision: GET the current one and the earlier ones; POST proposes a
    decision or signs the open one. The last of the radiologist, hepatologist and surgeon to sign
    completes it and moves the donor (in evaluation) to the decided status."""

    serializer_class = DecisionStateOut
    pagination_class = None

    def get_queryset(self):
        return Decision.objects.none()

    @extend_schema(tags=["workup"], responses={200: DecisionStateOut})
    def get(self, request, pk):
        actor = self.actor
        donor = selectors.donor_for(actor=actor, pk=pk)
        services.record_donor_read(actor=actor, donor=donor, what="workup decision")
        return Response(DecisionStateOut(decision_state_payload(actor, donor)).data)

    @extend_schema(
        tags=["workup"],
        request=DecisionIn,
        responses={201: DecisionOut, 409: None},
        examples=[
            OpenApiExample(
                "Propose",
                request_only=True,
                value={
                    "decision_action": "propose",
                    "decision_outcome": "suitable_with_conditions",
                    "reasons": "adequate remnant and GRWR",
                    "conditions": "repeat MRI-PDFF after weight loss",
                    "override_reason": "",
                },
            ),
            OpenApiExample(
                "Sign", request_only=True, value={"decision_action": "sign", "decision": 12, "signed_as": "surgeon"}
            ),
        ],
    )
    def post(self, request, pk):
        actor = self.actor
        donor = selectors.donor_for(actor=actor, pk=pk, action=Action.RECORD_DECISION)
        serializer = DecisionIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        if values["decision_action"] == "propose":
            decision = wsv.propose_decision(
                actor=actor,
                donor=donor,
                outcome=values["decision_outcome"],
                reasons=values["reasons"],
                conditions=values.get("conditions", ""),
                override_reason=values.get("override_reason", ""),
                replaces=values.get("replaces"),
            )
        else:
            sign_off = wsv.sign_decision(
                actor=actor,
                donor=donor,
                decision_id=values["decision"],
                signed_as=values.get("signed_as"),
                comment=values.get("comment", ""),
            )
            decision = sign_off.decision
        decision = ws.decisions_for(donor).get(pk=decision.pk)
        return Response(DecisionOut(decision).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- thresholds

_FORMULAS = {
    "slv_formula": [("urata", "Urata"), ("vauthey", "Vauthey")],
    "bsa_formula": [("mosteller", "Mosteller"), ("dubois", "DuBois")],
}


def _threshold_fields(*, for_input: bool) -> dict[str, serializers.Field]:
    fields: dict[str, serializers.Field] = {}
    for f in dataclasses.fields(criteria.Thresholds):
        help_text = f"{f.metadata['help']} (source: {f.metadata['source']}; default {f.default!r})"
        if f.name in _FORMULAS:
            fields[f.name] = serializers.ChoiceField(choices=_FORMULAS[f.name], help_text=help_text)
        elif f.name == "portal_vein_flag_types":
            fields[f.name] = serializers.ListField(
                child=serializers.ChoiceField(choices=wsv.PORTAL_FLAG_CHOICES), allow_empty=True, help_text=help_text
            )
        else:
            fields[f.name] = serializers.FloatField(help_text=help_text)
    if for_input:
        fields["version"] = serializers.IntegerField(help_text="The version you read (0: defaults never saved).")
    else:
        fields["version"] = serializers.IntegerField(help_text="0 while the centre uses the defaults.")
        fields["basis"] = serializers.CharField()
        fields["updated_by"] = serializers.CharField(allow_null=True)
        fields["updated_at"] = serializers.DateTimeField(allow_null=True)
        fields["editable"] = serializers.BooleanField(help_text="Whether you may change them (centre administrator).")
    return fields


ThresholdsOut = type(
    "CentreThresholdsOut", (serializers.Serializer,), {**_threshold_fields(for_input=False), "__module__": __name__}
)
ThresholdsIn = type(
    "CentreThresholdsIn",
    (serializers.Serializer,),
    {**_threshold_fields(for_input=True), "always_required": ("version",), "__module__": __name__},
)


def thresholds_payload(actor) -> dict:
    thresholds, row = ws.centre_thresholds(actor.centre_id)
    return ws.thresholds_snapshot(thresholds) | {
        "version": row.version if row else 0,
        "basis": f"centre settings, version {row.version}" if row else "defaults of the workup document",
        "updated_by": row.updated_by.username if row and row.updated_by else None,
        "updated_at": row.updated_at if row else None,
        "editable": bool(actor.user.is_centre_admin),
    }


class CentreThresholdsView(ActorMixin, generics.GenericAPIView):
    """Your centre's workup thresholds, each with its default and source. Any member of the centre
    reads them; a centre administrator changes them (PUT: all values, PATCH: some), with the version
    read, and every change is audited."""

    serializer_class = ThresholdsOut
    pagination_class = None

    def get_queryset(self):
        return CentreThresholds.objects.none()

    def _require_centre(self):
        if self.actor.centre_id is None:
            raise NotPermitted("you do not belong to a centre")

    @extend_schema(tags=["workup"], responses={200: ThresholdsOut})
    def get(self, request):
        self._require_centre()
        return Response(ThresholdsOut(thresholds_payload(self.actor)).data)

    @extend_schema(tags=["workup"], request=ThresholdsIn, responses={200: ThresholdsOut, 409: None})
    def put(self, request):
        return self._update(request, partial=False)

    @extend_schema(tags=["workup"], request=ThresholdsIn, responses={200: ThresholdsOut, 409: None})
    def patch(self, request):
        return self._update(request, partial=True)

    def _update(self, request, *, partial):
        actor = self.actor
        wsv.require_centre_admin(actor)
        serializer = ThresholdsIn(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        version = values.pop("version", None)
        wsv.update_thresholds(actor=actor, expected_version=version, values=values)
        return Response(ThresholdsOut(thresholds_payload(actor)).data)
