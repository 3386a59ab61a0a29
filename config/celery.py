"""The Celery application; workers start with `celery -A config worker`.

Tasks go to one of two queues by weight, by name (see `route_by_weight`): a 2,000-file ingest
must never sit in front of the classification a radiologist is waiting for.
"""

import os
from fnmatch import fnmatchcase

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ldlt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Long, CPU- or I/O-bound work: DICOM ingest and rendering (and anything else imaging runs in
# the background, such as tree extraction), every report job (PDF, SR, FHIR, PACS sends) and
# bulk re-classification after a rules upgrade. Everything else (the classification of one
# saved anatomy, small updates, pings) is interactive and stays on the default queue.
HEAVY_TASKS = ("imaging.*", "reports.*", "classification.classify_annotations")


def is_heavy(task_name: str) -> bool:
    return any(fnmatchcase(task_name, pattern) for pattern in HEAVY_TASKS)


def route_by_weight(name, args, kwargs, options, task=None, **_):
    """Heavy tasks to the heavy queue; None leaves the others on the default (interactive) queue.

    The queue names are read when a task is sent, so a process may rename them at run time.
    """
    if is_heavy(name):
        return {"queue": app.conf.task_heavy_queue}
    return None
