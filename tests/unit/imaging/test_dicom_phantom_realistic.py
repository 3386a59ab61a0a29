"""The realistic phantom: seeded, truthful lengths on curved ducts, Rician SNR, distracting fluid."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imaging.dicom import Geometry, generate_series, read_header, sort_slices
from imaging.dicom.phantom import FLUID_SIGNAL
from imaging.dicom.phantom_layout import lay_out
from imaging.dicom.phantom_realistic import Realism, arc_length, build_scene

CASES = Path(__file__).resolve().parents[2] / "data" / "cases"
VALID_CASES = sorted(p for p in CASES.glob("*.json") if not p.name.startswith("invalid"))
SIZE = dict(slices=50, rows=192, columns=192, pixel_spacing=(1.0, 1.0), slice_thickness=2.0)


def anatomy(name: str = "typical_rl_long_rhd") -> dict:
    return json.loads((CASES / f"{name}.json").read_text())["anatomy"]


def volume_of(series) -> np.ndarray:
    return np.stack([pydicom.dcmread(p).pixel_array for p in series.paths]).astype(float)


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    return generate_series(anatomy(), tmp_path_factory.mktemp("real"), seed=4, realism=Realism(snr=10.0), **SIZE)


@pytest.fixture(scope="module")
def realistic_volume(realistic):
    return volume_of(realistic)


def voxel_positions(series) -> np.ndarray:
    """Patient position (mm) of every voxel, shape (slices, rows, columns, 3)."""
    row_dir, col_dir = np.array(series.orientation[:3]), np.array(series.orientation[3:])
    normal = np.cross(row_dir, col_dir)
    k, i, j = np.meshgrid(np.arange(series.slices), np.arange(series.rows), np.arange(series.columns), indexing="ij")
    return (
        np.array(series.first_position)
        + (j * series.pixel_spacing[1])[..., None] * row_dir
        + (i * series.pixel_spacing[0])[..., None] * col_dir
        + (k * series.slice_spacing)[..., None] * normal
    )


def distance_along(curve: np.ndarray, point: np.ndarray) -> tuple[float, float]:
    """Distance from ``point`` to the polyline and the arc length to its foot."""
    best = (np.inf, 0.0)
    walked = 0.0
    for a, b in zip(curve[:-1], curve[1:], strict=True):
        step = b - a
        t = float(np.clip((point - a) @ step / (step @ step), 0.0, 1.0))
        gap = float(np.linalg.norm(a + t * step - point))
        if gap < best[0]:
            best = (gap, walked + t * float(np.linalg.norm(step)))
        walked += float(np.linalg.norm(step))
    return best


@pytest.mark.parametrize("case", VALID_CASES, ids=lambda p: p.stem)
def test_curved_ducts_keep_the_document_length_and_junctions(case):
    document = json.loads(case.read_text())["anatomy"]
    for seed in (0, 7):
        layout = lay_out(document, seed)
        scene = build_scene(layout, seed, Realism())
        assert set(scene.ducts) == set(layout.ducts)
        bent = 0
        for duct_id, duct in scene.ducts.items():
            line = np.array(scene.centrelines[duct_id])
            assert arc_length(line) == pytest.approx(duct.length_mm, abs=0.5)
            assert np.allclose(line[0], duct.end) and np.allclose(line[-1], duct.start)
            bent += np.linalg.norm(line[-1] - line[0]) < duct.length_mm - 0.05
            # The duct starts on its receiving duct's curve, junction_mm below that duct's upper end.
            gap, travelled = distance_along(np.array(scene.centrelines[duct.drains_into])[::-1], line[0])
            assert gap < 0.01
            parent_length = (
                scene.structures["CHD"].length_mm
                if duct.drains_into == "CHD"
                else scene.ducts[duct.drains_into].length_mm
            )
            junction = next(d for d in document["ducts"] if d["id"] == duct_id).get("junction_mm") or 0.0
            assert travelled == pytest.approx(min(junction, parent_length), abs=0.5)
        assert bent >= len(scene.ducts) // 2  # most ducts curve


def test_widths_follow_the_duct_level():
    scene = build_scene(lay_out(anatomy(), 0), 0, Realism())
    assert 2.5 <= scene.structures["CHD"].radius_mm <= 3.5
    for duct_id, duct in scene.ducts.items():
        low, high = (1.5, 2.0) if duct_id in ("RHD", "LHD") else (0.75, 1.25)
        assert low <= duct.radius_mm <= high, duct_id


@pytest.mark.parametrize("seed", range(4))
def test_ducts_taper_but_stay_as_wide_as_asked_along_their_measured_length(seed):
    """Segmental ducts 1.5-2.5 mm across, hepatic ducts 3-4 mm, the common hepatic duct 5-7 mm,
    from the receiving end to the upstream end the document measures."""
    scene = build_scene(lay_out(anatomy(), seed), seed, Realism())
    by_start = {tuple(np.round(t.start, 6)): t for t in scene.tubes if t.level == 1.0}
    for duct_id in [*scene.ducts, "CHD"]:
        line = scene.centrelines[duct_id]
        low, high = (2.5, 3.5) if duct_id == "CHD" else (1.5, 2.0) if duct_id in ("RHD", "LHD") else (0.75, 1.25)
        radii = [by_start[tuple(np.round(p, 6))].radius for p in line[:-1]]  # from the receiving end
        assert low <= min(radii) and max(radii) <= high, duct_id
        assert radii[-1] < radii[0], duct_id  # it narrows upstream


def test_same_seed_same_pixels_other_seed_other_pixels(tmp_path):
    small = dict(slices=6, rows=64, columns=64, realism=Realism(respiratory_mm=1.0))
    one = generate_series(anatomy(), tmp_path / "a", seed=3, series_uid="1.2.3.4", **small)
    again = generate_series(anatomy(), tmp_path / "b", seed=3, series_uid="1.2.3.4", **small)
    other = generate_series(anatomy(), tmp_path / "c", seed=4, series_uid="1.2.3.4", **small)
    assert np.array_equal(volume_of(one), volume_of(again))
    assert one.centrelines == again.centrelines
    assert not np.array_equal(volume_of(one), volume_of(other))
    assert one.centrelines["RHD"] != other.centrelines["RHD"]
    assert one.ducts["RHD"].length_mm == other.ducts["RHD"].length_mm


def test_default_phantom_has_no_curves(tmp_path):
    plain = generate_series(anatomy(), tmp_path, slices=2, rows=32, columns=32)
    assert plain.centrelines == {} and plain.distractors == ()


def test_noise_in_the_gallbladder_matches_the_asked_snr(realistic, realistic_volume):
    gallbladder = realistic.distractors[0]
    axes = np.array(gallbladder.axes)
    offsets = (voxel_positions(realistic) - np.array(gallbladder.centre)) @ axes.T / np.array(gallbladder.semi)
    inside = np.linalg.norm(offsets, axis=-1) < 0.5
    assert inside.sum() > 500
    values = realistic_volume[inside]
    assert values.mean() == pytest.approx(gallbladder.level * FLUID_SIGNAL, rel=0.05)
    assert FLUID_SIGNAL / values.std() == pytest.approx(10.0, rel=0.15)


def test_noise_is_rician_in_dark_tissue(tmp_path):
    """Where the signal is near zero the magnitude's mean is sigma * sqrt(pi / 2), not zero."""
    from imaging.dicom.phantom_realistic import rician

    sigma = 100.0
    noise = rician(np.zeros((400, 400), dtype=np.float32), sigma, np.random.default_rng(0))
    assert noise.min() >= 0
    assert noise.mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.02)


