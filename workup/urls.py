"""Pages of the donor workup and the centre's thresholds (included under /donors/)."""

from django.urls import path

from . import views as workup_views

app_name = "workup"

urlpatterns = [
    path("worklist/", workup_views.worklist, name="worklist"),
    path("<int:pk>/workup/", workup_views.workup, name="workup"),
    path("<int:pk>/workup/record/<slug:key>/", workup_views.workup_record, name="workup_record"),
    path("<int:pk>/workup/decision/", workup_views.workup_decision, name="workup_decision"),
    path("<int:pk>/workup/sign/", workup_views.workup_sign, name="workup_sign"),
    path("thresholds/", workup_views.thresholds, name="thresholds"),
]
