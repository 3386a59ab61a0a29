from django.urls import path

from . import api

urlpatterns = [
    path("donors/<int:pk>/report/", api.DonorReport.as_view(), name="api-donor-report"),
    path("donors/<int:pk>/report/issue/", api.IssueReport.as_view(), name="api-donor-report-issue"),
    path("reports/<int:pk>/", api.ReportVersionDetail.as_view(), name="api-report-version"),
    path("reports/<int:pk>/pdf/", api.ReportVersionPdf.as_view(), name="api-report-version-pdf"),
    path("reports/<int:pk>/pacs/", api.ReportVersionPacs.as_view(), name="api-report-version-pacs"),
    path("annotations/<int:pk>/pacs/", api.AnnotationPacs.as_view(), name="api-annotation-pacs"),
    path("cohort/", api.CohortStatistics.as_view(), name="api-cohort"),
]
