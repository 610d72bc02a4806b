"""Desk users and their API tokens (services)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from rest_framework.authtoken.models import Token

from desk import roles


def roles_ensure() -> None:
    for name in roles.ALL_ROLES:
        Group.objects.get_or_create(name=name)


@transaction.atomic
def desk_user_create(*, username: str, role: str, password: str | None = None, email: str = ""):
    """Create (or find) a user holding ``role``; API clients get no usable password.

    Returns ``(user, token, created)``.
    """
    if role not in roles.ROLE_BY_SHORT_NAME.values():
        raise ValueError(f"unknown role {role!r}")
    roles_ensure()
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"email": email})
    if role == roles.API_CLIENT:
        if user.has_usable_password():
            user.set_unusable_password()
            user.save(update_fields=["password"])
    elif password and not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    if role == roles.ADMIN and not (user.is_staff and user.is_superuser):
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    user.groups.add(Group.objects.get(name=role))
    token, _ = Token.objects.get_or_create(user=user)
    return user, token, created


@transaction.atomic
def token_rotate(*, user) -> Token:
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


def token_revoke(*, user) -> None:
    Token.objects.filter(user=user).delete()
