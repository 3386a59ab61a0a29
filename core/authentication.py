"""DRF authentication for hospital systems: `Authorization: Token <key>`."""

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, throttling

from .tokens import TokenRefused, client_for_key


class ApiClientTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() not in ("token", "bearer"):
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Token <key>'")
        try:
            client = client_for_key(header[1])
        except TokenRefused as refused:
            raise exceptions.AuthenticationFailed(str(refused)) from None
        # Touch at most once a minute to keep the hot path read-only.
        now = timezone.now()
        if client.last_used_at is None or (now - client.last_used_at).total_seconds() > 60:
            type(client).objects.filter(pk=client.pk).update(last_used_at=now)
        return client.user, client

    def authenticate_header(self, request):
        return self.keyword


class ApiClientRateThrottle(throttling.SimpleRateThrottle):
    """Requests per hospital-system token (API_TOKEN_THROTTLE_RATE); sessions are not throttled.

    Over the rate the API answers 429 with Retry-After, in the usual error shape."""

    scope = "api_client"

    def get_cache_key(self, request, view):
        from .models import ApiClient

        if not isinstance(getattr(request, "auth", None), ApiClient):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class ApiClientTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiClientTokenAuthentication
    name = "clientToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Per-client token issued by the centre: `Token <key>`",
        }
