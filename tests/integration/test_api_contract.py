"""The API against its own schema: schemathesis drives the live app, once as a hospital system with a
token and once as a coordinator with a session cookie (and the CSRF header, so writes are exercised
too), and fails on any server error or any response the schema does not describe.

Bounded: a fixed number of examples per operation and a time budget per run, so the gate stays
within about three minutes on a two-core machine. The figures of each run are printed (run pytest
with -s to see them) and written to $API_CONTRACT_SUMMARY (default: the test's tmp dir)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

from classification.presets import preset_document
from tests.factories import CentreFactory, DonorFactory, RecipientFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = int(os.environ.get("API_CONTRACT_MAX_EXAMPLES", "6"))
MAX_SECONDS = int(os.environ.get("API_CONTRACT_MAX_SECONDS", "60"))
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
SEED = 20260310


@pytest.fixture
def seeded(settings, tmp_path):
    """A centre with a coordinator, a recipient and donors (one with a recorded anatomy), and a
    token for a hospital system of that centre, issued as an administrator would."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    centre = CentreFactory(name="Contract Centre", code="contract")
    coordinator = UserFactory(centre=centre, roles=["coordinator"], username="contract-coordinator")
    recipient = RecipientFactory(centre=centre)
    donors = [DonorFactory(centre=centre, recipient=recipient) for _ in range(3)]
    from classification.services import save_annotation
    from core.audit import Actor

    radiologist = UserFactory(centre=centre, roles=["radiologist"], username="contract-radiologist")
    save_annotation(
        actor=Actor(user=radiologist, channel="page", ip_address="127.0.0.1"),
        donor=donors[0],
        document=preset_document("typical_right_lobe"),
    )
    out = io.StringIO()
    call_command("issue_api_token", centre="contract", name="contract test", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    return {"centre": centre, "coordinator": coordinator, "token": token}


def _session_headers(user) -> list[str]:
    client = Client()
    client.force_login(user)
    csrf = _get_new_csrf_string()
    cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken={csrf}"
    return [f"Cookie: {cookie}", f"X-CSRFToken: {csrf}"]


def _fetch_schema(url: str, headers: list[str], into: Path) -> Path:
    request = urllib.request.Request(
        url, headers=dict(h.split(": ", 1) for h in headers) | {"Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the live test server
        into.write_bytes(response.read())
    return into


def _figures(report_path: Path) -> dict:
    """Requests, server errors and schema mismatches from schemathesis' ndjson event stream."""
    requests = server_errors = mismatches = other = 0
    failures: list[str] = []
    for line in report_path.read_text().splitlines():
        event = json.loads(line)
        scenario = event.get("ScenarioFinished")
        if not scenario:
            continue
        recorder = scenario.get("recorder") or {}
        requests += sum(
            len(item) if isinstance(item, list) else 1 for item in (recorder.get("interactions") or {}).values()
        )
        for checks in (recorder.get("checks") or {}).values():
            for check in checks:
                if str(check.get("status")).lower() != "failure":
                    continue
                name = check.get("name")
                if name == "not_a_server_error":
                    server_errors += 1
                elif name in ("response_schema_conformance", "status_code_conformance", "content_type_conformance"):
                    mismatches += 1
                else:
                    other += 1
                failure = check.get("failure_info") or {}
                failures.append(f"{scenario.get('label') or ''} {name}: {json.dumps(failure)[:600]}")
    return {
        "requests": requests,
        "server_errors": server_errors,
        "schema_mismatches": mismatches,
        "other_failures": other,
        "failures": failures,
    }


def _run(label: str, live_server, schema: Path, headers: list[str], out_dir: Path) -> dict:
    report = out_dir / f"{label}.ndjson"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        str(schema),
        "--url",
        live_server.url,
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_SECONDS),
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--no-shrink",
        "--request-timeout",
        "20",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        "--suppress-health-check",
        "all",
        "--output-truncate",
        "true",
        "--warnings",
        "off",
    ]
    for header in headers:
        command += ["--header", header]
    # Run in the output folder: schemathesis keeps its cache (.schemathesis/) in the working directory.
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS + 120,
        cwd=out_dir,
        env=os.environ | {"NO_COLOR": "1"},
    )
    (out_dir / f"{label}.log").write_text(result.stdout + result.stderr)
    figures = _figures(report) | {"exit_code": result.returncode}
    figures["tail"] = (result.stdout + result.stderr)[-3000:]
    return figures


def test_the_api_answers_as_its_schema_says(seeded, live_server, tmp_path):
    out_dir = Path(os.environ.get("API_CONTRACT_SUMMARY_DIR", tmp_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = {
        "token": [f"Authorization: Token {seeded['token']}"],
        "session": _session_headers(seeded["coordinator"]),
    }
    results = {}
    for label, headers in runs.items():
        schema = _fetch_schema(f"{live_server.url}/api/schema/?format=json", headers, out_dir / f"schema-{label}.json")
        results[label] = _run(label, live_server, schema, headers, out_dir)
    summary = {label: {k: v for k, v in r.items() if k not in ("tail",)} for label, r in results.items()}
    (out_dir / "api-contract-summary.json").write_text(json.dumps(summary, indent=2))
    for label, r in results.items():
        print(
            f"\nschemathesis [{label}]: {r['requests']} requests, {r['server_errors']} server errors, "
            f"{r['schema_mismatches']} schema mismatches, {r['other_failures']} other failures "
            f"(exit {r['exit_code']})"
        )
        for failure in r["failures"][:20]:
            print("  ", failure)
    for label, r in results.items():
        assert r["requests"] > 0, f"{label}: schemathesis sent no request\n{r['tail']}"
        assert r["server_errors"] == 0 and r["schema_mismatches"] == 0 and r["other_failures"] == 0, (
            f"{label}: {r['failures'][:10]}\n{r['tail']}"
        )
        assert r["exit_code"] == 0, f"{label}: schemathesis exited {r['exit_code']}\n{r['tail']}"
