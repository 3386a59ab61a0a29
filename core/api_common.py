"""What every API endpoint shares: one error shape, pagination, the actor of a request."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError
from .pages import PAGES_AHEAD, BoundedPaginator


class StandardPagination(PageNumberPagination):
    """Numbered pages whose `count` is exact up to ten pages past the one asked for, and says so.

    An exact COUNT of a centre's hundred thousand donors costs more than the page itself, on
    every request of a system polling the list; counting stops at one row past the bound
    instead, which is all the `next` link needs. Past the bound `count` is the bound and
    `count_exact` is false ("more than count"); asking for a later page moves the bound along."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    django_paginator_class = BoundedPaginator
    last_page_strings = ()  # `?page=last` would need the exact count

    def get_paginated_response(self, data):
        assert self.page is not None  # paginate_queryset ran first
        paginator: BoundedPaginator = self.page.paginator  # type: ignore[assignment]
        return Response(
            {
                "count": paginator.count,
                "count_exact": not paginator.count_exceeded,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        body = super().get_paginated_response_schema(schema)
        properties = body["properties"]
        properties["count"]["description"] = (
            f"The number of matching rows when `count_exact` is true. Counting stops {PAGES_AHEAD} pages "
            "past the page asked for: beyond that, `count` is that bound and `count_exact` is false (there are "
            "more). Follow `next` to page through all of them."
        )
        body["properties"] = {
            "count": properties["count"],
            "count_exact": {
                "type": "boolean",
                "description": "True when `count` is the exact number of matching rows; false when there are more.",
            },
        } | {name: value for name, value in properties.items() if name != "count"}
        body["required"] = ["count", "count_exact", "results"]
        return body


def _flatten(detail, prefix="") -> dict[str, list[str]]:
    """DRF error detail (nested dicts and lists) -> {"field.sub": ["reason", ...]}."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                name = prefix or "non_field_errors"
            for sub, reasons in _flatten(value, name).items():
                fields.setdefault(sub, []).extend(reasons)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            fields[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                for sub, reasons in _flatten(item, f"{prefix}[{index}]").items():
                    fields.setdefault(sub, []).extend(reasons)
    else:
        fields[prefix or "non_field_errors"] = [str(detail)]
    return fields


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def too_big_body(exc) -> dict:
    """413: the body is over DATA_UPLOAD_MAX_MEMORY_SIZE, or has too many fields or files."""
    if isinstance(exc, TooManyFilesSent):
        message = f"too many files in one request (at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES})"
    elif isinstance(exc, TooManyFieldsSent):
        message = f"too many fields in one request (at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS})"
    else:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = f"the request body is larger than {limit // 1024**2} MiB ({limit} bytes)"
    return error_body("too_large", message, {"body": [message]})


def exception_handler(exc, context):
    """Every error answers `{"error": {"code", "message", "fields": {field: [reasons]}}}`."""
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)):
        return Response(too_big_body(exc), status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first = next(iter(fields.items()), ("", [""]))
        message = f"{first[0]}: {first[1][0]}" if first[0] else "invalid input"
        response.data = error_body("invalid", message, fields)
    else:
        detail = getattr(exc, "detail", str(exc))
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = error_body(str(code), str(detail))
    return response


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="invalid, not_found, forbidden, conflict, illegal_state, ...")
    message = serializers.CharField(help_text="What is wrong, in a sentence.")
    # DRF's serializer metaclass takes declared fields out of the class, so this field does not
    # replace the `Serializer.fields` property; the stubs cannot express that.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Each field (or query parameter) at fault, with its reasons; empty when none is.",
    )


class ErrorSerializer(serializers.Serializer):
    """The one shape of every API error."""

    error = ErrorDetailSerializer()


class ActorMixin(APIView):
    """Gives API views `self.actor`, the authenticated person or hospital system."""

    @property
    def actor(self):
        from .audit import actor_from_request

        return actor_from_request(self.request, channel="api")
