"""The one access check every service and selector makes before it reads or writes."""

from __future__ import annotations

from .errors import NotPermitted
from .roles import Action, may


def require(actor, action: Action) -> None:
    """Refuse unless the actor belongs to a centre and one of its roles allows the action."""
    if actor.user.centre_id is None or not may(actor.roles, action):
        raise NotPermitted(f"your role does not allow this ({action.value.replace('_', ' ')})")
