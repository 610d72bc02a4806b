"""The prose of docs/security.md around the generated matrix (tests/api/authorization_matrix.py)."""

HEADER = """# Security

<!-- Generated: python -m tests.api.authorization_matrix > docs/security.md
     tests/api/test_authorization_matrix.py fails when this file and the table differ. -->

Who may do what (DESIGN.md, "Roles"), checked against a running desk by
`tests/api/test_authorization_matrix.py`, and the web-security measures around it."""

MATRIX_INTRO = """Every API operation, page and websocket group, for every role. The test desk has a
trader who owns one portfolio ("own") and another trader's portfolio ("other"), two risk
officers (changes by one are approved by the other), an API client owning some agents
("own agent") but not others, and an admin. Every request is replayed and rolled back, so
each cell is the status that role gets from a desk in the same state.

✅ allowed · ⛔ refused (401 no credentials, 403 role or ownership, 404 not visible to you,
400 a reference to something you may not see) · ↪ redirect (302: to the login page for
anonymous users; after a form post, back to the page)."""

MEASURES = """## Web security measures

| measure | where | tested by |
|---|---|---|
| **CSRF** on every form (Django's middleware; no `csrf_exempt` view; the API uses token auth, or session auth with CSRF) | `config/settings.py` `MIDDLEWARE` | `tests/api/test_web_security.py` (a form post without a token is 403) |
| **Content Security Policy** (django-csp): `script-src 'self'`, no inline script or style, `frame-ancestors 'none'`, `object-src 'none'` | `CONTENT_SECURITY_POLICY` | `test_web_security.py` |
| **Secure cookies and HSTS** when `DJANGO_DEBUG` is off: `SESSION_COOKIE_SECURE`, `CSRF_COOKIE_SECURE`, HSTS one year with subdomains and preload, SSL redirect, `nosniff` | `config/settings.py` (`if not DEBUG`) | `tests/api/test_web_security.py` |
| **Production secrets have no default**: without `DJANGO_SECRET_KEY` and `DJANGO_DEBUG` off the process refuses to start; no secret is committed (the debug key is labelled debug-only) | `config/settings.py` | `tests/test_settings.py`; `bandit` (B105) |
| **Login throttling** (django-axes): 5 failed sign-ins for a user from an address lock that pair out for 15 minutes (429), even with the right password | `AXES_*` | `test_web_security.py` |
| **API throttling per token** (DRF `UserRateThrottle`, counters in Redis so all processes count together): 429 with `Retry-After` | `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` (`DESK_API_RATE`) | `test_web_security.py` |
| **Body size limit**: over `DESK_MAX_REQUEST_BYTES` (16 MB) is 413 with a sentence | `config/security.py` | `test_web_security.py` |
| **Tokens rotate and revoke**: `POST /api/v1/token/rotate/` (the old token stops at once), `POST /api/v1/token/revoke/` | `ops_app/accounts.py` | `tests/execution/test_access.py` |
| **Password validation**: similarity, minimum length 10, common passwords, all-numeric | `AUTH_PASSWORD_VALIDATORS` | Django's validators, used by `create_desk_user` |
| **API clients have no password** (token only) and no dashboard pages | `ops_app/accounts.py`, `desk_page` | this matrix |
| **Anonymous websockets are closed** (4401); each socket joins only the groups its user may see | `execution_app/consumers.py`, `desk/groups.py` | this matrix |
| **One error format**, no stack traces: JSON `{code, message, errors}` for every 4xx/5xx under `/api/` | `config/api_errors.py`, `config/urls.py` | `tests/api/test_fuzz.py`, `tests/api/test_bad_input.py` |
| **Bad input refused** with the field named and nothing saved (out-of-range numbers, wrong types, unknown ids, malformed JSON, naive timestamps, NUL bytes, lone surrogates) | serializers, `signal_validation.py` | `tests/api/test_bad_input.py`, Schemathesis (`make fuzz`) |
| **Static analysis**: `bandit -ll` clean (justified exceptions carry `# nosec BXXX` and a reason) | project code | `tests/api/test_static_security.py` |
| **Dependencies**: `pip-audit -r requirements.txt` in CI | `requirements.txt` | CI job (needs the PyPI/OSV vulnerability service) |"""
