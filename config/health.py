from django.db import connection
from django.http import JsonResponse


def health(request):
    """Liveness for the load balancer and docker-compose: the app answers and the database too."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
