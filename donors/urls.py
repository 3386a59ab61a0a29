from django.urls import path

from . import views

app_name = "donors"

urlpatterns = [
    path("", views.donor_list, name="list"),
    path("new/", views.donor_create, name="create"),
    path("<int:pk>/", views.donor_detail, name="detail"),
    path("<int:pk>/edit/", views.donor_edit, name="edit"),
    path("<int:pk>/status/", views.donor_transition, name="transition"),
    path("recipients/new/", views.recipient_create, name="recipient_create"),
    path("audit/", views.audit_trail, name="audit"),
]
