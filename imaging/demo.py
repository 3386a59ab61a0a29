"""Demo data: phantom MRCP series for a few demo donors, imported like any upload. Idempotent.

The anatomy each phantom draws comes from the caller (the demo seeding in reports/ picks it from the
classification presets, which sit above this app)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from core.audit import Actor
from donors.models import Donor

from . import jobs, services
from .dicom import generate_series, write_zip
from .models import Study

SLICES, MATRIX = 56, 256


def seed_phantom_series(
    *, centre, users, series: list[tuple[str, dict, int]], named_otherwise: Mapping[str, tuple[str, str]] | None = None
) -> str:
    """One phantom MRCP per (donor code, anatomy document, seed) for a donor of `centre` without a study.

    `named_otherwise` maps a donor code to the (patient ID, patient name) its files carry instead of
    the donor's, so that the import flags the study's identity as unresolved."""
    named_otherwise = named_otherwise or {}
    uploader = users.get("radiologist") or next(iter(users.values()))
    actor = Actor(user=uploader, channel="command")
    made, images = [], 0
    for code, document, seed in series:
        donor = Donor.objects.filter(centre=centre, code=code).first()
        if donor is None or Study.objects.filter(donor=donor).exists():
            continue
        patient_id, patient_name = named_otherwise.get(code) or (donor.mrn, f"{donor.family_name}^{donor.given_name}")
        with tempfile.TemporaryDirectory(prefix="ldlt-demo-mrcp-") as folder:
            phantom = generate_series(
                document,
                Path(folder) / "series",
                slices=SLICES,
                rows=MATRIX,
                columns=MATRIX,
                seed=seed,
                patient_id=patient_id,
                patient_name=patient_name,
            )
            # Fast compression: the zip only carries the files to the upload service.
            archive = write_zip(phantom.paths, Path(folder) / "mrcp.zip", compresslevel=1)
            upload = services.create_upload(
                actor=actor,
                donor=donor,
                channel="command",
                files=[services.Incoming("mrcp.zip", archive.stat().st_size, archive)],
            )
            jobs.ingest_upload(upload_id=upload.pk, channel="command")  # no-op when a task already did it
        made.append(code)
        images += SLICES
    if not made:
        return "MRCP phantoms: already present"
    return f"MRCP phantoms: {', '.join(made)} ({images} images, imported through the upload service)"
