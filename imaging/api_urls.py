from django.urls import path

from . import api

urlpatterns = [
    path("uploads/", api.UploadCreate.as_view(), name="api-uploads"),
    path("uploads/<int:pk>/", api.UploadDetail.as_view(), name="api-upload"),
    path("donors/<int:pk>/studies/", api.DonorStudies.as_view(), name="api-donor-studies"),
    path("donors/<int:pk>/measurements/", api.DonorMeasurements.as_view(), name="api-donor-measurements"),
    path("studies/<int:pk>/acknowledge/", api.StudyAcknowledge.as_view(), name="api-study-acknowledge"),
    path("series/<int:pk>/", api.SeriesDetail.as_view(), name="api-series"),
    path("series/<int:pk>/mrcp/", api.SeriesMrcp.as_view(), name="api-series-mrcp"),
    path("series/<int:pk>/render/", api.SeriesRender.as_view(), name="api-series-render"),
    path("series/<int:pk>/distance/", api.SeriesDistance.as_view(), name="api-series-distance"),
]
