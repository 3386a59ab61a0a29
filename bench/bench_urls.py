"""The app's URLs plus the bare baseline view the list benchmark compares against."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as app_urlpatterns
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


urlpatterns = app_urlpatterns + [path("bench/bare-donors/", bare_donor_list)]
