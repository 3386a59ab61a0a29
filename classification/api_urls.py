from django.urls import path

from . import api

urlpatterns = [
    path("classify/", api.ClassifyView.as_view(), name="api-classify"),
    path("annotations/", api.AnnotationList.as_view(), name="api-annotations"),
    path("annotations/<int:pk>/", api.AnnotationDetail.as_view(), name="api-annotation"),
    path("annotations/<int:pk>/finalise/", api.AnnotationFinalise.as_view(), name="api-annotation-finalise"),
    path("annotations/<int:pk>/results/", api.AnnotationResults.as_view(), name="api-annotation-results"),
    path("donors/<int:pk>/anatomy/take-proposal/", api.DonorTakeProposal.as_view(), name="api-take-proposal"),
    path("donors/<int:pk>/outcome/", api.DonorOutcome.as_view(), name="api-donor-outcome"),
    path("surgical-worklist/", api.Worklist.as_view(), name="api-surgical-worklist"),
]
