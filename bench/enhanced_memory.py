"""Memory of reading an Enhanced MR file (one multi-frame file for the whole series) against its pixel data.

A phantom MRCP is written as one Legacy Converted Enhanced MR file (default 512 x 512 x 130 frames of
16 bits: 68 MB of pixel data, the size current scanners export). Then, in the same run, the peak of
the memory Python and numpy allocate (tracemalloc) while:

* frames from the stored file: every frame in turn into the incremental MIP, as rendering does (the
  file is mapped, so its pages are the OS page cache's, not the process's allocations);
* frames from bytes in memory: the same from the file's bytes, as a zip member is imported (the bytes
  themselves are held before and are not counted);
* frames from bytes, compressed: the same file in RLE Lossless, decoded a frame at a time by pydicom;
* one frame from the stored file: what a slice of the viewer costs;
* the whole volume in floats: ``read_instance``, which gives every frame at once (what reading the
  file as one array costs, for comparison).

Prints each peak in MB and as a ratio to the pixel data; the frame by frame paths must stay within 2
(the target), the whole volume cannot (float32 is twice 16-bit, plus the pixel data read).

    python bench/enhanced_memory.py [--size 512] [--frames 130]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classification.presets import preset_document  # noqa: E402
from imaging.dicom import IncrementalMip, generate_series, read_instance  # noqa: E402
from imaging.dicom.geometry import frame_geometries  # noqa: E402
from imaging.dicom.reader import open_frames  # noqa: E402


def peak(run) -> tuple[float, float]:
    """(peak bytes allocated while ``run`` ran, seconds)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return top, seconds


def project(source, name: str) -> tuple[int, int]:
    with open_frames(source, name=name) as frames:
        planes = frame_geometries(frames.header)
        builder = IncrementalMip()
        for plane, pixels in zip(planes, frames, strict=True):
            builder.add(pixels, plane)
        return builder.result().image.shape


def one_frame(path: Path, index: int) -> np.ndarray:
    with open_frames(path, name=path.name) as frames:
        return frames.frame(index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=130)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ldlt-bench-enhanced-") as folder:
        started = time.perf_counter()
        phantom = generate_series(
            preset_document("typical_right_lobe"),
            folder,
            slices=args.frames,
            rows=args.size,
            columns=args.size,
            enhanced=True,
        )
        path = phantom.paths[0]
        pixel_bytes = args.size * args.size * 2 * args.frames
        print(
            f"Enhanced MR of {args.frames} frames of {args.size} x {args.size}: "
            f"file {path.stat().st_size / 1e6:.1f} MB, "
            f"pixel data {pixel_bytes / 1e6:.1f} MB (written in {time.perf_counter() - started:.1f} s)"
        )
        data = path.read_bytes()
        compressed = _compressed(path, Path(folder) / "rle.dcm")
        compressed_data = compressed.read_bytes()
        runs = [
            ("frames from the stored file (mapped)", lambda: project(path, path.name)),
            ("frames from bytes in memory", lambda: project(data, path.name)),
            ("frames from bytes, RLE Lossless", lambda: project(compressed_data, compressed.name)),
            ("one frame from the stored file", lambda: one_frame(path, args.frames // 2)),
            ("whole volume in floats (read_instance)", lambda: read_instance(path, name=path.name)),
        ]
        print(f"{'path':42} {'peak MB':>9} {'/ pixel data':>13} {'seconds':>8}")
        for label, run in runs:
            top, seconds = peak(run)
            print(f"{label:42} {top / 1e6:9.1f} {top / pixel_bytes:13.2f} {seconds:8.2f}")


def _compressed(path: Path, out: Path) -> Path:
    import pydicom
    from pydicom.uid import RLELossless

    dataset = pydicom.dcmread(path)
    dataset.compress(RLELossless, generate_instance_uid=False)
    dataset.save_as(out, enforce_file_format=True)
    return out


if __name__ == "__main__":
    main()
