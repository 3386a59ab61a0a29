"""Receivers that turn framework signals into audited events (the services decide what is written)."""

from axes.signals import user_locked_out
from django.conf import settings
from django.dispatch import receiver

from . import services


@receiver(user_locked_out, dispatch_uid="core.audit_login_lockout")
def audit_login_lockout(sender, request, username, ip_address, **kwargs):
    services.record_login_lockout(
        username=username or "",
        ip_address=ip_address,
        failures=getattr(request, "axes_failures_since_start", None),
        cool_off_minutes=settings.AXES_COOLOFF_MINUTES,
    )
