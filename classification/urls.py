from django.urls import path

from . import views

app_name = "classification"

urlpatterns = [
    path("donors/<int:pk>/", views.annotation_editor, name="editor"),
    path("donors/<int:pk>/finalise/", views.finalise, name="finalise"),
    path("donors/<int:pk>/outcome/", views.outcome, name="outcome"),
    path("worklist/", views.worklist, name="worklist"),
]
