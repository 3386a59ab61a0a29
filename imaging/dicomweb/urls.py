from django.urls import path

from . import views

app_name = "dicomweb"

STUDY = "studies/<str:study>"
SERIES = f"{STUDY}/series/<str:series>"
INSTANCE = f"{SERIES}/instances/<str:instance>"

urlpatterns = [
    path("studies", views.Studies.as_view(), name="studies"),
    path("wado", views.WadoUri.as_view(), name="wado-uri"),
    path(STUDY, views.Study.as_view(), name="study"),
    path(f"{STUDY}/metadata", views.StudyMetadata.as_view(), name="study-metadata"),
    path(f"{STUDY}/series", views.StudySeries.as_view(), name="series-search"),
    path(SERIES, views.Series.as_view(), name="series"),
    path(f"{SERIES}/metadata", views.SeriesMetadata.as_view(), name="series-metadata"),
    path(f"{SERIES}/instances", views.SeriesInstances.as_view(), name="instance-search"),
    path(INSTANCE, views.InstanceView.as_view(), name="instance"),
    path(f"{INSTANCE}/metadata", views.InstanceMetadata.as_view(), name="instance-metadata"),
    path(f"{INSTANCE}/frames/<str:frames>", views.Frames.as_view(), name="frames"),
    path(f"{INSTANCE}/rendered", views.Rendered.as_view(), name="rendered"),
]
