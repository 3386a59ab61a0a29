"""The skeleton's voxels moved onto the duct's axis before anything is measured."""

from __future__ import annotations

from typing import Any

import numpy as np
from skimage.morphology import skeletonize

from imaging.tree.centreline import distance_along, distance_to_end, radius_by_volume, recentred


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


def path(*corners: tuple[float, float, float]) -> np.ndarray:
    """Points every 0.5 mm along straight pieces between the corners."""
    pieces = []
    for a, b in zip(corners, corners[1:], strict=False):
        a_, b_ = np.array(a), np.array(b)
        count = max(int(np.linalg.norm(b_ - a_) / 0.5), 1)
        pieces.append(a_ + np.linspace(0.0, 1.0, count + 1)[:-1, None] * (b_ - a_))
    return np.vstack([*pieces, np.array(corners[-1])[None, :]])


def test_a_short_wide_stretch_to_the_next_fork_does_not_move_the_fork_below_it():
    from imaging.tree.centreline import Branch, Tree, _refine_fork

    def branch(index: int, points: np.ndarray, radius: float, parent: int | None) -> Branch:
        return Branch(index, points, np.full(len(points), radius, dtype=np.float32), np.ones(len(points)), parent)

    # A left duct (0,0,-30) to (0,0,0); segment 2's duct leaves there; the segment 3-4 trunk,
    # as wide as the left duct, runs 5 mm with a skeleton's wobble to its own fork.
    stem = branch(0, path((0, 0, -30), (0, 0, 0)), 1.8, None)
    segment_2 = branch(1, path((0, 0, 0), (14, 0, 14)), 1.0, 0)
    trunk_3_4 = branch(2, path((0, 0, 0), (-2.0, 0, 2.0), (0, 0, 5)), 1.8, 0)
    segment_3 = branch(3, path((0, 0, 5), (12, -6, 8)), 1.0, 2)
    segment_4 = branch(4, path((0, 0, 5), (6, -8, 20)), 1.0, 2)
    stem.children, trunk_3_4.children = [1, 2], [3, 4]
    tree = Tree({b.index: b for b in (stem, segment_2, trunk_3_4, segment_3, segment_4)}, 0, 0)

    _refine_fork(tree, stem)

    assert np.linalg.norm(stem.upper - np.array([0.0, 0.0, 0.0])) < 0.5
    assert np.allclose(segment_2.lower, stem.upper) and np.allclose(trunk_3_4.lower, stem.upper)


def curled_junction(chord_mm: float):
    """A common hepatic duct whose skeleton curls through the wide confluence (a loop 9 mm long
    whose ends lie ``chord_mm`` apart) before forking into two thin sectoral ducts."""
    from imaging.tree.centreline import Branch, Tree

    def branch(index: int, points: np.ndarray, radius: float, parent: int | None) -> Branch:
        return Branch(index, points, np.full(len(points), radius, dtype=np.float32), np.ones(len(points)), parent)

    trunk = branch(0, path((0, 0, -30), (0, 0, 0)), 3.0, None)
    curl = branch(1, path((0, 0, 0), (3.0, 0, 2.0), (0, 2.0, 3.0), (chord_mm, 0, 0.0)), 2.5, 0)
    anterior = branch(2, path((chord_mm, 0, 0), (-15, -5, 10)), 0.8, 1)
    posterior = branch(3, path((chord_mm, 0, 0), (-15, 5, 0)), 0.8, 1)
    trunk.children, curl.children = [1], [2, 3]
    return Tree({b.index: b for b in (trunk, curl, anterior, posterior)}, 0, 0)


def test_a_loop_whose_ends_lie_within_a_voxel_is_folded_into_the_junction_whatever_its_branches():
    from imaging.tree.centreline import _merge_close_forks

    tree = curled_junction(chord_mm=1.0)

    merged = _merge_close_forks(tree, 3.0, by_chord=True, voxel_mm=1.5)

    assert merged == {0}
    assert 1 not in tree.branches
    assert sorted(tree.branches[0].children) == [2, 3]


