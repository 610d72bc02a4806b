"""What an admin edits on the management pages, and its validation (nothing is saved here).

Each form names the field a bad value belongs to; the services (``services.py``) save only what a
form passed, inside one transaction.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError

from desk import roles
from market_app.models import Instrument
from portfolio_app.models import Portfolio
from portfolio_app.optimisation import STRATEGIES
from portfolio_app.rebalancing import FREQUENCIES, KINDS as POLICY_KINDS

ROLE_CHOICES = [(r, r) for r in roles.ALL_ROLES]
PEOPLE_ROLES = {roles.TRADER, roles.RISK_OFFICER, roles.ADMIN}


class ReasonField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=500, help_text="Why (kept in the audit list).", **kwargs)

    def clean(self, value):
        value = (super().clean(value) or "").strip()
        if len(value) < 3:
            raise ValidationError("Say why (at least 3 characters).")
        return value


def traders_queryset():
    return get_user_model().objects.filter(groups__name=roles.TRADER, is_active=True).distinct().order_by("username")


class _RolesMixin:
    """Roles and the portfolios a trader trades: API clients hold no other role; only traders trade portfolios."""

    def clean_roles_and_portfolios(self, data):
        chosen = set(data.get("roles") or ())
        if roles.API_CLIENT in chosen and chosen & PEOPLE_ROLES:
            self.add_error("roles", "An API client holds no other role (it has a token and no password).")
        if data.get("portfolios") and roles.TRADER not in chosen:
            self.add_error("portfolios", "Only traders trade portfolios: give the Trader role or clear the portfolios.")
        return data


class UserCreateForm(_RolesMixin, forms.Form):
    username = forms.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = forms.EmailField(required=False)
    roles = forms.MultipleChoiceField(choices=ROLE_CHOICES, widget=forms.CheckboxSelectMultiple)
    password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                               help_text="People sign in with it; API clients have none (their token only).")
    portfolios = forms.ModelMultipleChoiceField(queryset=Portfolio.objects.order_by("name"), required=False)
    reason = ReasonField()

    def clean_username(self):
        name = self.cleaned_data["username"].strip()
        if get_user_model().objects.filter(username__iexact=name).exists():
            raise ValidationError(f"A user named {name} exists already.")
        return name

    def clean(self):
        data = self.clean_roles_and_portfolios(super().clean())
        chosen = set(data.get("roles") or ())
        password = data.get("password") or ""
        if chosen & PEOPLE_ROLES and not password:
            self.add_error("password", "People sign in with a password: give one.")
        elif chosen == {roles.API_CLIENT} and password:
            self.add_error("password", "API clients have no password, only a token.")
        elif password:
            probe = get_user_model()(username=data.get("username") or "", email=data.get("email") or "")
            try:
                password_validation.validate_password(password, probe)
            except ValidationError as exc:
                self.add_error("password", exc)
        return data


class UserEditForm(_RolesMixin, forms.Form):
    email = forms.EmailField(required=False)
    roles = forms.MultipleChoiceField(choices=ROLE_CHOICES, widget=forms.CheckboxSelectMultiple)
    portfolios = forms.ModelMultipleChoiceField(queryset=Portfolio.objects.order_by("name"), required=False)
    password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                               help_text="Leave empty to keep the current one.")
    reason = ReasonField()

    def __init__(self, *args, user, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.actor = user, actor

    def clean(self):
        data = self.clean_roles_and_portfolios(super().clean())
        chosen = set(data.get("roles") or ())
        if self.user.pk == self.actor.pk and "roles" in data and roles.ADMIN not in chosen:
            self.add_error("roles", "You cannot take the Admin role from yourself: another admin must.")
        password = data.get("password") or ""
        if password:
            if roles.API_CLIENT in chosen:
                self.add_error("password", "API clients have no password, only a token.")
            else:
                try:
                    password_validation.validate_password(password, self.user)
                except ValidationError as exc:
                    self.add_error("password", exc)
        return data


class ReasonForm(forms.Form):
    """Deactivate, reactivate, rotate a token: only the why."""

    reason = ReasonField()


class PortfolioForm(forms.Form):
    name = forms.CharField(max_length=128)
    benchmark = forms.ModelChoiceField(queryset=Instrument.objects.order_by("symbol"), required=False)
    traders = forms.ModelMultipleChoiceField(queryset=traders_queryset(), required=False)
    account = forms.ChoiceField(choices=[("cash", "Cash account (long only)"), ("margin", "Margin account (long/short)")])
    initial_margin = forms.DecimalField(max_digits=5, decimal_places=4, initial=Decimal("0.5"),
                                        help_text="Margin accounts: initial margin as a fraction of gross exposure (Reg T: 0.5).")
    gross_limit = forms.DecimalField(max_digits=8, decimal_places=4, initial=Decimal("1"),
                                     help_text="Long/short: the optimiser's gross exposure cap as a multiple of NAV.")
    strategy = forms.ChoiceField(choices=[(s, s) for s in STRATEGIES])
    strategy_params = forms.JSONField(required=False, initial=dict)
    constraints = forms.JSONField(required=False, initial=dict)
    policy_kind = forms.ChoiceField(choices=[("", "none (on request only)")] + [(k, k) for k in POLICY_KINDS], required=False)
    policy_frequency = forms.ChoiceField(choices=[(f, f) for f in FREQUENCIES], required=False, initial="monthly")
    policy_band_pp = forms.DecimalField(required=False, max_digits=6, decimal_places=2, initial=Decimal("5"))
    reason = ReasonField()

    def __init__(self, *args, instance: Portfolio | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance = instance
        for name in ("initial_margin", "gross_limit"):  # 0.5, not 0.5000
            value = self.initial.get(name)
            if isinstance(value, Decimal):
                self.initial[name] = format(value.normalize(), "f")
        self.fields["traders"].queryset = traders_queryset()
        if instance is None:  # the opening cash is set once; afterwards only fills and fees move it
            self.fields["cash"] = forms.DecimalField(max_digits=20, decimal_places=2, min_value=Decimal("0"),
                                                     help_text="Opening cash (USD).")

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        others = Portfolio.objects.filter(name__iexact=name)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise ValidationError(f"A portfolio named {name} exists already.")
        return name

    def clean_initial_margin(self):
        v = self.cleaned_data["initial_margin"]
        if not (Decimal("0") < v <= Decimal("1")):
            raise ValidationError("A fraction above 0 and at most 1.")
        return v

    def clean_gross_limit(self):
        v = self.cleaned_data["gross_limit"]
        if v < 1:
            raise ValidationError("At least 1 (100% of NAV), since weights sum to 1.")
        return v

    def clean_strategy_params(self):
        return self._mapping("strategy_params")

    def clean_constraints(self):
        return self._mapping("constraints")

    def _mapping(self, name):
        v = self.cleaned_data.get(name)
        if v in (None, ""):
            return {}
        if not isinstance(v, dict):
            raise ValidationError("A JSON object, e.g. {\"lookback_days\": 756}.")
        return v

    def policy(self) -> dict:
        from portfolio_app.rebalancing import validate_policy

        d = self.cleaned_data
        if not d.get("policy_kind"):
            return {}
        raw = {"kind": d["policy_kind"], "frequency": d.get("policy_frequency") or "monthly"}
        if d.get("policy_band_pp") is not None:
            raw["band_pp"] = float(d["policy_band_pp"])
        return validate_policy(raw)

    def clean(self):
        from desk.interfaces import ConfigError
        from portfolio_app.optimisation.constraints import Constraints
        from portfolio_app.strategy import optimiser_for

        data = super().clean()
        if self.errors:
            return data
        try:
            data["rebalance_policy"] = self.policy()
        except ConfigError as exc:
            self.add_error(f"policy_{exc.field}" if f"policy_{exc.field}" in self.fields else "policy_kind", exc.reason)
        long_short = data["account"] == "margin"
        try:
            Constraints.from_config({**data["constraints"], "long_short": long_short, "gross_limit": float(data["gross_limit"])})
        except ConfigError as exc:
            self.add_error("constraints", f"{exc.field}: {exc.reason}")
        else:
            probe = Portfolio(strategy=data["strategy"], strategy_params=data["strategy_params"], constraints=data["constraints"],
                              long_short=long_short, gross_limit=data["gross_limit"])
            try:
                optimiser_for(probe)
            except ConfigError as exc:
                self.add_error("strategy" if exc.field == "strategy" else "strategy_params", f"{exc.field}: {exc.reason}")
        if self.instance is not None and self.instance.long_short and not long_short:
            shorts = sorted(self.instance.positions.filter(quantity__lt=0).values_list("instrument__symbol", flat=True))
            if shorts:
                self.add_error("account", f"A cash account holds no shorts: it is short {', '.join(shorts)}; close them first.")
        return data


class InstrumentForm(forms.ModelForm):
    reason = ReasonField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("lot_size", "tick_size", "adv"):  # 100, not 100.0000
            value = self.initial.get(name)
            if isinstance(value, Decimal):
                self.initial[name] = format(value.normalize(), "f")

    class Meta:
        model = Instrument
        fields = ["name", "sector", "lot_size", "tick_size", "adv", "tradable", "restricted"]
        labels = {"adv": "ADV (shares a day)", "restricted": "On the restricted list"}

    def clean_lot_size(self):
        v = self.cleaned_data["lot_size"]
        if v <= 0 or v != v.to_integral_value():
            raise ValidationError("A whole number of shares above zero.")
        return v

    def clean_tick_size(self):
        v = self.cleaned_data["tick_size"]
        if v <= 0:
            raise ValidationError("Above zero.")
        return v

    def clean_adv(self):
        v = self.cleaned_data["adv"]
        if v < 0:
            raise ValidationError("Shares a day: zero or more.")
        return v