def test_distracting_fluid_is_bright_in_the_mip(realistic, realistic_volume, tmp_path):
    plain = generate_series(anatomy(), tmp_path, seed=4, **SIZE)
    plain_mip = volume_of(plain).max(axis=0)
    mip = realistic_volume.max(axis=0)
    row_dir, col_dir = np.array(realistic.orientation[:3]), np.array(realistic.orientation[3:])
    seen = 0
    for blob in realistic.distractors[-5:]:  # renal pelves and liver cysts, new in this mode
        offset = np.array(blob.centre) - np.array(realistic.first_position)
        i = int(round(offset @ col_dir / realistic.pixel_spacing[0]))
        j = int(round(offset @ row_dir / realistic.pixel_spacing[1]))
        depth = offset @ np.cross(row_dir, col_dir) / realistic.slice_spacing
        if not (0 <= i < realistic.rows and 0 <= j < realistic.columns and 0 <= depth < realistic.slices):
            continue
        seen += 1
        assert mip[i, j] > 0.5 * blob.level * FLUID_SIGNAL
        assert plain_mip[i, j] < mip[i, j] * 0.8 or plain_mip[i, j] > 0.5 * FLUID_SIGNAL  # new, unless over old fluid
    assert seen >= 3
    # Gallbladder, duodenum and stomach are there too.
    assert len(realistic.distractors) >= 10


