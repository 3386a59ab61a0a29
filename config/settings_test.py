"""The test suite's settings: the production settings (DJANGO_DEBUG false) with a throwaway key.

The key goes into the environment so the Celery workers and commands the tests start in
subprocesses load the same settings."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-suite-only-key-" + "n0t-for-real-data-" * 3)

from config.settings import *  # noqa: E402,F401,F403
