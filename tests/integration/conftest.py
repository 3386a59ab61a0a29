"""Fixtures shared by the integration tests: the staff of the home centre and a scratch media root."""

from __future__ import annotations

import pytest


@pytest.fixture
def staff(make_user):
    return {
        role: make_user(role, username=f"{role}-r", first_name=role.capitalize(), last_name="Tester")
        for role in ("coordinator", "radiologist", "hepatologist", "surgeon", "auditor", "integration_client")
    }


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path
