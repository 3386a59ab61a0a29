"""Receivers that turn framework signals into audited events (the services decide what is written)."""

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from . import services
from .audit import client_ip


@receiver(user_login_failed, dispatch_uid="core.audit_login_failure")
def audit_login_failure(sender, credentials, request=None, **kwargs):
    if request is None:  # a check outside a request (a command, a test's authenticate()) is not a login
        return
    services.record_login_failure(
        username=str(credentials.get("username", "")),
        ip_address=client_ip(request),
        # Refused before the password was checked (the lockout is in force), or a wrong name or password.
        reason="locked out" if getattr(request, "axes_locked_out", False) else "wrong user name or password",
    )


@receiver(user_locked_out, dispatch_uid="core.audit_login_lockout")
def audit_login_lockout(sender, request, username, ip_address, **kwargs):
    services.record_login_lockout(
        username=username or "",
        ip_address=ip_address,
        failures=getattr(request, "axes_failures_since_start", None),
        cool_off_minutes=settings.AXES_COOLOFF_MINUTES,
    )