def test_oblique_thick_slices_have_valid_geometry(tmp_path):
    series = generate_series(
        anatomy(),
        tmp_path,
        slices=10,
        rows=96,
        columns=80,
        pixel_spacing=(1.4, 0.7),
        slice_thickness=2.0,
        oblique_degrees=20.0,
        seed=2,
        realism=Realism(snr=6.0, respiratory_mm=1.5),
    )
    headers = sort_slices([read_header(p, name=p.name) for p in series.paths])
    first = Geometry.from_header(headers[0])
    np.testing.assert_allclose(first.position, series.first_position, atol=1e-4)
    np.testing.assert_allclose(
        headers[0].image_orientation[:3], [np.cos(np.radians(20)), np.sin(np.radians(20)), 0], atol=1e-6
    )
    assert headers[0].pixel_spacing == (1.4, 0.7) and headers[0].slice_thickness == 2.0
    for index, header in enumerate(headers):
        offset = np.subtract(Geometry.from_header(header).position, first.position)
        np.testing.assert_allclose(offset, index * 2.0 * np.array(first.normal), atol=1e-4)
    assert pydicom.dcmread(series.paths[0]).pixel_array.shape == (96, 80)
    if shutil.which("dciodvfy") or os.environ.get("CI") == "true":
        result = subprocess.run(["dciodvfy", str(series.paths[0])], capture_output=True, text=True, check=False)
        errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
        assert errors == []


def test_bad_realism_is_refused():
    with pytest.raises(ValueError, match="snr"):
        Realism(snr=0)
    with pytest.raises(ValueError, match="through_plane_samples"):
        Realism(through_plane_samples=0)


def test_twigs_branch_beyond_each_leaf_duct_only_and_follow_the_seed():
    layout = lay_out(anatomy(), 0)
    scene = build_scene(layout, 5, Realism())
    again = build_scene(layout, 5, Realism())
    assert scene.tubes == again.tubes
    drains = {duct.drains_into for duct in layout.ducts.values()}
    leaves = [k for k in scene.ducts if k not in drains and k != "CYSTIC"]
    duct_points = {tuple(np.round(p, 6)) for line in scene.centrelines.values() for p in line}
    twigs = [t for t in scene.tubes if tuple(np.round(t.start, 6)) not in duct_points]
    twig_starts = np.array([t.start for t in twigs])
    for leaf in leaves:
        tip = np.array(scene.centrelines[leaf][-1])
        # Two twigs leave each leaf duct's upstream end, none leaves a duct with tributaries.
        forks = [t for t in scene.tubes if np.allclose(t.start, tip) and t.level < 1.0]
        assert len(forks) == 2, leaf
    for duct_id in drains - {"CHD"}:
        tip = np.array(scene.centrelines[duct_id][-1])
        assert not np.any(np.all(np.isclose(twig_starts, tip), axis=1)), duct_id
    assert all(t.radius >= 0.45 for t in twigs)
    # The document's ducts are untouched by the twigs: still exactly their length along the curve.
    for duct_id, duct in scene.ducts.items():
        assert arc_length(scene.centrelines[duct_id]) == pytest.approx(duct.length_mm, abs=1e-6)


def test_cysts_lie_clear_of_every_duct():
    for seed in range(6):
        scene = build_scene(lay_out(anatomy(), seed), seed, Realism(cysts=4))
        cysts = [b for b in scene.distractors if len(set(b.semi)) == 1]
        assert cysts, seed
        ends = np.array([t.start for t in scene.tubes] + [t.end for t in scene.tubes])
        widths = np.array([t.radius for t in scene.tubes] * 2)
        for cyst in cysts:
            gap = np.linalg.norm(ends - np.array(cyst.centre), axis=1) - widths - cyst.semi[0]
            assert gap.min() >= 3.0
