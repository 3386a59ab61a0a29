"""A private Orthanc process for the tests that use it as a peer (Debian's `orthanc`, and its
`orthanc-dicomweb` plugin when a test needs DICOMweb)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN_PLACES = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "/usr/lib/orthanc")


def dicomweb_plugin() -> str | None:
    for place in DICOMWEB_PLUGIN_PLACES:
        path = Path(place)
        if path.is_file():
            return str(path)
        if path.is_dir():
            found = sorted(path.glob("libOrthancDicomWeb.so*"))
            if found:
                return str(found[0])
    return None


ORTHANC_MISSING = not os.path.exists(ORTHANC) or dicomweb_plugin() is None
# In CI Orthanc is installed by .ci/run: there a test that needs it runs, never skips.
needs_orthanc = pytest.mark.skipif(
    ORTHANC_MISSING and os.environ.get("CI") != "true", reason="Orthanc or its DICOMweb plugin is absent"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Orthanc:
    """A private Orthanc process: its own storage, ports and configuration, stopped at the end.

    `settings` are added to its configuration (e.g. DicomModalities, DicomWeb servers)."""

    def __init__(self, folder: Path, *, ae_title: str, settings: dict | None = None):
        if ORTHANC_MISSING:
            pytest.fail("Orthanc and its DICOMweb plugin are required (CI installs them in .ci/run)")
        self.folder = folder
        self.ae_title = ae_title
        self.http_port, self.dicom_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        config = {
            "Name": "peer-under-test",
            "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "storage"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": ae_title,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpTimeout": 60,
            "DicomScuTimeout": 30,
            "Plugins": [dicomweb_plugin()],
        } | (settings or {})
        (folder / "orthanc.json").write_text(json.dumps(config))
        self.log = open(folder / "orthanc.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [ORTHANC, str(folder / "orthanc.json")], stdout=self.log, stderr=subprocess.STDOUT
        )
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"Orthanc exited: {self.logged()}")
            try:
                if requests.get(f"{self.url}/system", timeout=2).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.2)
        raise AssertionError(f"Orthanc did not answer within {timeout} s: {self.logged()}")

    def logged(self) -> str:
        self.log.flush()
        return (self.folder / "orthanc.log").read_text()[-4000:]

    def get(self, path: str, **kwargs) -> requests.Response:
        answer = requests.get(f"{self.url}{path}", timeout=60, **kwargs)
        assert answer.ok, f"GET {path}: {answer.status_code} {answer.text}\n{self.logged()}"
        return answer

    def post(self, path: str, body, **kwargs) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body)
        answer = requests.post(f"{self.url}{path}", data=data, timeout=120, **kwargs)
        assert answer.ok, f"POST {path}: {answer.status_code} {answer.text}\n{self.logged()}"
        return answer

    def load(self, paths) -> str:
        """Store files into Orthanc by its REST API; the Orthanc id of their study."""
        studies = {self.post("/instances", Path(p).read_bytes()).json()["ParentStudy"] for p in paths}
        (study,) = studies
        return study

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
