"""The schema tells the truth about errors: every operation documents the `{"error": ...}` answers
it can give, and request fields that must always be sent stay required on PATCH as well."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema

from .api_common import ErrorSerializer

# What any operation can answer: bad input (body, path or query), no or a bad credential, a role
# that may not, nothing of that id in your centre, too many requests.
ERRORS_OF_EVERY_OPERATION = ("400", "401", "403", "404", "429")
# What a write can answer besides: a stale version or an illegal step, a body over the size limit.
ERRORS_OF_WRITES = ("409", "413")


class ApiAutoSchema(AutoSchema):
    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        # drf-spectacular makes every field of a PATCH body optional; `version` is not.
        always = [name for name in getattr(serializer, "always_required", ()) if name in schema.get("properties", {})]
        if direction == "request" and always:
            schema["required"] = list(dict.fromkeys([*schema.get("required", []), *always]))
        return schema

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes: tuple[str, ...] = ERRORS_OF_EVERY_OPERATION
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes += ERRORS_OF_WRITES
        for code in codes:
            if "content" not in responses.get(code, {}):
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
        return dict(sorted(responses.items()))
