"""The skeleton's voxels moved onto the duct's axis before anything is measured."""

from __future__ import annotations

import numpy as np
from skimage.morphology import skeletonize

from imaging.tree.centreline import radius_by_volume, recentred


def tube(centre: tuple[float, float], radius: float, length: int = 40, size: int = 22) -> np.ndarray:
    """A straight tube along the first axis, its axis ``centre`` (in voxels) across it."""
    _, b, c = np.indices((length, size, size))
    mask: np.ndarray = (b - centre[0]) ** 2 + (c - centre[1]) ** 2 <= radius**2
    mask[:2] = mask[-2:] = False
    return mask


def test_a_skeleton_off_the_axis_is_moved_onto_it():
    axis = (10.4, 10.6)  # between voxels: no voxel lies on the axis
    mask = tube(axis, 3.3)
    # A skeleton lies on whole voxels: the row of voxels nearest to the axis.
    middle = np.array([(a, round(axis[0]), round(axis[1])) for a in range(9, 32)])
    before = np.hypot(middle[:, 1] - axis[0], middle[:, 2] - axis[1])
    assert before.min() >= 0.5
    radii = radius_by_volume(mask, middle, 1.0)
    after = recentred(mask, middle, radii, 1.0)
    off_axis = np.hypot(after[:, 1] - axis[0], after[:, 2] - axis[1])
    assert off_axis.max() < 0.25
    # Along the duct nothing moves.
    assert np.allclose(after[:, 0], middle[:, 0], atol=0.1)


def test_a_skeleton_on_the_axis_stays_there():
    mask = tube((10.0, 10.0), 3.0)
    voxels = np.argwhere(skeletonize(mask))
    middle = voxels[(voxels[:, 0] > 8) & (voxels[:, 0] < 32)]
    after = recentred(mask, middle, radius_by_volume(mask, middle, 1.0), 1.0)
    assert np.hypot(after[:, 1] - 10.0, after[:, 2] - 10.0).max() < 0.25
