"""Turns domain errors raised under a page into the right 4xx page, never a 500."""
from django.shortcuts import render

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
