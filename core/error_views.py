"""Django's error handlers (config/urls.py): under /api/ every error answers in the API's one
shape, `{"error": {"code", "message", "fields"}}`, never an HTML page; other paths keep the pages."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import JsonResponse
from django.views import defaults

from .api_common import error_body, too_big_body


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception=None):
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)):
        return JsonResponse(too_big_body(exception), status=413)
    return JsonResponse(error_body("bad_request", "the request could not be read"), status=400)


def permission_denied(request, exception=None):
    if not _is_api(request):
        return defaults.permission_denied(request, exception)
    return JsonResponse(error_body("permission_denied", "you may not do this"), status=403)


def page_not_found(request, exception=None):
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse(error_body("not_found", f"no such address: {request.path}"), status=404)


def server_error(request):
    if not _is_api(request):
        return defaults.server_error(request)
    return JsonResponse(error_body("server_error", "the server failed; the error was logged"), status=500)