def test_a_short_duct_ending_in_twigs_is_kept_where_its_ends_lie_a_voxel_apart():
    from imaging.tree.centreline import _merge_close_forks

    tree = curled_junction(chord_mm=2.0)

    merged = _merge_close_forks(tree, 3.0, by_chord=True, voxel_mm=1.5)

    assert merged == set()
    assert tree.branches[0].children == [1]


def twin_ducts(fork_mm: float, course: Any = None, radius: float = 1.1):
    """A right hepatic duct up the z axis to (0, 0, 0), where an anterior and a posterior duct
    leave it, mirror images of each other, each ``course(height)`` mm off the axis (by
    default 10 degrees, so 20 degrees apart); the skeleton forks only ``fork_mm`` beyond
    the junction, where their walls part. Before that it runs on up the axis. The two are
    ``radius`` mm wide (1.1: ducts; under half a voxel: twigs)."""
    from imaging.tree.centreline import Branch, Tree

    def branch(index: int, points: np.ndarray, radius: float, parent: int | None) -> Branch:
        return Branch(index, points, np.full(len(points), radius, dtype=np.float32), np.ones(len(points)), parent)

    def off_axis(heights: np.ndarray) -> np.ndarray:
        return heights * np.tan(np.radians(10.0)) if course is None else course(heights)

    def duct(side: float) -> np.ndarray:
        heights = np.arange(fork_mm, 25.0, 0.5)
        across = side * off_axis(heights)
        return np.vstack([[0.0, 0.0, fork_mm], np.stack([across, 0.5 * across, heights], axis=1)[1:]])

    stem = branch(0, path((0, 0, -30), (0, 0, fork_mm)), 1.8, None)
    anterior, posterior = branch(1, duct(1.0), radius, 0), branch(2, duct(-1.0), radius, 0)
    stem.children = [1, 2]
    return Tree({b.index: b for b in (stem, anterior, posterior)}, 0, 0)


def test_a_fork_late_by_the_ducts_touching_walls_is_moved_back_to_where_they_part():
    from imaging.tree.centreline import part_late_forks

    tree = twin_ducts(fork_mm=6.0)

    parted = part_late_forks(tree, voxel_mm=1.1)

    assert parted is not None
    stem, anterior, posterior = (parted.branches[i] for i in (0, 1, 2))
    assert np.linalg.norm(stem.upper) < 1.0  # the junction, not the skeleton's fork at 6 mm
    assert np.allclose(anterior.lower, stem.upper) and np.allclose(posterior.lower, stem.upper)
    # The stretch the two ducts shared is measured in both; the stem loses it.
    assert abs((stem.length_mm + anterior.length_mm) - (tree.branches[0].length_mm + tree.branches[1].length_mm)) < 1.0
    assert stem.length_mm < tree.branches[0].length_mm - 5.0
    # The tree it was given is left as it was.
    assert np.allclose(tree.branches[0].upper, [0.0, 0.0, 6.0])


def test_a_duct_whose_twigs_fork_late_is_measured_to_where_they_part():
    from imaging.tree.centreline import part_late_forks

    # A posterior duct ending in two twigs 0.4 mm wide (under half of a 1.1 mm voxel) that run
    # wall to wall for 6 mm: the fork into its twigs ends the duct's measured stretch.
    tree = twin_ducts(fork_mm=6.0, radius=0.4)

    parted = part_late_forks(tree, voxel_mm=1.1)

    assert parted is not None
    assert np.linalg.norm(parted.branches[0].upper) < 1.0
    assert parted.branches[0].length_mm < tree.branches[0].length_mm - 5.0


def test_a_moved_fork_changes_what_is_measured_not_where_the_ducts_are_read_to_point():
    from imaging.tree.centreline import part_late_forks
    from imaging.tree.label import _node

    tree = twin_ducts(fork_mm=6.0)

    parted = part_late_forks(tree, voxel_mm=1.1)

    assert parted is not None
    for index in (1, 2):
        skeleton, moved = tree.branches[index], parted.branches[index]
        assert np.linalg.norm(moved.lower) < 1.0  # measured from the junction
        assert np.array_equal(moved.course, skeleton.points)  # its course read from the skeleton's fork on
        # Read from the junction, 5 mm further down the stem, the duct would point about 7 degrees
        # closer to the stem's axis: enough to tip a duct into the neighbouring sector.
        read = _node(parted, moved, thin=0.5).direction
        assert np.allclose(read, _node(tree, skeleton, thin=0.5).direction)


