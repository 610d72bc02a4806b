"""What every desk page shares: who may open it."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseForbidden

from desk import roles


def desk_page(view):
    """Login required, and only for people (API clients use their token on the API)."""

    @login_required
    def wrapper(request, *args, **kwargs):
        if not roles.may_use_dashboard(request.user):
            return HttpResponseForbidden("API clients use the API with their token; the dashboard is for desk users.")
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper
