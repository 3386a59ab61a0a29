"""Write a phantom MRCP study (DICOM files in a zip) that can be uploaded from a donor's page.

The phantom draws the biliary tree of one of the anatomy presets, like the demo's own studies. Give
the donor's MRN and name (--patient-id, --patient-name "Family^Given") for a study that matches the
donor; with the defaults the import asks a radiologist to confirm whose images they are. With
--realistic the ducts curve and taper, the noise is Rician at --snr, and more fluid (bowel, renal
pelves, cysts) lies over the ducts in projection, as on a real MRCP.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classification.presets import PRESETS, preset_document
from imaging.dicom.phantom import generate_series, write_zip
from imaging.dicom.phantom_realistic import Realism

DEFAULT_PRESET = "typical_right_lobe"
DEFAULT_SNR = 12.0


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


def realism_of(options: dict) -> Realism | None:
    """The realistic phantom's settings, refused with the reason when they make no sense."""
    snr, breathing = options.get("snr"), options.get("breathing")
    if not options.get("realistic"):
        if snr is not None or breathing is not None:
            raise CommandError("--snr and --breathing need --realistic (the default phantom has neither)")
        return None
    snr = DEFAULT_SNR if snr is None else snr
    breathing = 0.0 if breathing is None else breathing
    if not 1.0 <= snr <= 1000.0:
        raise CommandError(f"--snr {snr:g} is outside 1-1000 (fluid signal over the noise's standard deviation)")
    if not 0.0 <= breathing <= 10.0:
        raise CommandError(f"--breathing {breathing:g} is outside 0-10 mm")
    return Realism(snr=snr, respiratory_mm=breathing)


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

        parser.add_argument(
            "--realistic",
            action="store_true",
            help="curved tapering ducts, Rician noise and distracting fluid (bowel, renal pelves, cysts)",
        )
        parser.add_argument(
            "--snr",
            type=float,
            default=None,
            help=f"with --realistic: fluid signal over noise (default {DEFAULT_SNR:g})",
        )
        parser.add_argument(
            "--breathing",
            type=float,
            default=None,
            help="with --realistic: standard deviation (mm) of a head-foot shift between slices (default 0)",
        )

    def handle(self, *args, **options):
        out = check_out_path(options["out"])
        slices = options["slices"]
        if not 8 <= slices <= 200:
            raise CommandError(f"--slices {slices} is outside 8-200")
        realism = realism_of(options)
        with tempfile.TemporaryDirectory(prefix="ldlt-phantom-") as folder:
            phantom = generate_series(
                preset_document(options["preset"]),
                Path(folder) / "series",
                slices=slices,
                seed=options["seed"],
                patient_id=options["patient_id"],
                patient_name=options["patient_name"],
                enhanced=options["enhanced"],
                realism=realism,
            )
            try:
                write_zip(phantom.paths, out)
            except OSError as error:
                raise CommandError(f"cannot write {out}: {error.strerror or error}") from None
        in_one = " in one Enhanced MR file" if options["enhanced"] else ""
        if realism is not None:
            in_one += f", realistic at SNR {realism.snr:g}"
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {out}: a phantom MRCP of {phantom.slices} slices{in_one} ({options['preset']}) for patient "
                f"{options['patient_name']} ({options['patient_id']}). Upload it from the donor's page "
                "(/donors/<id>/, Upload DICOM)."
            )
        )