def test_a_fork_where_the_ducts_part_is_left_where_it_is():
    from imaging.tree.centreline import part_late_forks

    assert part_late_forks(twin_ducts(fork_mm=0.0), voxel_mm=1.1) is None


def test_a_fork_late_by_under_a_voxel_is_moved_back_too():
    from imaging.tree.centreline import part_late_forks

    # Every length beyond the fork is measured from it: a millimetre at each of two forks is a
    # duct measured two millimetres off.
    parted = part_late_forks(twin_ducts(fork_mm=1.0), voxel_mm=1.1)

    assert parted is not None
    assert np.linalg.norm(parted.branches[0].upper) < 0.3


def test_forks_can_be_moved_one_at_a_time():
    from imaging.tree.centreline import moved_forks, part_late_forks

    tree = twin_ducts(fork_mm=6.0)
    parted = part_late_forks(tree, voxel_mm=1.1)

    assert parted is not None and moved_forks(tree, parted) == [0]
    assert part_late_forks(tree, voxel_mm=1.1, forks=[1]) is None
    assert part_late_forks(tree, voxel_mm=1.1, forks=[0]) is not None


def test_ducts_running_side_by_side_give_no_junction_to_carry_back_to():
    from imaging.tree.centreline import part_late_forks

    # Their separation does not grow: no angle between them says where they joined.
    assert part_late_forks(twin_ducts(fork_mm=6.0, course=lambda h: np.full_like(h, 1.2)), voxel_mm=1.1) is None


def test_ducts_whose_separation_does_not_grow_along_a_line_give_no_junction():
    from imaging.tree.centreline import part_late_forks

    # Parting at 20 degrees, but wobbling by 0.3 mm each: the separation strays 0.76 mm from
    # its line, and carried back it would say 4.9 mm, too unsure to move a junction by.
    def wobbling(heights: np.ndarray) -> np.ndarray:
        return heights * np.tan(np.radians(10.0)) + 0.3 * np.sin(heights * 1.3)

    assert part_late_forks(twin_ducts(fork_mm=6.0, course=wobbling), voxel_mm=1.1) is None


def test_what_a_pockets_cut_leaves_of_its_wall_is_neither_the_tree_nor_joined_to_it():
    import networkx as nx
    from scipy.spatial import cKDTree

    from imaging.tree.centreline import _bridged, _voxel_graph

    skeleton = np.zeros((48, 52, 48), dtype=bool)
    # The duct tree: a common hepatic duct up the z axis forking into two ducts, 12 mm from the pocket.
    skeleton[20, 32, 5:31] = True
    for step in range(1, 11):
        skeleton[20 - step, 32, 30 + step] = skeleton[20 + step, 32, 30 + step] = True
    # 6 mm beside it, a comb along the pocket's wall (6 mm from it): it forks ten times, the tree once.
    skeleton[5:36, 38, 10] = True
    for x in range(6, 36, 3):
        skeleton[x, 39:42, 10] = True
    voxels = np.argwhere(skeleton)
    graph = nx.minimum_spanning_tree(_voxel_graph(voxels, 1.0))
    points = voxels.astype(float)  # 1 mm voxels: index = patient mm
    wall = np.argwhere(np.ones((40, 6, 20), dtype=bool)) + np.array([0, 44, 0])
    pockets = cKDTree(wall.astype(float))

    main, bridges, _ = _bridged(graph, points, 1.0, pockets)

    kept = {tuple(v) for v in voxels[sorted(main.nodes)]}
    assert (20, 32, 5) in kept and (10, 32, 40) in kept and (30, 32, 40) in kept
    assert not any(v[1] >= 38 for v in kept)
    assert bridges == []


