"""Page middleware: domain errors become the right 4xx page (never a 500); answers are never cached."""
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from .errors import DomainError


class DomainErrorPagesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DomainError) and not request.path.startswith("/api/"):
            return render(
                request, "error.html", {"status": exception.status_code, "message": exception.message},
                status=exception.status_code,
            )
        return None


class NoStoreMiddleware:
    """Pages and API answers carry patient data: no browser or proxy may keep a copy.

    Views that chose their own caching (permission-checked images revalidated by ETag) keep it;
    static files never reach here (whitenoise answers them first)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response
