"""Bright fluid to a mask of the duct tree.

On a heavily T2-weighted MRCP only fluid is bright, so a threshold halfway between
liver and fluid finds the ducts; the partial-volume edge of a tube crosses half its
level at its wall, so the mask's radius is the duct's.

Fluid that is not a duct comes in wide pockets (gallbladder, bowel, stomach, renal
pelvis, cysts). They are found on a coarse copy of the series (pixels averaged two by
two, then smoothed), where the noise is low enough for a pocket to be solid: whatever
lies within a ball wider than any duct is cut out, and the cut is remembered, because
the cystic duct ends at the gallbladder. A dim pocket (bowel, half-filled stomach)
counts from a lower level than the ducts, so that noise cannot riddle it with holes.
The duct tree is the coarse piece holding the most tube. At full resolution, lightly
smoothed, the mask's pieces touching that tree, or lying within a small gap of it
(a breath between slices, a narrowing), are kept; work continues in their bounding
box only, which keeps a 160 x 384 x 384 series to seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.feature import hessian_matrix, hessian_matrix_eigvals

from .grid import Grid, SeriesGeometry, resample

# A duct is at most this wide (radius, mm): the common bile duct of a donor is under 7 mm.
WIDEST_DUCT_MM = 4.5
# The pockets' mask is drawn at a lower level from a blurred copy, so a duct looks this much wider (mm).
POCKET_BLUR_MM = 1.0
# Beyond a pocket's solid core, its wall and this margin (mm) are cut out too.
POCKET_MARGIN_MM = 1.5
# A coarse piece of tube smaller than this (mm³) cannot hold a duct tree: noise, small cysts.
MIN_COMPONENT_MM3 = 150.0
# Scales of the tubular filter (mm): segmental ducts to the common hepatic duct.
DUCT_SIGMAS_MM = (1.0, 2.0)
# A piece of the duct mask smaller than this (mm³) is noise: 8 mm of a 1 mm-radius duct.
MIN_PIECE_MM3 = 25.0
# Pieces of duct this close (mm) to the tree are kept: gaps left by breathing or a narrowing.
GAP_MM = 5.0
# Work continues this far (mm) around the tree found on the coarse copy: thin ducts fade there.
BOX_MARGIN_MM = 15.0
# Smoothing (Gaussian sigma, mm) of the coarse copy and of the full-resolution series.
COARSE_SMOOTH_MM = 1.0
FINE_SMOOTH_MM = 0.5
# Pockets are solid from this share of the way from background to fluid.
POCKET_LEVEL = 0.3
BACKGROUND_PERCENTILE = 50.0
FLUID_PERCENTILE = 99.95
FULL = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class Segmented:
    """The duct mask on an isotropic grid, its local radius (mm) and the pockets of wide fluid."""

    mask: np.ndarray
    radius_mm: np.ndarray
    tubular: np.ndarray
    grid: Grid
    level: float
    contrast: float
    pockets: cKDTree | None


def _background_and_contrast(sample: np.ndarray) -> tuple[float, float]:
    """The background level and the fluid-to-background contrast."""
    background, fluid = (float(v) for v in np.percentile(sample, [BACKGROUND_PERCENTILE, FLUID_PERCENTILE]))
    if fluid <= background:
        raise ValueError("no bright fluid in the series")
    return background, fluid - background


def segment(volume: np.ndarray, series: SeriesGeometry, voxel_mm: float | None = None) -> Segmented:
    spacing = np.array(series.spacing)
    voxel = voxel_mm or float(max(min(spacing[1:]), 0.6))
    coarse, coarse_spacing = _coarse(volume, spacing)
    background, contrast = _background_and_contrast(coarse)
    level = background + 0.5 * contrast
    pooled = _pooled(coarse, (2, 2, 2))
    wide_pooled = _wide_fluid(pooled > background + POCKET_LEVEL * contrast, coarse_spacing * 2)
    wide = _upsampled(wide_pooled, (2, 2, 2), _whole(coarse))
    tree_coarse = _largest_tube(coarse > level, wide, coarse_spacing)
    box = _box(tree_coarse, spacing, volume.shape)
    fine = _smoothed(volume[box], spacing, FINE_SMOOTH_MM)
    wide_fine = _upsampled(wide_pooled, (2, 4, 4), box)
    seeds = ndimage.binary_dilation(_upsampled(tree_coarse, (1, 2, 2), box), FULL)
    kept = _near_tree((fine > level) & ~wide_fine, seeds, spacing)
    kept = ndimage.binary_dilation(kept, FULL) & ~wide_fine  # the wall's partial volume, for resampling
    values = np.where(kept, fine, 0.0).astype(np.float32)
    values, grid = resample(values, SeriesGeometry(series.first, series.slice_spacing), _whole(values), voxel)
    start = np.array([s.start for s in box], dtype=float)
    origin = series.raw_to_patient(start[None, :])[0]
    grid = Grid(origin, grid.axes, grid.voxel_mm)
    mask = _without_specks(values > level, voxel)
    tubular = _tubularity(values, mask, voxel, contrast)
    radius = ndimage.distance_transform_edt(mask, sampling=voxel).astype(np.float32)
    pockets = _pockets(wide_pooled, (2, 4, 4), box, series, volume.shape)
    return Segmented(mask, radius, tubular, grid, level, contrast, pockets)


def _coarse(volume: np.ndarray, spacing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The series with pixels averaged two by two in-plane, smoothed: noise four times lower."""
    coarse_spacing = spacing * np.array([1.0, 2.0, 2.0])
    return _smoothed(_pooled(volume, (1, 2, 2)), coarse_spacing, COARSE_SMOOTH_MM), coarse_spacing


