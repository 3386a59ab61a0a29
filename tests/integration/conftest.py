"""Fixtures shared by the integration tests: the staff of the home centre, a scratch media root,
and an S3-compatible store (moto's server) with a new bucket per test."""

from __future__ import annotations

import pytest

from tests.integration.s3_support import ACCESS, REGION, new_bucket, run_s3_server


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


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3-compatible server in its own process on a free loopback port, for the session."""
    yield from run_s3_server()


@pytest.fixture
def bucket(s3_endpoint, settings, tmp_path):
    """A new bucket, made the default storage; MEDIA_ROOT is an empty folder that must stay empty."""
    client, name = new_bucket(s3_endpoint)
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = settings.STORAGES | {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": settings.S3_STORAGE_OPTIONS
            | {
                "bucket_name": name,
                "endpoint_url": s3_endpoint,
                "region_name": REGION,
                "access_key": ACCESS["aws_access_key_id"],
                "secret_key": ACCESS["aws_secret_access_key"],
            },
        }
    }
    return client, name
