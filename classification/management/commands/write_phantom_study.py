"""Write a phantom MRCP study (DICOM files in a zip) that can be uploaded from a donor's page.

The phantom draws the biliary tree of one of the anatomy presets, like the demo's own studies. Give
the donor's MRN and name (--patient-id, --patient-name "Family^Given") for a study that matches the
donor; with the defaults the import asks a radiologist to confirm whose images they are.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classification.presets import PRESETS, preset_document
from imaging.dicom.phantom import generate_series, write_zip

DEFAULT_PRESET = "typical_right_lobe"


def check_out_path(out: str) -> Path:
    """The zip's path, refused with a plain reason when it cannot be written."""
    path = Path(out).expanduser()
    if not out.strip():
        raise CommandError("--out needs a file name, e.g. --out phantom.zip")
    if path.is_dir():
        raise CommandError(f"--out {out} is a folder; give a file name inside it, e.g. {path / 'phantom.zip'}")
    if path.suffix.lower() != ".zip":
        raise CommandError(f"--out {out} must end in .zip (the upload page takes DICOM files or zips of them)")
    if not path.parent.is_dir():
        raise CommandError(f"cannot write {out}: the folder {path.parent} does not exist")
    return path


class Command(BaseCommand):
    help = "Write a phantom MRCP study to a zip to upload from a donor's page (/imaging/donors/<id>/upload/)."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="the zip file to write, e.g. phantom.zip")
        parser.add_argument(
            "--preset",
            default=DEFAULT_PRESET,
            choices=sorted(PRESETS),
            help=f"the biliary anatomy the phantom draws (default {DEFAULT_PRESET})",
        )
        parser.add_argument("--patient-id", default="PHANTOM-0001", help="patient ID in the files (the donor's MRN)")
        parser.add_argument("--patient-name", default="Phantom^Donor", help='patient name in the files, "Family^Given"')
        parser.add_argument("--slices", type=int, default=56, help="number of coronal slices (8-200, default 56)")
        parser.add_argument("--seed", type=int, default=0, help="random seed of the small details (default 0)")
        parser.add_argument(
            "--enhanced",
            action="store_true",
            help="write the slices as the frames of one Enhanced MR file (Legacy Converted), as current scanners do",
        )

    def handle(self, *args, **options):
        out = check_out_path(options["out"])
        slices = options["slices"]
        if not 8 <= slices <= 200:
            raise CommandError(f"--slices {slices} is outside 8-200")
        with tempfile.TemporaryDirectory(prefix="ldlt-phantom-") as folder:
            phantom = generate_series(
                preset_document(options["preset"]),
                Path(folder) / "series",
                slices=slices,
                seed=options["seed"],
                patient_id=options["patient_id"],
                patient_name=options["patient_name"],
                enhanced=options["enhanced"],
            )
            try:
                write_zip(phantom.paths, out)
            except OSError as error:
                raise CommandError(f"cannot write {out}: {error.strerror or error}") from None
        in_one = " in one Enhanced MR file" if options["enhanced"] else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {out}: a phantom MRCP of {phantom.slices} slices{in_one} ({options['preset']}) for patient "
                f"{options['patient_name']} ({options['patient_id']}). Upload it from the donor's page "
                "(/donors/<id>/, Upload DICOM)."
            )
        )
