from django.urls import path

from . import api

urlpatterns = [
    path("donors/", api.DonorListCreate.as_view(), name="api-donors"),
    path("donors/<int:pk>/", api.DonorDetail.as_view(), name="api-donor"),
    path("donors/<int:pk>/transitions/", api.DonorTransitions.as_view(), name="api-donor-transitions"),
    path("recipients/", api.RecipientListCreate.as_view(), name="api-recipients"),
    path("recipients/<int:pk>/", api.RecipientDetail.as_view(), name="api-recipient"),
]
