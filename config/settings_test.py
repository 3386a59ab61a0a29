"""The test suite's settings: the production settings (DJANGO_DEBUG false) with a throwaway key.

The key goes into the environment so the Celery workers and commands the tests start in
subprocesses load the same settings."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-suite-only-key-" + "n0t-for-real-data-" * 3)
# Proposing a tree reads every slice again: the tests that want it on ingest turn it on.
os.environ.setdefault("TREE_PROPOSAL_ON_INGEST", "false")

from config.settings import *  # noqa: E402,F401,F403
