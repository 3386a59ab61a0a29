"""Bright fluid to a mask of the duct tree.

On a heavily T2-weighted MRCP only fluid is bright, so a threshold halfway between
liver and fluid finds the ducts; the partial-volume edge of a tube crosses half its
level at its wall, so the mask's radius is the duct's. Fluid that is not a duct comes
in wide pockets (gallbladder, bowel, stomach, cysts): whatever lies within a ball
wider than any duct is cut out, and the cut is remembered, because the cystic duct
ends at the gallbladder. A pocket dimmer than the ducts (a gallbladder's concentrated
bile) is riddled by noise at the half level and would pass for tube, so pockets are also
looked for on a quieter coarse copy. The duct tree is then the connected piece holding
the most tube; work continues in its bounding box (and a margin) only, which keeps a
160 x 384 x 384 series to seconds. A piece holding a pocket whose ducts come within a
narrowing of the tree's (the gallbladder, with the ducts joining the cystic duct at its
neck, parted from the tree at the cystic duct's valves) is the tree's too.

Segmental ducts are only 1.5-2.5 mm across: with 1-1.5 mm pixels and thicker slices their
partial-volume peak comes near the half level, so noise breaks them into pieces of a few
voxels and whole ducts would go missing. When much of the fluid lies in such pieces, the
ridges of a multi-scale Hessian tube measure (Sato's) join them: the skeleton's lines
through the dim voxels where the measure is strong, a voxel wide, so they neither widen a
duct nor merge two neighbouring ones, and the radius is still measured on the half-level
mask alone. Where the half level finds the tree whole (wide ducts, fine pixels), nothing
is added: the few pieces apart are the ends of twigs. The same ridges, where they leave the
tree's mask at one place and run on into the liver, are twigs the mask lost at a duct's fork
(`lost_twig_lines`): the duct is measured to where they leave.

A pocket is cut out with a rim beyond its wall, where partial volume still makes it
bright. A duct lying on the gallbladder's wall lies in that rim. A second look
(`keep_rims`, which `propose_tree` takes when the first leaves a sector of the liver
undrained) keeps the rims in the signal the ridges are looked for in: a tube along the
wall is then found, while the wall itself, a sheet, is no tube.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order
from scipy.spatial import cKDTree
from skimage.feature import hessian_matrix, hessian_matrix_eigvals
from skimage.morphology import skeletonize

from .grid import Grid, SeriesGeometry, neighbour_pairs, resample

# A duct is at most this wide (radius, mm): the common bile duct of a donor is under 7 mm.
WIDEST_DUCT_MM = 4.5
# A pocket is cut out with this rim (mm) beyond the widest duct's reach: its wall's partial volume.
POCKET_RIM_MM = 1.5
# Fluid pockets are ignored below this volume (mm³): noise specks, small cysts.
MIN_COMPONENT_MM3 = 150.0
# Scales of the tubular filter (mm): segmental ducts to the common hepatic duct.
DUCT_SIGMAS_MM = (1.0, 2.0)
# Dim pockets: the smoothing of their quieter copy (mm, also how much wider a duct looks there)
# and the share of the fluid's contrast from which they are solid.
POCKET_SMOOTH_MM = 1.0
POCKET_LEVEL = 0.3
# A piece of the duct mask smaller than this (mm³) is noise: 8 mm of a 1 mm-radius duct.
MIN_PIECE_MM3 = 25.0
# Thin ducts' ridges: the tube measure's scales (mm), its least strength (share of the
# fluid contrast), the least signal (share of the contrast over the background, after
# smoothing at the first scale, and at least RIDGE_NOISE_SDS times the noise left after
# the smoothing: in heavy noise a lower floor draws ridges through noise) and how far
# (mm) from the half-level mask a ridge is looked for. The box grows by RIDGE_MARGIN_MM
# for the pieces. Ridges are looked for only when at least RIDGE_BROKEN_SHARE of the
# half-level fluid lies in pieces apart from the tree.
RIDGE_SIGMAS_MM = (0.75, 1.25)
RIDGE_TUBE = 0.02
RIDGE_FLOOR = 0.08
RIDGE_NOISE_SDS = 3.0
RIDGE_REACH_MM = 10.0
RIDGE_MARGIN_MM = 10.0
RIDGE_BROKEN_SHARE = 0.05
# A piece holding a pocket whose ducts come this close (mm) to the tree's was parted from it by a narrowing.
NARROWING_MM = 4.0
# The tree is chosen among this many largest pieces of fluid, counting the small pieces around each.
TREE_CANDIDATES = 3
# Chains of small pieces around the tree are followed this many steps of RIDGE_REACH_MM.
CHAIN_STEPS = 4
BACKGROUND_PERCENTILE = 50.0
FLUID_PERCENTILE = 99.95


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
    # The half-level mask alone: the walls, from which radii are measured.
    half: np.ndarray | None = None

    @property
    def walls(self) -> np.ndarray:
        return self.mask if self.half is None else self.half


def fluid_threshold(volume: np.ndarray) -> tuple[float, float]:
    """Halfway between background and fluid, and the fluid-to-background contrast."""
    sample = volume[:, ::2, ::2]
    background = float(np.percentile(sample, BACKGROUND_PERCENTILE))
    fluid = float(np.percentile(sample, FLUID_PERCENTILE))
    if fluid <= background:
        raise ValueError("no bright fluid in the series")
    return background + 0.5 * (fluid - background), fluid - background


@dataclass(frozen=True)
class Fluid:
    """The bright fluid around the duct tree, found once: the tree's box of the series (its
    values and its pockets), the half-level fluid resampled on the isotropic grid, and the
    tree's own piece on it. A second look at the thin ducts reads it again."""

    box_values: np.ndarray
    box_pockets: np.ndarray
    signal: np.ndarray  # the box's values with the pockets taken out, on the grid
    spacing: np.ndarray
    local: SeriesGeometry
    first: np.ndarray  # where the grid starts, in fractional indices of the box
    values: np.ndarray  # the half-level fluid on the grid
    in_tree: np.ndarray
    grid: Grid
    level: float
    contrast: float
    noise: float
    pockets: cKDTree | None


