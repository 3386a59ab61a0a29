"""Per-client API tokens for hospital systems: shown once, stored only as a hash, revocable."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .audit import Actor, record_event
from .models import ApiClient, AuditEvent
from .roles import Role

PREFIX_LENGTH = 8


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    prefix, _, secret = key.partition(".")
    if len(prefix) != PREFIX_LENGTH or not secret:
        return None
    return prefix, secret


@transaction.atomic
def issue_api_client(*, centre, name: str, lifetime_days: int | None = None, actor: Actor | None = None):
    """Create a service user bound to the centre (a donors.Centre) and a token; returns (client, key)."""
    username = f"api-{centre.code}-{secrets.token_hex(3)}"
    user = get_user_model().objects.create(
        username=username, centre=centre, roles=[Role.INTEGRATION_CLIENT.value], first_name=name[:150]
    )
    user.set_unusable_password()
    user.save(update_fields=["password"])
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    key = f"{prefix}.{secrets.token_urlsafe(32)}"
    days = lifetime_days if lifetime_days is not None else settings.API_TOKEN_LIFETIME_DAYS
    client = ApiClient.objects.create(
        name=name,
        user=user,
        key_prefix=prefix,
        key_hash=_hash(key),
        expires_at=timezone.now() + datetime.timedelta(days=days),
    )
    record_event(
        actor=actor,
        kind=AuditEvent.Kind.CREATE,
        record=client,
        centre_id=centre.pk,
        summary=f"issued API token {prefix}… for {name}",
        channel=actor.channel if actor else "command",
    )
    return client, key


@transaction.atomic
def revoke_api_client(*, client: ApiClient, actor: Actor | None = None) -> ApiClient:
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    if client.revoked_at is None:
        client.revoked_at = timezone.now()
        client.save(update_fields=["revoked_at"])
        record_event(
            actor=actor,
            kind=AuditEvent.Kind.UPDATE,
            record=client,
            centre_id=client.user.centre_id,
            summary=f"revoked API token {client.key_prefix}…",
            channel=actor.channel if actor else "command",
            changes={"revoked_at": [None, client.revoked_at.isoformat()]},
        )
    return client


class TokenRefused(Exception):
    pass


def client_for_key(key: str) -> ApiClient:
    parts = split_key(key)
    if parts is None:
        raise TokenRefused("malformed token")
    client = ApiClient.objects.select_related("user", "user__centre").filter(key_prefix=parts[0]).first()
    if client is None or not hmac.compare_digest(client.key_hash, _hash(key)):
        raise TokenRefused("unknown token")
    if client.revoked_at is not None:
        raise TokenRefused("token revoked")
    if client.expires_at <= timezone.now():
        raise TokenRefused("token expired")
    if not client.user.is_active:
        raise TokenRefused("client disabled")
    return client
