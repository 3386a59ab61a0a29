from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("donors/<int:pk>/", views.donor_report, name="donor"),
    path("donors/<int:pk>/issue/", views.issue, name="issue"),
    path("donors/<int:pk>/mip.png", views.donor_mip, name="mip"),
    path("versions/<int:pk>/", views.version_page, name="version"),
    path("versions/<int:pk>/pdf/", views.version_pdf, name="pdf"),
    path("versions/<int:pk>/mip.png", views.version_mip, name="version-mip"),
    path("versions/<int:pk>/render/", views.retry_render, name="retry"),
    path("versions/<int:pk>/pacs/", views.send_to_pacs, name="send-to-pacs"),
    path("anatomies/<int:pk>/pacs/", views.send_anatomy_to_pacs, name="send-anatomy-to-pacs"),
    path("cohort/", views.cohort_page, name="cohort"),
    path("cohort.csv", views.cohort_csv, name="cohort-csv"),
]
