"""Finding the duct tree's fluid: pieces parted from the tree by a narrowing."""

from __future__ import annotations

import importlib

import numpy as np
from scipy import ndimage

# The package exports the function `segment`, which hides the module of that name.
segment_module = importlib.import_module("imaging.tree.segment")

SHAPE = (40, 60, 60)
SPACING = np.array([1.0, 1.0, 1.0])


def tube(labels: np.ndarray, value: int, x_from: int, x_to: int, row: int, radius: float = 1.5) -> None:
    z, y = np.ogrid[: SHAPE[0], : SHAPE[1]]
    disc = (z - 20) ** 2 + (y - row) ** 2 <= radius**2
    for x in range(x_from, x_to + 1):
        labels[:, :, x][disc] = value


def ball(labels: np.ndarray, value: int, centre: tuple[int, int, int], radius: float) -> np.ndarray:
    z, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    inside = (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius**2
    labels[inside] = value
    return inside


def joined(labels: np.ndarray, pockets: np.ndarray) -> list[int]:
    boxes = ndimage.find_objects(labels)
    candidates = [
        (int(np.count_nonzero((labels == index) & ~pockets)), index, boxes[index - 1])
        for index in range(1, int(labels.max()) + 1)
    ]
    return [index for index, _ in segment_module._across_narrowings(labels, 1, candidates, pockets, SPACING)]


def test_a_gallbladder_with_its_ducts_parted_by_a_narrowing_is_the_trees():
    labels = np.zeros(SHAPE, dtype=np.int32)
    pockets = np.zeros(SHAPE, dtype=bool)
    tube(labels, 1, 0, 15, row=20)  # the tree's cystic duct, up to its narrowing
    tube(labels, 2, 18, 24, row=20)  # the cystic duct beyond it, 2 mm on
    pockets |= ball(labels, 2, (20, 20, 31), 7.0)  # the gallbladder

    assert joined(labels, pockets) == [2]


def test_pieces_further_than_a_narrowing_or_without_a_pocket_stay_apart():
    labels = np.zeros(SHAPE, dtype=np.int32)
    pockets = np.zeros(SHAPE, dtype=bool)
    tube(labels, 1, 0, 15, row=20)
    tube(labels, 2, 22, 28, row=20)  # 6 mm on: no narrowing
    pockets |= ball(labels, 2, (20, 20, 35), 7.0)
    tube(labels, 3, 18, 30, row=40)  # a tube nearby holding no pocket (the pancreatic duct)
    tube(labels, 1, 0, 15, row=40)

    assert joined(labels, pockets) == []
