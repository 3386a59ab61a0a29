from django.urls import path

from . import api

urlpatterns = [
    path("uploads/", api.UploadCreate.as_view(), name="api-uploads"),
    path("uploads/<int:pk>/", api.UploadDetail.as_view(), name="api-upload"),
    path("donors/<int:pk>/studies/", api.DonorStudies.as_view(), name="api-donor-studies"),
    path("donors/<int:pk>/measurements/", api.DonorMeasurements.as_view(), name="api-donor-measurements"),
    path("studies/unmatched/", api.UnmatchedStudies.as_view(), name="api-unmatched-studies"),
    path("studies/<int:pk>/confirm/", api.StudyConfirm.as_view(), name="api-study-confirm"),
    path("studies/<int:pk>/detach/", api.StudyDetach.as_view(), name="api-study-detach"),
    path("studies/<int:pk>/attach/", api.StudyAttach.as_view(), name="api-study-attach"),
    path("dicom-peers/", api.DicomPeers.as_view(), name="api-dicom-peers"),
    path("studies/<int:pk>/discard/", api.StudyDiscard.as_view(), name="api-study-discard"),
    path("series/<int:pk>/", api.SeriesDetail.as_view(), name="api-series"),
    path("series/<int:pk>/mrcp/", api.SeriesMrcp.as_view(), name="api-series-mrcp"),
    path("series/<int:pk>/render/", api.SeriesRender.as_view(), name="api-series-render"),
    path("series/<int:pk>/distance/", api.SeriesDistance.as_view(), name="api-series-distance"),
    path("series/<int:pk>/tree-proposal/", api.SeriesTreeProposal.as_view(), name="api-series-tree-proposal"),
    path("donors/<int:pk>/tree-proposal/", api.DonorTreeProposal.as_view(), name="api-donor-tree-proposal"),
]
