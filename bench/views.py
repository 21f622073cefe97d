"""The baseline: a bare Django view doing one query, through the same middleware stack."""

from django.db import connection
from django.http import HttpResponse


def bare(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (value,) = cursor.fetchone()
    return HttpResponse(f"ok {value}", content_type="text/plain")
