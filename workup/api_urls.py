from django.urls import path

from . import api as workup_api

urlpatterns = [
    *[
        path(f"donors/<int:pk>/{slug}/", view.as_view(), name=f"api-donor-{slug}")
        for slug, view in workup_api.RECORD_VIEWS.items()
    ],
    path("donors/<int:pk>/checks/", workup_api.DonorChecks.as_view(), name="api-donor-checks"),
    path("donors/<int:pk>/decision/", workup_api.DonorDecision.as_view(), name="api-donor-decision"),
    path("centre/thresholds/", workup_api.CentreThresholdsView.as_view(), name="api-centre-thresholds"),
]
