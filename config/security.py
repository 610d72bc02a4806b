"""Edges of web security that Django leaves to the project."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse


class RequestTooLargeMiddleware:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE is 413 with a sentence, not Django's generic 400.

    Django raises ``RequestDataTooBig`` lazily, when the body is first read; reading it
    here (for bodies that declare a large length) turns that into a clean 413.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings

        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            return JsonResponse(
                {"code": "request_too_large", "message": f"The request body is {length:,} bytes; the limit is {limit:,} bytes.", "errors": []},
                status=413,
            )
        try:
            return self.get_response(request)
        except RequestDataTooBig:
            return JsonResponse({"code": "request_too_large", "message": f"The request body is over the {limit:,}-byte limit.", "errors": []}, status=413)
