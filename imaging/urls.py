from django.urls import path

from . import views

app_name = "imaging"

urlpatterns = [
    path("donors/<int:pk>/upload/", views.upload_page, name="upload"),
    path("uploads/<int:pk>/", views.upload_report, name="upload_report"),
    path("series/<int:pk>/", views.viewer, name="viewer"),
    path("series/<int:pk>/mip.png", views.mip_image, name="mip"),
    path("series/<int:pk>/thumbnail.png", views.thumbnail_image, name="thumbnail"),
    path("series/<int:pk>/slices/<int:index>.png", views.slice_image, name="slice"),
    path("series/<int:pk>/mrcp/", views.mrcp_override, name="mrcp"),
    path("series/<int:pk>/render/", views.render_again, name="render"),
    path("studies/unmatched/", views.unmatched, name="unmatched"),
    path("studies/<int:pk>/confirm/", views.confirm_identity, name="confirm"),
    path("studies/<int:pk>/detach/", views.detach, name="detach"),
    path("studies/<int:pk>/attach/", views.attach, name="attach"),
    path("studies/<int:pk>/discard/", views.discard, name="discard"),
    path("instances/<int:pk>/file.dcm", views.instance_file, name="instance_file"),
]
