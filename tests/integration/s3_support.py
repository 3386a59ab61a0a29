"""An S3-compatible store for the tests: moto's standalone server, a process of its own on
loopback, and the settings or environment that point the app at one of its buckets."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import requests

from tests.conftest import free_port

ACCESS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # noqa: S105 - moto's
REGION = "eu-west-1"


def run_s3_server() -> Iterator[str]:
    """moto's server on a free loopback port: yields its endpoint, stops it after."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                requests.get(endpoint, timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's server did not start on port {port}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def new_bucket(endpoint: str):
    """A new, empty bucket; returns the boto3 client and the bucket's name."""
    name = f"ldlt-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **ACCESS)
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client, name


def s3_environment(endpoint: str, bucket: str, media_root: Path) -> dict[str, str]:
    """What a web or worker process needs in its environment to keep its files in the bucket (as
    in compose); its MEDIA_ROOT is a folder that must stay empty."""
    return {
        "DJANGO_STORAGE": "s3",
        "DJANGO_S3_BUCKET": bucket,
        "DJANGO_S3_ENDPOINT_URL": endpoint,
        "DJANGO_S3_REGION": REGION,
        "AWS_ACCESS_KEY_ID": ACCESS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": ACCESS["aws_secret_access_key"],
        "DJANGO_MEDIA_ROOT": str(media_root),
    }


def keys(client, name) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=name)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def media_is_empty(media_root: Path) -> bool:
    return not media_root.exists() or not [p for p in media_root.rglob("*") if p.is_file()]
