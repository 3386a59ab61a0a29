"""Pages of no one app: the login page shown while django-axes refuses a login."""

from django.shortcuts import render


def locked_out(request, original_response=None, credentials=None):
    """The login page again, saying why the right password is refused for now (django-axes)."""
    from django.conf import settings
    from django.contrib.auth.forms import AuthenticationForm

    minutes = settings.AXES_COOLOFF_MINUTES
    message = (
        "Too many failed logins for this account or from this address; try again in "
        f"{minutes} minutes or ask your centre's administrator to unlock it."
    )
    # Unbound: validating the form would try the password once more.
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    return render(
        request,
        "registration/login.html",
        {"form": form, "next": request.POST.get("next", ""), "lockout_message": message},
        status=429,
    )