def test_distances_along_a_path_count_each_step_from_either_end():
    path = np.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0], [3.0, 4.0, 12.0], [3.0, 4.0, 12.0]])
    assert distance_along(path).tolist() == [0.0, 5.0, 17.0, 17.0]
    assert distance_to_end(path).tolist() == [17.0, 12.0, 0.0, 0.0]


def test_skeleton_voxels_are_joined_to_their_26_neighbours_by_their_distance():
    from imaging.tree.centreline import _voxel_graph

    voxels = np.array([[0, 0, 0], [1, 1, 1], [1, 1, 2], [3, 3, 3], [1, 0, 2]])

    graph = _voxel_graph(voxels, voxel_mm=0.8)

    assert {frozenset(edge) for edge in graph.edges} == {
        frozenset((0, 1)),  # a corner
        frozenset((1, 2)),  # a face
        frozenset((1, 4)),  # an edge
        frozenset((2, 4)),  # a face
    }
    assert graph.degree[3] == 0  # two voxels away
    assert np.isclose(graph.edges[0, 1]["weight"], 0.8 * np.sqrt(3))
    assert np.isclose(graph.edges[1, 4]["weight"], 0.8 * np.sqrt(2))
    assert np.isclose(graph.edges[1, 2]["weight"], 0.8)


def zigzag_closed_by_a_link() -> tuple[np.ndarray, np.ndarray]:
    """A skeleton's voxels, and which of them are the zigzag: a path along x in diagonal steps
    (1.4 voxels each), and a link leaving it at x = 10 and coming back at x = 30 in straight
    steps (1 voxel each). By length alone the loop loses a step of the zigzag."""
    skeleton = np.zeros((42, 20, 20), dtype=bool)
    zigzag = [(x, 10 + x % 2, 10) for x in range(41)]
    for voxel in zigzag:
        skeleton[voxel] = True
    skeleton[10, 10, 11:15] = skeleton[10:31, 10, 14] = skeleton[30, 10, 11:15] = True
    voxels = np.argwhere(skeleton)
    return voxels, np.array([tuple(v) in set(zigzag) for v in voxels])


def unbroken(graph: Any, among: np.ndarray) -> bool:
    import networkx as nx

    return bool(nx.is_connected(graph.subgraph(np.flatnonzero(among).tolist())))


def test_a_loop_closed_by_a_thin_link_is_broken_in_the_link_not_in_the_trunk():
    import networkx as nx

    from imaging.tree.centreline import _voxel_graph

    voxels, on_trunk = zigzag_closed_by_a_link()  # the zigzag is the common hepatic duct
    radii = np.where(on_trunk, 3.0, 0.5).astype(np.float32)

    # By length alone the loop loses one of its longest steps: a step of the trunk.
    assert not unbroken(nx.minimum_spanning_tree(_voxel_graph(voxels, 1.0), weight="cost"), on_trunk)
    spanning = nx.minimum_spanning_tree(_voxel_graph(voxels, 1.0, radii), weight="cost")
    assert unbroken(spanning, on_trunk)
    assert nx.is_tree(spanning)
    assert np.isclose(spanning.edges[0, 1]["weight"], np.sqrt(2))  # lengths stay lengths


def test_a_loop_of_a_segmental_duct_and_twigs_is_broken_in_the_twigs(monkeypatch):
    import networkx as nx

    from imaging.tree import centreline
    from imaging.tree.centreline import _voxel_graph

    # The zigzag is a segmental duct, thin (under 2 mm across); the link, twigs of its tip and of
    # a neighbour's that touch.
    voxels, on_duct = zigzag_closed_by_a_link()
    radii = np.where(on_duct, 0.8, 0.3).astype(np.float32)

    # Costed only as thin, duct and twigs alike, the loop loses a step of the duct: its longest.
    monkeypatch.setattr(centreline, "TWIG_LOOP_COST", centreline.THIN_LOOP_COST)
    assert not unbroken(nx.minimum_spanning_tree(_voxel_graph(voxels, 1.0, radii), weight="cost"), on_duct)
    monkeypatch.undo()
    spanning = nx.minimum_spanning_tree(_voxel_graph(voxels, 1.0, radii), weight="cost")
    assert unbroken(spanning, on_duct)
    assert nx.is_tree(spanning)