def _pooled(volume: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    """Means over blocks of ``factors`` voxels (a last partial block is dropped)."""
    a, b, c = (n // f for n, f in zip(volume.shape, factors, strict=True))
    blocks = volume[: a * factors[0], : b * factors[1], : c * factors[2]]
    pooled: np.ndarray = blocks.reshape(a, factors[0], b, factors[1], c, factors[2]).mean(
        axis=(1, 3, 5), dtype=np.float32
    )
    return pooled


def _smoothed(volume: np.ndarray, spacing: np.ndarray, sigma_mm: float) -> np.ndarray:
    smooth: np.ndarray = ndimage.gaussian_filter(
        np.asarray(volume, dtype=np.float32), sigma=sigma_mm / spacing, truncate=3.0
    )
    return smooth


def _wide_fluid(fluid: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Voxels within a ball wider than any duct that fits inside the fluid, and their wall."""
    solid = ndimage.binary_fill_holes(fluid)
    depth = ndimage.distance_transform_edt(solid, sampling=spacing)
    core = depth > WIDEST_DUCT_MM + POCKET_BLUR_MM
    if not core.any():
        return np.zeros_like(fluid)
    reach = ndimage.distance_transform_edt(~core, sampling=spacing)
    wide: np.ndarray = (reach <= WIDEST_DUCT_MM + POCKET_BLUR_MM + POCKET_MARGIN_MM) & solid
    return wide


def _largest_tube(bright: np.ndarray, wide: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """The connected piece of bright fluid outside the pockets with the most voxels."""
    labels, count = ndimage.label(bright & ~wide, structure=FULL)
    if count == 0:
        raise ValueError("no bright fluid in the series")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    best = int(np.argmax(sizes))
    if sizes[best] * float(np.prod(spacing)) < MIN_COMPONENT_MM3:
        raise ValueError("no fluid-filled structure large enough for a duct tree")
    tree: np.ndarray = labels == best
    return tree


def _box(coarse_mask: np.ndarray, spacing: np.ndarray, shape: tuple[int, ...]) -> tuple[slice, slice, slice]:
    """The full-resolution box around a coarse mask, BOX_MARGIN_MM wider on every side."""
    found = ndimage.find_objects(coarse_mask.astype(np.int8))[0]
    assert found is not None
    scale = (1, 2, 2)
    margin = np.ceil(BOX_MARGIN_MM / spacing).astype(int)
    a, b, c = (
        slice(max(s.start * f - m, 0), min(s.stop * f + m, n))
        for s, f, m, n in zip(found, scale, margin, shape, strict=True)
    )
    return a, b, c


def _upsampled(mask: np.ndarray, factors: tuple[int, int, int], box: tuple[slice, ...]) -> np.ndarray:
    """The part ``box`` of a mask pooled by ``factors``, back at full resolution
    (voxels past the last whole block take the last block's value)."""
    index = [
        np.minimum(np.arange(s.start, s.stop) // f, n - 1) for s, f, n in zip(box, factors, mask.shape, strict=True)
    ]
    up: np.ndarray = mask[np.ix_(*index)]
    return up


def _near_tree(mask: np.ndarray, seeds: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """The mask's pieces touching the seeds, and pieces large enough to be ducts within GAP_MM of them."""
    labels, count = ndimage.label(mask, structure=FULL)
    if count == 0:
        raise ValueError("no duct tree found in the bright fluid")
    touching = np.unique(labels[seeds & mask])
    touching = touching[touching > 0]
    if len(touching) == 0:
        raise ValueError("no duct tree found in the bright fluid")
    keep = np.zeros(count + 1, dtype=bool)
    keep[touching] = True
    tree = keep[labels]
    gap = ndimage.distance_transform_edt(~tree, sampling=spacing) <= GAP_MM
    sizes = np.bincount(labels.ravel()) * float(np.prod(spacing))
    near = np.unique(labels[gap & mask])
    near = near[(near > 0) & (sizes[near] >= MIN_PIECE_MM3)]
    keep[near] = True
    kept: np.ndarray = keep[labels]
    return kept


def _pockets(
    wide: np.ndarray,
    factors: tuple[int, int, int],
    box: tuple[slice, ...],
    series: SeriesGeometry,
    shape: tuple[int, ...],
) -> cKDTree | None:
    """The pockets' voxels (patient mm) near the tree's box, a sample of them."""
    spacing = np.array(series.spacing)
    reach = np.ceil(2 * BOX_MARGIN_MM / spacing).astype(int)
    near = tuple(
        slice(max((s.start - r) // f, 0), (min(s.stop + r, n) + f - 1) // f)
        for s, r, f, n in zip(box, reach, factors, shape, strict=True)
    )
    points = np.argwhere(wide[near])
    if len(points) == 0:
        return None
    points = points[:: max(1, len(points) // 20000)].astype(float)
    points += np.array([s.start for s in near], dtype=float)
    points = points * np.array(factors) + (np.array(factors) - 1) / 2  # block centres at full resolution
    return cKDTree(series.raw_to_patient(points))


def _whole(array: np.ndarray) -> tuple[slice, slice, slice]:
    a, b, c = (slice(0, n) for n in array.shape)
    return a, b, c


def _without_specks(mask: np.ndarray, voxel: float) -> np.ndarray:
    """The mask without pieces too small to hold a duct; pieces a fluid pocket's cut
    parted from the tree stay, for the centre-lines to bridge."""
    labels, count = ndimage.label(mask, structure=FULL)
    if count <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = sizes * voxel**3 >= MIN_PIECE_MM3
    kept: np.ndarray = keep[labels]
    return kept


def _tubularity(values: np.ndarray, mask: np.ndarray, voxel: float, contrast: float) -> np.ndarray:
    """Multi-scale bright-tube measure (Sato's: the geometric mean of the two
    strongly negative Hessian eigenvalues, scale-normalised), relative to the fluid
    contrast, evaluated on the mask's voxels only: the eigenvalues of every voxel of
    the box would cost ten times more and are never used."""
    where = np.nonzero(mask)
    best = np.zeros(len(where[0]), dtype=np.float32)
    for sigma_mm in DUCT_SIGMAS_MM:
        sigma = sigma_mm / voxel
        elements = hessian_matrix(values, sigma=sigma, order="rc", use_gaussian_derivatives=False)
        picked = [np.asarray(e[where])[None, None, :] for e in elements]
        eigen = hessian_matrix_eigvals(picked)[:, 0, 0]  # decreasing order: l1 >= l2 >= l3
        second, third = eigen[1], eigen[2]
        tube = np.where((second < 0) & (third < 0), np.sqrt(np.abs(second * third)), 0.0) * sigma**2
        best = np.maximum(best, tube.astype(np.float32))
    out = np.zeros(mask.shape, dtype=np.float32)
    out[where] = best / np.float32(contrast)
    return out
