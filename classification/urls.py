from django.urls import path

from . import views

app_name = "classification"

urlpatterns = [
    path("donors/<int:pk>/", views.annotation_editor, name="editor"),
    path("donors/<int:pk>/finalise/", views.finalise, name="finalise"),
    path("donors/<int:pk>/take-proposal/", views.take_proposal, name="take_proposal"),
    path("donors/<int:pk>/propose/", views.request_proposal, name="request_proposal"),
    path("donors/<int:pk>/outcome/", views.outcome, name="outcome"),
    path("worklist/", views.worklist, name="worklist"),
]
