"""One error format for the whole API (/api/v1/):

    {"code": "invalid", "message": "quantity: Ensure this value is greater than 0.",
     "errors": [{"field": "quantity", "reason": "Ensure this value is greater than 0.", "code": "min_value"}]}

- ``code``: machine-readable (``invalid``, ``not_authenticated``, ``permission_denied``,
  ``not_found``, ``conflict``, ``throttled``, ``request_too_large``, …).
- ``message``: one sentence a person can read.
- ``errors``: one entry per bad field (``field`` is a dotted path; batch items add ``index``).

The exception handler builds it from DRF's exceptions (keeping their codes); the renderer
normalises any other error body a view returned, so no endpoint can leak another shape.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from desk.errors import DomainError

CODE_BY_STATUS = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    503: "unavailable",
}


def _flatten(detail: Any, codes: Any = None, prefix: str = "") -> list[dict]:
    """DRF's nested error detail -> [{"field", "reason", "code"}] with dotted field paths."""
    out: list[dict] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            sub = codes.get(key) if isinstance(codes, dict) else None
            name = "" if key in ("non_field_errors", "detail") else str(key)
            out += _flatten(value, sub, f"{prefix}.{name}" if prefix and name else (prefix or name))
    elif isinstance(detail, list):
        if detail and all(not isinstance(d, (dict, list)) for d in detail):
            for i, d in enumerate(detail):
                code = codes[i] if isinstance(codes, list) and i < len(codes) else getattr(d, "code", None)
                out.append({"field": prefix or None, "reason": str(d), "code": code or "invalid"})
        else:
            for i, d in enumerate(detail):
                sub = codes[i] if isinstance(codes, list) and i < len(codes) else None
                out += _flatten(d, sub, f"{prefix}.{i}" if prefix else str(i))
    else:
        out.append({"field": prefix or None, "reason": str(detail), "code": getattr(detail, "code", None) or "invalid"})
    return out


def _message(errors: list[dict], fallback: str) -> str:
    if not errors:
        return fallback
    parts = []
    for e in errors[:3]:
        where = e.get("field")
        if e.get("index") is not None:
            where = f"item {e['index']}" + (f" {where}" if where else "")
        parts.append(f"{where}: {e['reason']}" if where else e["reason"])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


def normalise(data: Any, status: int) -> dict:
    """Any error body -> the desk's format (idempotent)."""
    default_code = CODE_BY_STATUS.get(status, "error")
    if isinstance(data, dict) and {"code", "message"} <= set(data):
        data.setdefault("errors", [])
        return data
    if isinstance(data, dict) and set(data) <= {"detail"}:
        detail = data.get("detail", "")
        code = getattr(detail, "code", None) or default_code
        if code in ("error",):
            code = default_code
        return {"code": code, "message": str(detail), "errors": []}
    if isinstance(data, dict) and "errors" in data and isinstance(data["errors"], list):
        errors = [
            {**e, "reason": str(e.get("reason", "")), "field": e.get("field")} if isinstance(e, dict) else {"field": None, "reason": str(e)}
            for e in data["errors"]
        ]
        # Extra keys a view adds (a batch's ``errors_total``) survive; ``detail`` becomes the message.
        extra = {k: v for k, v in data.items() if k not in ("code", "message", "errors", "detail")}
        message = data.get("message") or (str(data["detail"]) if data.get("detail") else _message(errors, "The request is invalid."))
        return {"code": data.get("code", default_code), "message": message, "errors": errors, **extra}
    if isinstance(data, dict) and "errors" in data and isinstance(data["errors"], dict):
        errors = _flatten(data["errors"])
        return {"code": default_code, "message": _message(errors, "The request is invalid."), "errors": errors}
    errors = _flatten(data)
    return {"code": default_code, "message": _message(errors, "The request failed."), "errors": errors}


def desk_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.body(), status=exc.status)
    from rest_framework.views import exception_handler  # late: DRF's settings import this module

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        errors = _flatten(exc.detail, exc.get_codes())
        response.data = {"code": "invalid", "message": _message(errors, "The request is invalid."), "errors": errors}
    else:
        response.data = normalise(response.data, response.status_code)
        code = getattr(exc, "default_code", None)
        if code and code not in ("error", "invalid") and response.data.get("code") == CODE_BY_STATUS.get(response.status_code):
            response.data["code"] = "throttled" if response.status_code == 429 else code
    return response


class DeskJSONRenderer(JSONRenderer):
    """Error bodies a view built itself are normalised here, on the way out."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code >= 400 and data is not None:
            data = normalise(data, response.status_code)
        return super().render(data, accepted_media_type, renderer_context)


# --- OpenAPI: the error shape on every operation ---------------------------------------------


@extend_schema_serializer(component_name="ErrorItem")
class ErrorItem(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="Dotted path of the bad field; null for the request as a whole.")
    reason = serializers.CharField()
    code = serializers.CharField(required=False)
    index = serializers.IntegerField(required=False, allow_null=True, help_text="Position of the bad item in a batch.")


@extend_schema_serializer(component_name="Error")
class ErrorBody(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable: invalid, not_authenticated, permission_denied, not_found, conflict, throttled, …")
    message = serializers.CharField(help_text="One sentence a person can read.")
    errors = ErrorItem(many=True)


ERROR_EXAMPLES = {
    "400": OpenApiExample("invalid", value={"code": "invalid", "message": "quantity: Ensure this value is greater than 0.", "errors": [{"field": "quantity", "reason": "Ensure this value is greater than 0.", "code": "min_value"}]}, status_codes=["400"], response_only=True),
}


def error_response(description: str) -> OpenApiResponse:
    """For ``extend_schema(responses=…)``: a status the hook does not add by itself, in the desk's format."""
    return OpenApiResponse(ErrorBody, description=description)


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the error format."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorItem"] = {
        "type": "object",
        "properties": {
            "field": {"type": "string", "nullable": True},
            "reason": {"type": "string"},
            "code": {"type": "string"},
            "index": {"type": "integer", "nullable": True},
        },
        "required": ["field", "reason"],
    }
    schemas["Error"] = {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorItem"}},
        },
        "required": ["code", "message", "errors"],
    }
    ref = {"$ref": "#/components/schemas/Error"}
    descriptions = {
        "400": "Invalid input: one entry per bad field.",
        "401": "No or bad credentials.",
        "403": "Your role or ownership does not allow this.",
        "404": "No such object (or not visible to you).",
        "409": "The object's state does not allow this now.",
        "413": "Request body too large.",
        "429": "Too many requests; see Retry-After.",
    }
    example_400 = ERROR_EXAMPLES["400"].value
    for path, path_item in result.get("paths", {}).items():
        for method, op in path_item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = op.setdefault("responses", {})
            wanted = ["401", "403", "429"]
            # Anything that takes input can refuse it: a body (any writing method may carry one)
            # or a query string.
            if method in ("post", "put", "patch", "delete"):
                wanted += ["400", "413"]
            elif any(p.get("in") == "query" for p in op.get("parameters", [])):
                wanted.append("400")
            if "{" in path:
                wanted.append("404")
            for code in wanted:
                if code not in responses:
                    body = {"schema": ref}
                    if code == "400":
                        body["example"] = example_400
                    responses[code] = {"description": descriptions[code], "content": {"application/json": body}}
    return result
