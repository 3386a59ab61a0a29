from .roles import Action, Role, may


def roles(request):
    """`can.<action>` for templates, so navigation shows only what the user may do."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"can": {}}
    user_roles = user.role_set
    return {
        "can": {action.value: may(user_roles, action) for action in Action},
        "user_roles": sorted(Role(role).label for role in user_roles),
    }
