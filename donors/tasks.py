"""Celery tasks of the donors app."""

from celery import shared_task


@shared_task(name="donors.ping", acks_late=True, soft_time_limit=10, time_limit=20)
def ping(value: str) -> str:
    """Round trip used by health checks and the test harness: proves a worker answers."""
    return f"pong:{value}"
