from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.health import health
from donors import views as donor_views

api_v1 = [
    path("", include("donors.api_urls")),
    path("", include("workup.api_urls")),
    path("", include("classification.api_urls")),
    path("", include("imaging.api_urls")),
    path("", include("reports.api_urls")),
]

urlpatterns = [
    path("", donor_views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("donors/", include("donors.urls")),
    path("donors/", include("workup.urls")),
    path("anatomy/", include("classification.urls")),
    path("imaging/", include("imaging.urls")),
    path("reports/", include("reports.urls")),
    path("api/v1/", include(api_v1)),
    path("dicom-web/", include("imaging.dicomweb.urls")),
    path("fhir/", include("reports.fhir.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view loads its start-up script as a file: the docs need no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
]

# Under /api/ errors answer in the API's JSON shape; elsewhere Django's pages.
handler400 = "core.error_views.bad_request"
handler403 = "core.error_views.permission_denied"
handler404 = "core.error_views.page_not_found"
handler500 = "core.error_views.server_error"
