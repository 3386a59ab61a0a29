"""Demo data: a phantom MRCP series for a few demo donors, imported like any upload. Idempotent."""
from __future__ import annotations

import tempfile
from pathlib import Path

from classification.presets import preset_document
from core.audit import Actor
from donors.models import Donor

from . import jobs, services
from .dicom import generate_series, write_zip
from .models import Study

# (donor code, anatomy preset, seed)
DEMO_SERIES = [
    ("DEMO-001", "typical_right_lobe", 1),
    ("DEMO-002", "trifurcation", 2),
    ("DEMO-003", "rphd_into_lhd", 3),
]
SLICES, MATRIX = 56, 256


def seed_imaging(*, centre, users) -> str:
    uploader = users.get("radiologist") or next(iter(users.values()))
    actor = Actor(user=uploader, channel="command")
    made, images = [], 0
    for code, preset, seed in DEMO_SERIES:
        donor = Donor.objects.filter(centre=centre, code=code).first()
        if donor is None or Study.objects.filter(donor=donor).exists():
            continue
        with tempfile.TemporaryDirectory(prefix="ldlt-demo-mrcp-") as folder:
            document = preset_document(preset)
            phantom = generate_series(
                document, Path(folder) / "series", slices=SLICES, rows=MATRIX, columns=MATRIX, seed=seed,
                patient_id=donor.mrn, patient_name=f"{donor.family_name}^{donor.given_name}",
            )
            archive = write_zip(phantom.paths, Path(folder) / "mrcp.zip")
            upload = services.create_upload(
                actor=actor, donor=donor, channel="command",
                files=[services.Incoming("mrcp.zip", archive.stat().st_size, archive)],
            )
            jobs.ingest_upload(upload_id=upload.pk, channel="command")  # no-op when a task already did it
        made.append(code)
        images += SLICES
    if not made:
        return "MRCP phantoms: already present"
    return f"MRCP phantoms: {', '.join(made)} ({images} images, imported through the upload service)"


SEEDERS = [seed_imaging]
