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
def desk_user_create(*, username: str, role: str, password: str | None = None, email: str = "", actor=None,
                     reason: str = "create_desk_user"):
    """Create (or find) a user holding ``role``; API clients get no usable password.

    Returns ``(user, token, created)``.  A user created, or given the role, gets one audit row with the role
    (``ops_app.audit``), as the management pages record theirs.
    """
    from ops_app.audit import audit_record

    if role not in roles.ROLE_BY_SHORT_NAME.values():
        raise ValueError(f"unknown role {role!r}")
    roles_ensure()
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    created = user is None
    if created:
        user = User(username=username, email=email)
        user._audit_deferred = True
        user.save()
    user._audit_deferred = True
    had_role = user.groups.filter(name=role).exists()
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
    del user._audit_deferred
    if created or not had_role:
        audit_record(user, history_type="+" if created else "~", actor=actor, reason=f"{reason}: {role}")
    return user, token, created


@transaction.atomic
def token_rotate(*, user, actor=None, reason: str = "API token rotated by its user") -> Token:
    """A new token for ``user`` (the old one fails from this commit on), kept in the audit list: by ``actor``
    (default: the user), because ``reason``."""
    from ops_app.audit import audit_record

    Token.objects.filter(user=user).delete()
    token = Token.objects.create(user=user)
    audit_record(user, history_type="~", actor=actor or user, reason=reason)
    return token


@transaction.atomic
def token_revoke(*, user) -> None:
    from ops_app.audit import audit_record

    Token.objects.filter(user=user).delete()
    audit_record(user, history_type="~", actor=user, reason="API token revoked by its user")
