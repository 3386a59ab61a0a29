"""Every page and API path the README names exists (a renamed route must not leave the README wrong)."""

from __future__ import annotations

import re
from pathlib import Path

from django.urls import Resolver404, resolve

README = Path(__file__).resolve().parents[2] / "README.md"
# A path in backticks, optionally after an HTTP method: `/donors/<id>/workup/`, `POST /api/v1/...`.
NAMED_PATH = re.compile(r"`(?:(?:GET|POST|PUT|PATCH|DELETE) )?(/[^`\s]*)`")


# Named as the prefix of every API path ("REST under `/api/v1/`"), not as a page.
PREFIXES = {"/api/v1/", "/dicom-web/"}
FILES = ("/usr/", "/etc/", "/tmp/")


def named_paths() -> list[str]:
    found = set(NAMED_PATH.findall(README.read_text(encoding="utf-8")))
    return sorted(path for path in found - PREFIXES if not path.startswith(FILES))


def test_the_readme_names_the_pages_of_the_workflow():
    paths = named_paths()
    for page in ("/donors/<id>/", "/imaging/donors/<id>/upload/", "/donors/<id>/workup/", "/reports/cohort/"):
        assert page in paths


def test_every_path_the_readme_names_resolves():
    unresolved = []
    for path in named_paths():
        concrete = re.sub(r"<[^>]+>", "1", path)
        try:
            resolve(concrete)
        except Resolver404:
            unresolved.append(path)
    assert unresolved == []


def test_a_path_that_does_not_exist_is_caught():
    # The check above would find a page the README named wrongly, such as a bare /imaging/.
    try:
        resolve("/imaging/")
    except Resolver404:
        return
    raise AssertionError("/imaging/ resolves: the README may name it as a page")
