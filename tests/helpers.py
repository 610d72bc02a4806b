"""Small assertions shared by the API tests."""


def error_fields(response) -> set[str]:
    """The fields named by an error response in the desk's format (config/api_errors.py)."""
    body = response.json()
    assert {"code", "message", "errors"} <= set(body), body
    return {e["field"] for e in body["errors"]}
