"""The app's URLs plus the bare baseline view the list benchmark compares against."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as app_urlpatterns
from core.audit import actor_from_request, record_reads
from donors.models import Donor

FIELDS = [
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
]


@login_required
def bare_donor_list(request):
    rows = list(Donor.objects.filter(centre_id=request.user.centre_id).order_by("code", "pk").values(*FIELDS)[:50])
    return JsonResponse({"results": rows})


@login_required
def bare_donor_list_audited(request):
    """The bare view plus the one audit row every donor list must write (the trail's durable commit): what
    the API costs beyond the audit trail is the gap between this and the API."""
    rows = list(Donor.objects.filter(centre_id=request.user.centre_id).order_by("code", "pk").values(*FIELDS)[:50])
    record_reads(actor=actor_from_request(request, channel="page"), donors=rows, summary="listed donors")
    return JsonResponse({"results": rows})


urlpatterns = app_urlpatterns + [
    path("bench/bare-donors/", bare_donor_list),
    path("bench/bare-donors-audited/", bare_donor_list_audited),
]
