"""A real worker on Redis answers: the harness later issues' worker tests stand on."""

import pytest

from donors.tasks import ping

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_worker_round_trip(celery_worker):
    from django.conf import settings

    assert not settings.CELERY_TASK_ALWAYS_EAGER
    result = ping.apply_async(args=["round-trip"])
    assert result.get(timeout=30) == "pong:round-trip"
    assert celery_worker.poll() is None  # still running
