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
                request,
                "error.html",
                {"status": exception.status_code, "message": exception.message},
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


class RefuseNulInQueryMiddleware:
    """A NUL character in a query parameter is refused with a 400 naming the parameter: PostgreSQL
    cannot take it in a text comparison, so it would otherwise fail deep inside a query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return self.refuse(request, name.replace("\x00", "\\u0000"))
        return self.get_response(request)

    @staticmethod
    def refuse(request, name: str):
        reason = "must not contain NUL characters (%00)"
        if request.path.startswith("/fhir/"):
            from django.http import JsonResponse

            # FHIR clients read every error as an OperationOutcome.
            issue = {"severity": "error", "code": "invalid", "diagnostics": f"{name}: {reason}", "expression": [name]}
            outcome = {"resourceType": "OperationOutcome", "issue": [issue]}
            return JsonResponse(outcome, status=400, content_type="application/fhir+json; charset=utf-8")
        if request.path.startswith("/api/"):
            from django.http import JsonResponse

            from .api_common import error_body

            return JsonResponse(error_body("invalid", f"{name}: {reason}", {name: [reason]}), status=400)
        return render(request, "error.html", {"status": 400, "message": f"{name}: {reason}"}, status=400)
