from django.urls import path, re_path

from . import views

app_name = "fhir"

urlpatterns = [
    path("metadata", views.Metadata.as_view(), name="metadata"),
    path("DiagnosticReport", views.DiagnosticReportSearch.as_view(), name="diagnostic-report-search"),
    path("DiagnosticReport/<int:pk>", views.DiagnosticReportRead.as_view(), name="diagnostic-report"),
    re_path(r"^(?P<rest>.*)$", views.unknown, name="unknown"),
]
