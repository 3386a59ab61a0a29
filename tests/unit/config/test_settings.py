"""Settings refuse to serve real data with a guessable key, and take the HTTPS values and the file storage from
the environment."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# Print the settings the environment produced.
SHOW = (
    "import django; from django.conf import settings; django.setup(); "
    "print(settings.DEBUG, settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS, settings.SESSION_COOKIE_SECURE, "
    "getattr(settings, 'SECURE_PROXY_SSL_HEADER', None), settings.USE_X_FORWARDED_FOR, settings.SESSION_COOKIE_AGE)"
)


def load_settings(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    clean |= {"DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(ROOT)} | env
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_without_debug_the_app_refuses_to_start_without_a_secret_key():
    result = load_settings()  # DJANGO_DEBUG defaults to false
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in result.stderr
    assert load_settings(DJANGO_DEBUG="false", DJANGO_SECRET_KEY="").returncode != 0


def test_debug_runs_with_a_local_key_and_the_plain_http_defaults():
    result = load_settings(DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "0", "False", "None", "False", "28800"]


def test_the_https_values_come_from_the_environment():
    result = load_settings(
        DJANGO_SECRET_KEY="k" * 60,
        DJANGO_SECURE_SSL_REDIRECT="true",
        DJANGO_SECURE_HSTS_SECONDS="31536000",
        DJANGO_SECURE_COOKIES="true",
        DJANGO_SECURE_PROXY_SSL_HEADER="true",
        DJANGO_USE_X_FORWARDED_FOR="true",
        DJANGO_SESSION_COOKIE_AGE="3600",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False True 31536000 True ('HTTP_X_FORWARDED_PROTO', 'https') True 3600"


STORAGE = (
    "import django; django.setup(); from django.core.files.storage import storages; s = storages['default']; "
    "print(type(s).__name__, *(getattr(s, name, '-') for name in "
    "('bucket_name', 'endpoint_url', 'region_name', 'default_acl', 'querystring_auth')))"
)


def load_storage(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    clean |= {"DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(ROOT), "DJANGO_DEBUG": "true"} | env
    return subprocess.run(
        [sys.executable, "-c", STORAGE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_s3_storage_takes_the_bucket_endpoint_and_region_from_the_environment_and_keeps_objects_private():
    result = load_storage(
        DJANGO_STORAGE="s3",
        DJANGO_S3_BUCKET="ldlt-files",
        DJANGO_S3_ENDPOINT_URL="http://minio:9000",
        DJANGO_S3_REGION="eu-west-2",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["S3Storage", "ldlt-files", "http://minio:9000", "eu-west-2", "None", "True"]


def test_local_disk_stays_the_default_and_s3_needs_a_bucket():
    result = load_storage()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["FileSystemStorage", "-", "-", "-", "-", "-"]
    missing = load_settings(DJANGO_DEBUG="true", DJANGO_STORAGE="s3")
    assert missing.returncode != 0 and "DJANGO_STORAGE=s3 needs DJANGO_S3_BUCKET" in missing.stderr
    other = load_settings(DJANGO_DEBUG="true", DJANGO_STORAGE="ftp")
    assert other.returncode != 0 and "DJANGO_STORAGE: 'ftp' is neither 'local' nor 's3'" in other.stderr