def find_fluid(volume: np.ndarray, series: SeriesGeometry, voxel_mm: float | None = None) -> Fluid:
    """The fluid pockets, the piece of fluid that is the duct tree and its box on the grid."""
    spacing = np.array(series.spacing)
    voxel = voxel_mm or float(max(min(spacing[1:]), 0.6))
    level, contrast = fluid_threshold(volume)
    dim_pockets = _dim_pockets(volume, spacing, level - 0.5 * contrast, contrast)
    bright = volume > level
    labels, count = ndimage.label(bright, structure=np.ones((3, 3, 3), dtype=bool))
    if count == 0:
        raise ValueError("no bright fluid in the series")
    sizes = np.bincount(labels.ravel())
    boxes = ndimage.find_objects(labels)
    voxel_volume = float(np.prod(spacing))
    candidates: list[tuple[int, int, tuple[slice, slice, slice]]] = []
    all_pockets = dim_pockets.copy()
    for index, box in enumerate(boxes, start=1):
        if box is None or sizes[index] * voxel_volume < MIN_COMPONENT_MM3:
            continue
        box = _grown(box, volume.shape, 2)
        component = labels[box] == index
        pocket = _wide_fluid(component, spacing) | (dim_pockets[box] & component)
        all_pockets[box] |= pocket
        candidates.append((int(np.count_nonzero(component & ~pocket)), index, box))
    if not candidates:
        raise ValueError("no fluid-filled structure large enough for a duct tree")
    small = (sizes * voxel_volume < MIN_COMPONENT_MM3)[labels] & bright & ~all_pockets
    _, best_index, inner = max(
        sorted(candidates, reverse=True)[:TREE_CANDIDATES],
        key=lambda c: c[0] + _pieces_around(labels, c[1], c[2], small, spacing),
    )
    for index, box in _across_narrowings(labels, best_index, candidates, all_pockets, spacing):
        labels[box][labels[box] == index] = best_index
        inner = _union(inner, box)
    # The box grows by a margin, and over the chains of small pieces around the tree, for
    # the pieces a narrowing parted from it.
    margin = np.maximum(np.round(RIDGE_MARGIN_MM / spacing).astype(int), 1)
    around = _chained_pieces(labels, best_index, inner, small, spacing)
    a, b, c = (
        slice(max(min(s.start, t.start) - m, 0), min(max(s.stop, t.stop) + m, n))
        for s, t, m, n in zip(inner, around, margin, volume.shape, strict=True)
    )
    best_box = (a, b, c)
    offset = np.array([i.start - o.start for i, o in zip(inner, best_box, strict=True)])
    component = labels[best_box] == best_index
    tree = component & ~all_pockets[best_box]
    # The half-level mask is taken from the bright fluid alone, as it was found (the
    # interpolation towards zero outside keeps close ducts apart), but from every piece of
    # it that is not a pocket: pieces a narrowing parted from the tree come back. The
    # thin ducts' ridges are looked for in the whole signal, pockets taken out.
    box_values = volume[best_box]
    box_pockets = all_pockets[best_box]
    signal = np.where(box_pockets, 0.0, box_values).astype(np.float32)
    kept = np.where(bright[best_box], signal, 0.0).astype(np.float32)
    local = SeriesGeometry(series.first, series.slice_spacing)
    # The grid keeps the points it would have over the tree's own box.
    first = offset - np.floor(offset * spacing / voxel) * voxel / spacing
    values, grid = resample(kept, local, _whole(kept), voxel, first)
    on_grid, _ = resample(signal, local, _whole(signal), voxel, first)
    in_tree, _ = resample(tree.astype(np.float32), local, _whole(kept), voxel, first)
    origin = series.raw_to_patient(np.array([[s.start for s in best_box]], dtype=float) + first)[0]
    grid = Grid(origin, grid.axes, grid.voxel_mm)
    # Every pocket in the box, the tree's or not: a gallbladder whose cystic duct the half
    # level broke is a piece of its own, and the cystic duct still ends at it.
    pocket_points = np.argwhere(box_pockets)
    pockets = None
    if len(pocket_points):
        start = np.array([s.start for s in best_box], dtype=float)
        pockets = cKDTree(local.raw_to_patient(pocket_points[:: max(1, len(pocket_points) // 20000)] + start))
    return Fluid(
        box_values,
        box_pockets,
        on_grid,
        spacing,
        local,
        first,
        values,
        in_tree > 0.5,
        grid,
        level,
        contrast,
        _noise(volume),
        pockets,
    )


def tree_mask(fluid: Fluid, *, keep_rims: bool = False) -> Segmented:
    """The duct tree's mask in the fluid: the half level, with the thin ducts' ridges where it
    breaks them; ``keep_rims`` looks for the ridges in the pockets' rims too."""
    voxel = fluid.grid.voxel_mm
    whole = fluid.signal
    if keep_rims:
        rims_kept = _without_pocket_bodies(fluid.box_values, fluid.box_pockets, fluid.spacing)
        whole, _ = resample(rims_kept, fluid.local, _whole(rims_kept), voxel, fluid.first)
    half = fluid.values > fluid.level
    broken = _broken(half, fluid.in_tree)
    ridge = _ridges(whole, half, voxel, fluid.level, fluid.contrast, fluid.noise) if broken else np.zeros_like(half)
    mask = _joined_to_tree(half | ridge, fluid.in_tree)
    mask = _without_specks(mask, voxel)
    half &= mask
    tubular = _tubularity(fluid.values, mask, voxel, fluid.contrast)
    radius = ndimage.distance_transform_edt(half, sampling=voxel).astype(np.float32)
    return Segmented(mask, radius, tubular, fluid.grid, fluid.level, fluid.contrast, fluid.pockets, half)


# Thin tubes leaving the tree's mask are looked for this far (mm) around it.
LOST_TWIG_REACH_MM = 12.0
# A line of thin tube touching the mask within this many voxels of it leaves it there.
LOST_TWIG_TOUCH_VOXELS = 2


def lost_twig_lines(fluid: Fluid, segmented: Segmented) -> list[np.ndarray]:
    """Centre-lines of thin bright tubes that leave the tree's mask at one place: the twigs
    the mask lost where a duct divides (patient mm, from the point next to the mask outwards).

    A peripheral twig a millimetre wide peaks below the half level, so the mask can keep one
    twig of a fork and lose the other: the duct then runs on, unbroken, into the twig it kept,
    and is measured too long by that twig's length. The lost twig is still a ridge of the tube
    measure (as in `_ridges`). Lines touching the mask at two places are links, not twigs: the
    ridges already joined what the half level broke.
    """
    voxel = fluid.grid.voxel_mm
    whole = fluid.signal
    near = ndimage.binary_dilation(segmented.mask, iterations=max(1, int(round(LOST_TWIG_REACH_MM / voxel))))
    tubes = _tube_voxels(whole, near & ~segmented.mask, voxel, fluid.level, fluid.contrast, fluid.noise)
    half = (fluid.values > fluid.level) & near
    grown = ndimage.binary_dilation(segmented.mask)
    lines = skeletonize(segmented.mask | tubes | half) & ~grown
    cube = np.ones((3, 3, 3), dtype=bool)
    touching = ndimage.binary_dilation(grown, structure=cube, iterations=LOST_TWIG_TOUCH_VOXELS - 1)
    runs, _ = ndimage.label(lines, structure=cube)
    out: list[np.ndarray] = []
    for number, box in enumerate(ndimage.find_objects(runs), start=1):
        if box is None:
            continue
        voxels = np.argwhere(runs[box] == number) + np.array([s.start for s in box])
        at = touching[tuple(voxels.T)]
        if not at.any():
            continue
        ends = voxels[at]
        if np.abs(ends - ends[0]).max() > 2 * LOST_TWIG_TOUCH_VOXELS + 1:
            continue  # it touches the mask at two places: a link
        out.append(segmented.grid.to_patient(_longest_path(voxels, int(np.nonzero(at)[0][0]))))
    return out


def _longest_path(voxels: np.ndarray, start: int) -> np.ndarray:
    """The voxels (indices) from ``start`` to the one farthest from it, in steps, along the
    26-connected run: a breadth-first search over the run's neighbouring voxels."""
    pairs = neighbour_pairs(voxels)
    ends = np.concatenate([pairs, pairs[:, ::-1]]).T  # both ways: neighbours are met in index order
    steps = coo_matrix((np.ones(len(ends[0])), (ends[0], ends[1])), shape=(len(voxels),) * 2).tocsr()
    order, previous = breadth_first_order(steps, start, return_predecessors=True)
    path = [int(order[-1])]
    while path[-1] != start:
        path.append(int(previous[path[-1]]))
    ordered: np.ndarray = voxels[path[::-1]]
    return ordered


def _across_narrowings(
    labels: np.ndarray,
    tree_index: int,
    candidates: list[tuple[int, int, tuple[slice, slice, slice]]],
    pockets: np.ndarray,
    spacing: np.ndarray,
) -> list[tuple[int, tuple[slice, slice, slice]]]:
    """Pieces of fluid holding a pocket whose ducts (the piece without its pockets) come
    within NARROWING_MM of the tree's: a cystic duct narrowed at its valves leaves the
    gallbladder, with the ducts that join the cystic duct at its neck, as a piece of its
    own, and that piece is the tree's."""
    tree_box = next(box for _, index, box in candidates if index == tree_index)
    reach = np.ceil(NARROWING_MM / spacing).astype(int)
    out = []
    for tube, index, box in candidates:
        if index == tree_index or tube * float(np.prod(spacing)) < MIN_PIECE_MM3:
            continue
        grown = _grown(box, labels.shape, reach)
        if any(g.stop <= t.start or t.stop <= g.start for g, t in zip(grown, tree_box, strict=True)):
            continue
        piece = labels[grown] == index
        if not (piece & pockets[grown]).any():
            continue
        near_tree = (labels[grown] == tree_index) & ~pockets[grown]
        own = piece & ~pockets[grown]
        if not near_tree.any() or not own.any():
            continue
        distance = ndimage.distance_transform_edt(~near_tree, sampling=spacing)
        if float(distance[own].min()) <= NARROWING_MM:
            out.append((index, box))
    return out


def _union(first: tuple[slice, ...], second: tuple[slice, ...]) -> tuple[slice, slice, slice]:
    a, b, c = (slice(min(s.start, t.start), max(s.stop, t.stop)) for s, t in zip(first, second, strict=True))
    return a, b, c


def _pieces_around(
    labels: np.ndarray, index: int, box: tuple[slice, slice, slice], small: np.ndarray, spacing: np.ndarray
) -> int:
    """Bright voxels of small pieces within RIDGE_REACH_MM of a component: the thin ducts the
    half level broke lie around the hilar tree, so they count for it. Without them a long
    unbranched tube (the pancreatic duct with the lower common bile duct, parted from the
    tree by a narrowing) can hold more voxels than a tree whose segmental ducts are broken."""
    margin = np.ceil(RIDGE_REACH_MM / spacing).astype(int)
    a, b, c = (slice(max(s.start - m, 0), s.stop + m) for s, m in zip(box, margin, strict=True))
    grown = (a, b, c)
    distance = ndimage.distance_transform_edt(labels[grown] != index, sampling=spacing)
    return int(np.count_nonzero(small[grown] & (distance <= RIDGE_REACH_MM)))


def _chained_pieces(
    labels: np.ndarray, index: int, box: tuple[slice, slice, slice], small: np.ndarray, spacing: np.ndarray
) -> tuple[slice, slice, slice]:
    """The box of the tree with the small pieces within RIDGE_REACH_MM of it, of them, and
    so on: a hilar tree whose thin ducts the half level broke lies in pieces beyond the
    box of the piece that holds the common duct."""
    region = labels == index
    current = box
    for _ in range(CHAIN_STEPS):
        margin = np.ceil(RIDGE_REACH_MM / spacing).astype(int)
        a, b, c = (
            slice(max(s.start - m, 0), min(s.stop + m, n))
            for s, m, n in zip(current, margin, labels.shape, strict=True)
        )
        grown = (a, b, c)
        near = ndimage.distance_transform_edt(~region[grown], sampling=spacing) <= RIDGE_REACH_MM
        found = np.unique(labels[grown][near & small[grown] & ~region[grown]])
        found = found[found > 0]
        if not len(found):
            break
        region |= np.isin(labels, found)
        nonzero = np.nonzero(region)
        d, e, f = (slice(int(w.min()), int(w.max()) + 1) for w in nonzero)
        current = (d, e, f)
    return current


def _grown(box: tuple[slice, ...], shape: tuple[int, ...], margin: int | np.ndarray) -> tuple[slice, slice, slice]:
    """The box grown by ``margin`` voxels (one for every axis, or one per axis), within the volume."""
    margins = np.broadcast_to(margin, (len(box),))
    a, b, c = (
        slice(max(s.start - int(m), 0), min(s.stop + int(m), n)) for s, m, n in zip(box, margins, shape, strict=True)
    )
    return a, b, c


def _whole(array: np.ndarray) -> tuple[slice, slice, slice]:
    a, b, c = (slice(0, n) for n in array.shape)
    return a, b, c


def _dim_pockets(volume: np.ndarray, spacing: np.ndarray, background: float, contrast: float) -> np.ndarray:
    """Wide fluid found on a quieter copy (pixels averaged two by two, smoothed) from a lower
    level: a pocket dimmer than the ducts (a gallbladder's concentrated bile) is riddled by
    noise at the half level and would pass for tube. Each piece is measured in its own box."""
    a, b, c = volume.shape[0], volume.shape[1] // 2, volume.shape[2] // 2
    pooled = volume[:, : 2 * b, : 2 * c].reshape(a, b, 2, c, 2).mean(axis=(2, 4), dtype=np.float32)
    coarse_spacing = spacing * np.array([1.0, 2.0, 2.0])
    coarse = ndimage.gaussian_filter(pooled, sigma=POCKET_SMOOTH_MM / coarse_spacing, truncate=3.0)
    fluid = coarse > background + POCKET_LEVEL * contrast
    wide = np.zeros_like(fluid)
    labels, _ = ndimage.label(fluid, structure=np.ones((3, 3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel())
    widest = WIDEST_DUCT_MM + POCKET_SMOOTH_MM
    smallest_core = 4.0 / 3.0 * np.pi * widest**3 / float(np.prod(coarse_spacing))
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None or sizes[index] < smallest_core:
            continue
        box = _grown(box, fluid.shape, 1)
        solid = ndimage.binary_fill_holes(labels[box] == index)
        depth = ndimage.distance_transform_edt(solid, sampling=coarse_spacing)
        core = depth > widest
        if not core.any():
            continue
        reach = ndimage.distance_transform_edt(~core, sampling=coarse_spacing)
        wide[box] |= (reach <= widest) & solid
    full: np.ndarray = np.zeros(volume.shape, dtype=bool)
    up = wide.repeat(2, axis=1).repeat(2, axis=2)
    full[:, : up.shape[1], : up.shape[2]] = up
    return full


def _wide_fluid(component: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Voxels within a ball wider than any duct that fits inside the fluid."""
    depth = ndimage.distance_transform_edt(component, sampling=spacing)
    core = depth > WIDEST_DUCT_MM
    if not core.any():
        return np.zeros_like(component)
    reach = ndimage.distance_transform_edt(~core, sampling=spacing)
    wide: np.ndarray = (reach <= WIDEST_DUCT_MM + POCKET_RIM_MM) & component
    return wide


def _without_pocket_bodies(values: np.ndarray, pockets: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """The values with the pockets taken out but for their rims (the outer POCKET_RIM_MM)."""
    depth = ndimage.distance_transform_edt(pockets, sampling=spacing)
    out: np.ndarray = np.where(depth > POCKET_RIM_MM, 0.0, values).astype(np.float32)
    return out


def _without_specks(mask: np.ndarray, voxel: float) -> np.ndarray:
    """The mask without pieces too small to hold a duct; pieces a fluid pocket's cut
    parted from the tree stay, for the centre-lines to bridge."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
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
    best = _sato_at(values, where, DUCT_SIGMAS_MM, voxel)
    out = np.zeros(mask.shape, dtype=np.float32)
    out[where] = best / np.float32(contrast)
    return out


def _sato_at(
    values: np.ndarray, where: tuple[np.ndarray, ...], sigmas_mm: tuple[float, ...], voxel: float
) -> np.ndarray:
    """Sato's bright-tube measure at the voxels `where`, the strongest over the scales: the
    geometric mean of the two strongly negative Hessian eigenvalues, scale-normalised."""
    best = np.zeros(len(where[0]), dtype=np.float32)
    for sigma_mm in sigmas_mm:
        sigma = sigma_mm / voxel
        elements = hessian_matrix(values, sigma=sigma, order="rc", use_gaussian_derivatives=False)
        picked = [np.asarray(e[where])[None, None, :] for e in elements]
        eigen = hessian_matrix_eigvals(picked)[:, 0, 0]  # decreasing order: l1 >= l2 >= l3
        second, third = eigen[1], eigen[2]
        tube = np.where((second < 0) & (third < 0), np.sqrt(np.abs(second * third)), 0.0) * sigma**2
        best = np.maximum(best, tube.astype(np.float32))
    return best


def _ridges(
    values: np.ndarray, half: np.ndarray, voxel: float, level: float, contrast: float, noise: float
) -> np.ndarray:
    """The centre-lines of thin bright tubes where the half level breaks them.

    A segmental duct under a millimetre in radius peaks near half the fluid's level, so
    noise and partial volume cut its mask into pieces of a few voxels, and whole ducts
    go missing. A multi-scale Hessian tube measure (Sato's) still follows it: the dim
    voxels where it is strong join the pieces. Those voxels are not added as they are
    (they would widen every duct by a shell, merge neighbouring ducts and grow spurs):
    the skeleton of the mask with them is taken, and only its lines outside the
    half-level mask are added, a voxel wide. They never enter the radius, which is
    measured on the half-level mask alone."""
    around = ndimage.binary_dilation(half, iterations=max(1, int(round(RIDGE_REACH_MM / voxel)))) & ~half
    tubes = _tube_voxels(values, around, voxel, level, contrast, noise)
    if not tubes.any():
        return tubes
    lines = skeletonize(half | tubes) & tubes
    return _joining(lines, half)


def _tube_voxels(
    values: np.ndarray, around: np.ndarray, voxel: float, level: float, contrast: float, noise: float
) -> np.ndarray:
    """The voxels of ``around`` where a thin bright tube runs: above the floor after smoothing
    at the first ridge scale, and strong in the tube measure."""
    sigma = RIDGE_SIGMAS_MM[0] / voxel
    smooth = ndimage.gaussian_filter(values, sigma=sigma)
    # Above the noise left after the smoothing (white noise: down by (4 pi)^(3/4) sigma^(3/2)).
    left = noise * min(1.0, float((4 * np.pi) ** -0.75 * sigma**-1.5))
    floor = level - 0.5 * contrast + max(RIDGE_FLOOR * contrast, RIDGE_NOISE_SDS * left)
    candidates: np.ndarray = (smooth > floor) & around
    tubes = np.zeros(values.shape, dtype=bool)
    if not candidates.any():
        return tubes
    where = np.nonzero(candidates)
    best = _sato_at(values, where, RIDGE_SIGMAS_MM, voxel)
    tubes[where] = best / np.float32(contrast) >= RIDGE_TUBE
    return tubes


def _joining(lines: np.ndarray, half: np.ndarray) -> np.ndarray:
    """The pieces of line that join two pieces of the half-level mask: a line touching one
    piece only is a spur or a loop, and would change a tree the half level found whole."""
    cube = np.ones((3, 3, 3), dtype=bool)
    pieces, count = ndimage.label(half, structure=cube)
    runs, run_count = ndimage.label(lines, structure=cube)
    if count < 2 or run_count == 0:
        return np.zeros_like(lines)
    highest = ndimage.maximum_filter(pieces, footprint=cube)
    lowest = ndimage.minimum_filter(np.where(pieces > 0, pieces, count + 1), footprint=cube)
    at = runs > 0
    pairs = np.concatenate([np.stack([runs[at], highest[at]], axis=1), np.stack([runs[at], lowest[at]], axis=1)])
    pairs = np.unique(pairs[(pairs[:, 1] > 0) & (pairs[:, 1] <= count)], axis=0)
    touched = np.bincount(pairs[:, 0], minlength=run_count + 1)
    keep = touched >= 2
    keep[0] = False
    joining: np.ndarray = keep[runs]
    return joining


def _noise(volume: np.ndarray) -> float:
    """The noise's standard deviation, from the spread of the dark background (robust: the
    median absolute deviation of a sample of the volume, mostly background)."""
    sample = volume[:, ::4, ::4]
    return float(1.4826 * np.median(np.abs(sample - np.median(sample))))


def _broken(half: np.ndarray, tree: np.ndarray) -> bool:
    """Whether the half level leaves much of the fluid in pieces apart from the tree:
    the ducts are then thinner than it can follow, and their ridges are needed. Where it
    finds the tree whole, the few pieces apart are ends of twigs, left out as before."""
    apart = int(np.count_nonzero(half & ~_joined_to_tree(half, tree)))
    share = apart / max(int(np.count_nonzero(half)), 1)
    return share >= RIDGE_BROKEN_SHARE


def _joined_to_tree(mask: np.ndarray, tree: np.ndarray) -> np.ndarray:
    """The pieces of the mask that hold part of the tree."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if count == 0:
        return mask
    keep = np.zeros(count + 1, dtype=bool)
    keep[np.unique(labels[tree & mask])] = True
    keep[0] = False
    joined: np.ndarray = keep[labels]
    return joined
