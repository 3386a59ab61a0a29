"""The duct mask's centre-lines as a rooted tree of branches.

The skeleton's voxels are moved, by under a voxel, to the centre of the duct's
cross-section through them, then become a graph (networkx) joined to their 26 neighbours; a
minimum spanning tree breaks the little loops a skeleton makes at junctions; the tree
grows from the large piece that forks most (a long unbranched tube, the pancreatic duct
with the lower common bile duct, can hold more skeleton than a hilar tree of thin ducts);
pieces left apart by a narrowing are bridged to the tree when their ends come close, pieces
the cut of a fluid pocket parted from the tree are joined across the pocket, and
short spurs (a skeleton's whiskers at bumps of the wall) are pruned. The tree is
rooted at the caudal end of its thickest duct (the common bile duct); where that point
is no end of the skeleton (the duct runs on into the pancreatic duct without a fork),
only the part above it that forks most is kept. The tree is cut into
branches between forks; forks closer than a duct's width are one junction, placed
where the branches' axes meet (a short, wide stretch on to the next fork, too short to
give an axis, is left out of the fit). A duct joined across a pocket starts at the pocket's
neck (where the cystic duct begins), not at the far side of the bridge.

``part_late_forks`` gives a copy of the tree with forks moved back to where two ducts
touching wall to wall part (from how their separation grows), ``attach_lost_twigs`` one
with a fork where a twig the mask lost leaves its duct (``segment.lost_twig_lines``), and
``attach_returning_twigs`` one with a fork where the far part of a twig broken near its fork
comes back to its duct; the proposal takes each only when the ducts read from it are the same.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from .grid import neighbour_pairs
from .segment import Segmented

# Pieces of skeleton this close (mm) to the tree are joined to it, when long enough to be ducts.
BRIDGE_MM = 8.0
MIN_PIECE_MM = 8.0
# A leaf branch shorter than this (mm), or than this many local radii, is a spur.
SPUR_MM = 3.0
# The skeleton's staircase and its wobble at forks are smoothed over this length (mm),
# at most a third of the path, before measuring.
SMOOTH_MM = 8.0
SPUR_RADII = 1.5
# The root is the lowest point of the duct whose radius is at least this share of the widest.
TRUNK_RADIUS_SHARE = 0.75


@dataclass
class Branch:
    """A stretch of centre-line between forks, from its lower (root-side) end upwards.

    ``points`` are patient mm; the first point is the fork it leaves (for the root
    branch, the root). ``bridged`` says the branch crosses a gap that was bridged.
    """

    index: int
    points: np.ndarray
    radii: np.ndarray
    tubular: np.ndarray
    parent: int | None
    children: list[int] = field(default_factory=list)
    bridged: bool = False
    # The branch begins by crossing a pocket of wide fluid (a duct draining into the
    # cystic duct at the gallbladder's neck, whose junction the pocket's cut removed).
    across_pocket: bool = False
    # How many of the first points are the stretch taken from the branch below when this
    # fork was moved back to where the ducts part (``part_late_forks``): the branch's course
    # is read beyond them, from where the skeleton forked, so that moving a fork changes what
    # is measured and never where a duct is read to point.
    shared_points: int = 0

    @property
    def length_mm(self) -> float:
        return path_length(self.points)

    @property
    def course(self) -> np.ndarray:
        """The points from where the skeleton forked upwards (``shared_points`` left out)."""
        return self.points[self.shared_points :]

    @property
    def upper(self) -> np.ndarray:
        end: np.ndarray = self.points[-1]
        return end

    @property
    def lower(self) -> np.ndarray:
        start: np.ndarray = self.points[0]
        return start


@dataclass
class Tree:
    branches: dict[int, Branch]
    root: int
    bridges: int

    def subtree(self, index: int) -> list[int]:
        out, stack = [], [index]
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(self.branches[current].children)
        return out


def path_length(points: np.ndarray) -> float:
    """Length (mm) of a voxel path, smoothed over about SMOOTH_MM so the staircase of
    a skeleton does not count; the two ends stay where they are."""
    if len(points) < 2:
        return 0.0
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    window = min(SMOOTH_MM, float(steps.sum()) / 3)  # a short duct keeps its ends straight
    half = int(window / 2 / max(float(np.median(steps)), 1e-6))
    smooth = points.astype(float)
    if half >= 1 and len(points) > 2:
        padded = np.vstack([np.repeat(points[:1], half, axis=0), points, np.repeat(points[-1:], half, axis=0)])
        kernel = np.ones(2 * half + 1) / (2 * half + 1)
        smooth = np.stack([np.convolve(padded[:, axis], kernel, mode="valid") for axis in range(3)], axis=1)
        smooth[0], smooth[-1] = points[0], points[-1]
    return float(np.linalg.norm(np.diff(smooth, axis=0), axis=1).sum())


def distance_along(points: np.ndarray) -> np.ndarray:
    """The arc length (mm) from the path's first point to each of its points, voxel by voxel."""
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    along: np.ndarray = np.concatenate([[0.0], np.cumsum(steps)])
    return along


def distance_to_end(points: np.ndarray) -> np.ndarray:
    """The arc length (mm) from each of the path's points to its last point, voxel by voxel."""
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    to_end: np.ndarray = np.concatenate([np.cumsum(steps[::-1])[::-1], [0.0]])
    return to_end


def centre_lines(segmented: Segmented) -> Tree:
    skeleton = skeletonize(segmented.mask)
    voxels = np.argwhere(skeleton)
    if len(voxels) < 2:
        raise ValueError("no duct centre-line found")
    radii = radius_by_volume(segmented.walls, voxels, segmented.grid.voxel_mm)
    graph = _voxel_graph(voxels, segmented.grid.voxel_mm, radii)
    graph = nx.minimum_spanning_tree(graph, weight="cost")
    points = segmented.grid.to_patient(recentred(segmented.walls, voxels, radii, segmented.grid.voxel_mm))
    tubular = segmented.tubular[tuple(voxels.T)]
    main, bridges, pocket_bridges = _bridged(graph, points, segmented.grid.voxel_mm, segmented.pockets)
    root = _root(main, points, radii)
    if main.degree[root] > 1:
        main = _cut_below(main, root)
    branches = _branches(main, root, points, radii, tubular, bridges, pocket_bridges)
    tree = _prune(branches, radii_floor=segmented.grid.voxel_mm)
    limit = max(MERGE_FORK_MM, MERGE_FORK_VOXELS * segmented.grid.voxel_mm)
    _merge_close_forks(tree, limit)
    for branch in list(tree.branches.values()):
        if branch.children and not any(tree.branches[c].across_pocket for c in branch.children):
            _refine_fork(tree, branch)
    # Refined junctions that came together are one: the skeleton looped between them.
    for index in _merge_close_forks(tree, limit, by_chord=True, voxel_mm=segmented.grid.voxel_mm):
        _refine_fork(tree, tree.branches[index])
    _drop_curled_whiskers(tree, radii_floor=segmented.grid.voxel_mm)
    for branch in tree.branches.values():
        if branch.across_pocket:
            _join_across_pocket(branch, segmented.pockets)
    return tree


# Pocket points within this distance (mm) of a bridge across a pocket show where the pocket meets it.
NECK_REACH_MM = 8.0


def _join_across_pocket(branch: Branch, pockets: cKDTree | None) -> None:
    """Start a duct joined across a pocket at the pocket's neck, not at the receiving
    duct's cut end: the straight bridge over the pocket is no duct. The neck is where
    the pocket's fluid beside the bridge is centred, projected onto the bridge: the
    gallbladder's neck, where the cystic duct begins."""
    if pockets is None:
        return
    cut_end, piece = branch.points[0], branch.points[1:]
    bridge = piece[0] - cut_end
    gap = float(np.linalg.norm(bridge))
    if gap < 1.0:
        return
    samples = cut_end + np.linspace(0.0, 1.0, max(2, int(gap)))[:, None] * bridge
    near = sorted(set().union(*pockets.query_ball_point(samples, NECK_REACH_MM)))
    if not near:
        return
    centre = pockets.data[near].mean(axis=0)
    along = float(np.clip((centre - cut_end) @ bridge / gap**2, 0.0, 1.0))
    branch.points = np.vstack([cut_end + along * bridge, piece])


# Radius of the ball in which a duct's calibre is measured (mm): wider than any duct.
CALIBRE_BALL_MM = 6.0
# A duct narrower than this radius (mm), under 2 mm across, is a twig or the thinnest of segmental
# ducts: a step along it costs this many times its length when the skeleton's loops are broken.
THIN_DUCT_RADIUS_MM = 1.0
THIN_LOOP_COST = 2.0
# Narrower still, under 1 mm across, it is a peripheral twig (segmental ducts measure 0.6 mm and
# more): twigs of neighbouring ducts that touch close loops through them, and those loops lose a
# twig's step, not a segmental duct's.
TWIG_RADIUS_MM = 0.5
TWIG_LOOP_COST = 4.0


def radius_by_volume(mask: np.ndarray, voxels: np.ndarray, voxel_mm: float) -> np.ndarray:
    """Each centre-line voxel's duct radius (mm), from the volume of duct in a ball around it.

    A straight tube of radius r through the centre of a ball of radius R fills
    4/3 pi (R^3 - (R^2 - r^2)^(3/2)) of it, whatever its direction; counting some
    hundreds of voxels gives the radius to a fraction of a voxel, where the distance
    to the wall at the centre moves in whole voxel steps.
    """
    reach = int(np.ceil(CALIBRE_BALL_MM / voxel_mm))
    span = np.arange(-reach, reach + 1)
    offsets = np.stack(np.meshgrid(span, span, span, indexing="ij"), axis=-1).reshape(-1, 3)
    offsets = offsets[(offsets**2).sum(axis=1) * voxel_mm**2 <= CALIBRE_BALL_MM**2]
    padded = np.pad(mask, reach)
    counts = np.zeros(len(voxels), dtype=np.float64)
    shifted = voxels + reach
    for offset in offsets:
        where = shifted + offset
        counts += padded[where[:, 0], where[:, 1], where[:, 2]]
    ball = CALIBRE_BALL_MM**3
    filled = np.minimum(counts * voxel_mm**3 * 3.0 / (4.0 * np.pi), ball)
    radii: np.ndarray = np.sqrt(np.maximum(CALIBRE_BALL_MM**2 - (ball - filled) ** (2.0 / 3.0), 0.0))
    return radii.astype(np.float32)


# A skeleton voxel is moved to the centre of the duct's cross-section through it: the
# centroid of the mask within this many mm of the wall, in a slab this many voxels thick.
RECENTRE_MARGIN_MM = 1.0
RECENTRE_SLAB_VOXELS = 1.0
# The local direction of the centre-line is fitted over the skeleton within this reach (mm).
TANGENT_MM = 3.0


def recentred(mask: np.ndarray, voxels: np.ndarray, radii: np.ndarray, voxel_mm: float) -> np.ndarray:
    """Skeleton voxels (n x 3 indices) moved, by under a voxel, to the centroid of the
    duct's cross-section: a thinned skeleton lies on whole voxels and, for a duct an even
    number of voxels wide, half a voxel off its axis, which tilts the axes fitted at a
    fork and moves the junction by a millimetre or more."""
    tangents = _tangents(voxels, TANGENT_MM / voxel_mm)
    reach = int(np.ceil((float(radii.max()) + RECENTRE_MARGIN_MM) / voxel_mm))
    span = np.arange(-reach, reach + 1)
    offsets = np.stack(np.meshgrid(span, span, span, indexing="ij"), axis=-1).reshape(-1, 3)
    offsets = offsets[(offsets**2).sum(axis=1) <= reach**2]
    limit = ((radii + RECENTRE_MARGIN_MM) / voxel_mm) ** 2
    padded = np.pad(mask, reach)
    shifted = voxels + reach
    total = np.zeros((len(voxels), 3))
    count = np.zeros(len(voxels))
    for offset in offsets:
        along = tangents @ offset
        inside = (np.abs(along) <= RECENTRE_SLAB_VOXELS) & (float(offset @ offset) <= limit)
        where = shifted + offset
        inside &= padded[where[:, 0], where[:, 1], where[:, 2]]
        perpendicular = offset[None, :] - along[:, None] * tangents
        total += perpendicular * inside[:, None]
        count += inside
    move = total / np.maximum(count, 1)[:, None]
    move[np.linalg.norm(move, axis=1) > 1.0] = 0.0  # a neighbouring duct in reach: keep the voxel
    out: np.ndarray = voxels + move
    return out


def _tangents(voxels: np.ndarray, reach: float) -> np.ndarray:
    """Unit direction of the skeleton at each voxel: the main axis of its neighbours within ``reach`` voxels."""
    tree = cKDTree(voxels)
    out = np.zeros((len(voxels), 3))
    for n, near in enumerate(tree.query_ball_point(voxels, reach)):
        local = voxels[near].astype(float)
        if len(local) < 3:
            continue
        local -= local.mean(axis=0)
        _, vectors = np.linalg.eigh(local.T @ local)
        out[n] = vectors[:, -1]
    return out


def _voxel_graph(voxels: np.ndarray, voxel_mm: float, radii: np.ndarray | None = None) -> nx.Graph:
    """The skeleton's voxels joined to their 26 neighbours, each edge weighted by its length (mm).

    Each edge also has a ``cost`` for the minimum spanning tree: its length, doubled where the
    duct (``radii``, mm) is thinner than THIN_DUCT_RADIUS_MM, TWIG_LOOP_COST times where thinner than
    TWIG_RADIUS_MM. A loop in the skeleton is then broken in its thinnest part: where a thin path
    (twigs touching, a ridge of noise) closes a loop with the common hepatic duct, the path goes,
    not a step of the trunk; where the twigs of two segmental ducts touch, a twig's step goes, not
    the step where a segmental duct leaves its junction. Without radii the cost is the length.

    Edges go in by direction, then by voxel: the minimum spanning tree breaks ties between
    equal costs in that order, so the order fixes which of a junction's little loops' edges go."""
    pairs = neighbour_pairs(voxels)
    step = voxels[pairs[:, 1]] - voxels[pairs[:, 0]]
    # Each pair from the voxel it steps forward from (the step's first non-zero axis positive).
    first_nonzero = step[np.arange(len(step)), np.argmax(step != 0, axis=1)]
    backward = first_nonzero < 0
    pairs[backward] = pairs[backward][:, ::-1]
    step[backward] = -step[backward]
    direction = (step[:, 0] + 1) * 9 + (step[:, 1] + 1) * 3 + (step[:, 2] + 1)
    order = np.lexsort((pairs[:, 0], direction))
    pairs = pairs[order]
    lengths = voxel_mm * np.sqrt((step[order] ** 2).sum(axis=1))
    costs = lengths.copy()
    if radii is not None:
        narrowest = np.minimum(radii[pairs[:, 0]], radii[pairs[:, 1]])
        costs *= np.select(
            [narrowest < TWIG_RADIUS_MM, narrowest < THIN_DUCT_RADIUS_MM], [TWIG_LOOP_COST, THIN_LOOP_COST], 1.0
        )
    graph = nx.Graph()
    graph.add_nodes_from(range(len(voxels)))
    graph.add_edges_from(
        (a, b, {"weight": length, "cost": cost})
        for a, b, length, cost in zip(
            pairs[:, 0].tolist(), pairs[:, 1].tolist(), lengths.tolist(), costs.tolist(), strict=True
        )
    )
    return graph


def _bridged(
    graph: nx.Graph, points: np.ndarray, voxel_mm: float, pockets: cKDTree | None
) -> tuple[nx.Graph, list[tuple[int, int]], list[tuple[int, int]]]:
    """The largest piece, with the long enough pieces whose nearest point lies within BRIDGE_MM joined to it,
    then the pieces the cut of a pocket parted from the tree joined across the pocket. A piece
    lying all along a pocket's rim is what the cut left of its wall, not a duct: it is not joined."""
    pieces = sorted(nx.connected_components(graph), key=len, reverse=True)
    on_rims = on_pocket_rims(points, pockets)
    main = _main_piece(graph, pieces, on_rims)
    bridges: list[tuple[int, int]] = []
    joined = True
    rest = [p for p in pieces if p is not main and sum(1 for n in p if not on_rims[n]) * voxel_mm >= MIN_PIECE_MM]
    main = set(main)
    while joined and rest:
        joined = False
        main_nodes = np.array(sorted(main))
        tree = cKDTree(points[main_nodes])
        for piece in list(rest):
            nodes = np.array(sorted(piece))
            distance, nearest = tree.query(points[nodes])
            which = int(np.argmin(distance))
            if distance[which] <= BRIDGE_MM:
                a, b = int(nodes[which]), int(main_nodes[nearest[which]])
                graph.add_edge(a, b, weight=float(distance[which]))
                bridges.append((a, b))
                main |= piece
                rest.remove(piece)
                joined = True
    pocket_bridges = _across_pockets(graph, points, main, rest, pockets)
    bridges += pocket_bridges
    for a, _ in pocket_bridges:
        main |= nx.node_connected_component(graph, a)
    sub: nx.Graph = graph.subgraph(main).copy()
    return sub, bridges, pocket_bridges


# A piece of skeleton this share of the largest's size may be the tree, when it forks more.
MAIN_PIECE_SHARE = 0.25


def _main_piece(graph: nx.Graph, pieces: list[set[int]], on_rims: np.ndarray) -> set[int]:
    """The piece the tree grows from: of the large pieces, the one that forks most.

    A pocket's cut (the duodenum beside the common bile duct) can part the hilar tree
    from the lower common bile duct with the pancreatic duct, a long unbranched tube
    that may hold more skeleton than a tree whose thin ducts are broken. The tree is
    the piece that branches into the liver. Forks on a pocket's rim (``on_rims``) do not
    count: what the cut leaves of a bowel's wall forks all along it, and with coarse
    pixels can fork more than a hilar tree broken into pieces."""
    large = [p for p in pieces if len(p) >= MAIN_PIECE_SHARE * len(pieces[0])]

    def forks(piece: set[int]) -> int:
        return sum(1 for n in piece if graph.degree[n] >= 3 and not on_rims[n])

    return max(large, key=lambda p: (forks(p), len(p)))


# A skeleton point this close (mm) to a pocket of wide fluid touches it; pieces are joined
# across a pocket over at most this gap (mm): the length of a gallbladder's neck region.
POCKET_REACH_MM = 6.0
POCKET_BRIDGE_MM = 40.0


def on_pocket_rims(points: np.ndarray, pockets: cKDTree | None) -> np.ndarray:
    """Which skeleton points lie within POCKET_REACH_MM of a pocket of wide fluid."""
    if pockets is None:
        return np.zeros(len(points), dtype=bool)
    reach = POCKET_REACH_MM + 1e-6  # the bound is exclusive
    near: np.ndarray = pockets.query(points, distance_upper_bound=reach)[0] <= POCKET_REACH_MM
    return near


def _across_pockets(
    graph: nx.Graph, points: np.ndarray, main: set[int], rest: list[set[int]], pockets: cKDTree | None
) -> list[tuple[int, int]]:
    """Edges joining pieces that touch a pocket to the tree's end that touches it.

    The duct mask is one connected body of fluid with its wide pockets cut out, so a
    piece touching a pocket was joined to the tree through it: a duct entering the
    cystic duct at the gallbladder's neck loses its junction to the cut. The piece is
    joined to the tree's nearest end that touches a pocket (the cystic duct's)."""
    if pockets is None:
        return []
    ends = np.array([n for n in main if graph.degree[n] == 1])
    if not len(ends):
        return []
    ends = ends[pockets.query(points[ends])[0] <= POCKET_REACH_MM]
    if not len(ends):
        return []
    out: list[tuple[int, int]] = []
    for piece in rest:
        nodes = np.array(sorted(piece))
        touching = nodes[pockets.query(points[nodes])[0] <= POCKET_REACH_MM]
        if not len(touching):
            continue
        # The piece enters by an end where one touches; else where it comes nearest.
        touching_ends = np.array([n for n in touching if graph.degree[n] == 1])
        if len(touching_ends):
            touching = touching_ends
        gaps = np.linalg.norm(points[touching][:, None, :] - points[ends][None, :, :], axis=2)
        a, b = np.unravel_index(int(np.argmin(gaps)), gaps.shape)
        if gaps[a, b] <= POCKET_BRIDGE_MM:
            graph.add_edge(int(touching[a]), int(ends[b]), weight=float(gaps[a, b]))
            out.append((int(touching[a]), int(ends[b])))
    return out


def _root(graph: nx.Graph, points: np.ndarray, radii: np.ndarray) -> int:
    nodes = np.array(sorted(graph.nodes))
    widest = float(np.percentile(radii[nodes], 98))
    trunk = nodes[radii[nodes] >= TRUNK_RADIUS_SHARE * widest]
    # Lowest trunk point (patient +z is cranial), then the skeleton's end nearest to it.
    lowest = int(trunk[np.argmin(points[trunk, 2])])
    ends = [n for n in graph.nodes if graph.degree[n] == 1]
    if not ends:
        return lowest
    lengths = nx.single_source_dijkstra_path_length(graph, lowest, cutoff=15.0)
    near = [n for n in ends if n in lengths]
    return min(near, key=lambda n: points[n, 2]) if near else lowest


def _cut_below(graph: nx.Graph, root: int) -> nx.Graph:
    """The tree above a root that is no end of the skeleton: of the parts that leave the
    root, the one that forks most (the hilar tree), not the others (the lower common bile
    duct running on into the pancreatic duct without a fork)."""
    rest = graph.copy()
    rest.remove_node(root)
    parts = [nx.node_connected_component(rest, n) for n in graph.neighbors(root)]
    kept = max(parts, key=lambda part: (sum(1 for n in part if graph.degree[n] >= 3), len(part)))
    cut: nx.Graph = graph.subgraph(kept | {root}).copy()
    return cut


def _branches(
    graph: nx.Graph,
    root: int,
    points: np.ndarray,
    radii: np.ndarray,
    tubular: np.ndarray,
    bridges: list[tuple[int, int]],
    pocket_bridges: list[tuple[int, int]],
) -> Tree:
    bridged_edges = {frozenset(b) for b in bridges}
    pocket_edges = {frozenset(b) for b in pocket_bridges}
    successors = nx.dfs_successors(graph, root)
    branches: dict[int, Branch] = {}

    def walk(start: int, first: int, parent: int | None) -> None:
        # Iterative over forks so deep trees do not exhaust the stack.
        pending = [(start, first, parent)]
        while pending:
            fork, node, parent_index = pending.pop()
            chain = [fork, node]
            while (
                len(successors.get(chain[-1], [])) == 1
                and frozenset((chain[-1], successors[chain[-1]][0])) not in pocket_edges
            ):
                chain.append(successors[chain[-1]][0])
            index = len(branches)
            nodes = np.array(chain)
            crossed = any(frozenset(pair) in bridged_edges for pair in zip(chain, chain[1:], strict=False))
            across = frozenset((fork, node)) in pocket_edges
            branches[index] = Branch(
                index, points[nodes], radii[nodes], tubular[nodes], parent_index, [], crossed, across
            )
            if parent_index is not None:
                branches[parent_index].children.append(index)
            for child in successors.get(chain[-1], []):
                pending.append((chain[-1], child, index))

    first_children = successors.get(root, [])
    if not first_children:
        raise ValueError("the centre-line is a single point")
    walk(root, first_children[0], None)
    return Tree(branches, 0, len(bridges))


def _prune(tree: Tree, radii_floor: float) -> Tree:
    branches = tree.branches
    for _ in range(3):
        changed = False
        for index in list(branches):
            branch = branches.get(index)
            if branch is None or branch.children or branch.parent is None:
                continue
            parent = branches[branch.parent]
            spur = max(SPUR_MM, SPUR_RADII * float(max(parent.radii[-1], radii_floor)))
            # By its reach too: a whisker that curls back within the lumen is long, not far.
            reach = float(np.linalg.norm(branch.upper - branch.lower))
            if min(branch.length_mm, reach) < spur:
                parent.children.remove(index)
                del branches[index]
                changed = True
        for index in list(branches):
            branch = branches.get(index)
            if branch is not None:
                _merge_single_child(branches, branch)
        if not changed:
            break
    return tree


def _drop_curled_whiskers(tree: Tree, radii_floor: float) -> None:
    """Leaves that end within a spur's reach of their refined fork: folding close forks
    together can leave a whisker that curls back inside the junction's lumen."""
    branches = tree.branches
    for index in list(branches):
        branch = branches.get(index)
        if branch is None or branch.children or branch.parent is None or branch.across_pocket:
            continue
        parent = branches[branch.parent]
        spur = max(SPUR_MM, SPUR_RADII * float(max(parent.radii[-1], radii_floor)))
        if float(np.linalg.norm(branch.upper - branch.lower)) < spur:
            parent.children.remove(index)
            del branches[index]
            _merge_single_child(branches, parent)


def _merge_single_child(branches: dict[int, Branch], branch: Branch) -> None:
    while len(branch.children) == 1 and not branches[branch.children[0]].across_pocket:
        child = branches.pop(branch.children[0])
        branch.points = np.vstack([branch.points, child.points[1:]])
        branch.radii = np.concatenate([branch.radii, child.radii[1:]])
        branch.tubular = np.concatenate([branch.tubular, child.tubular[1:]])
        branch.bridged = branch.bridged or child.bridged
        branch.children = child.children
        for grandchild in child.children:
            branches[grandchild].parent = branch.index


# Two forks closer than this (mm, or voxels) are one junction: where three ducts meet at
# a point, a skeleton splits the junction in two a little apart.
MERGE_FORK_MM = 3.0
MERGE_FORK_VOXELS = 2.0
# A stretch this many times longer than the distance between its refined ends is a loop
# of the skeleton inside one junction.
LOOP_RATIO = 2.5
# Branches this much thinner than the stretch before them are its twigs.
TWIG_SHARE = 0.62


def _merge_close_forks(tree: Tree, limit: float, by_chord: bool = False, voxel_mm: float = 0.0) -> set[int]:
    """Fold each stretch shorter than ``limit`` between two forks into its lower fork:
    its branches then leave the lower fork (over the folded stretch), and the fork's
    refinement places the one junction where all their axes meet. ``by_chord`` measures
    the stretch end to end: a loop whose ends lie under a voxel (``voxel_mm``) apart is
    folded even when its branches are thin, since no duct can be measured there. Returns
    the branches whose upper forks took others in."""
    branches = tree.branches
    merged: set[int] = set()
    changed = True
    while changed:
        changed = False
        for index in list(branches):
            branch = branches.get(index)
            if branch is None or branch.parent is None or not branch.children:
                continue
            chord = float(np.linalg.norm(branch.upper - branch.lower))
            if by_chord and (chord >= limit or branch.length_mm < LOOP_RATIO * chord):
                continue
            widest_child = max(float(np.median(branches[c].radii)) for c in branch.children)
            if by_chord and chord >= voxel_mm and widest_child < TWIG_SHARE * float(np.median(branch.radii)):
                continue  # a short duct ending in twigs, not a junction of ducts
            if not by_chord and branch.length_mm >= limit:
                continue
            if any(branches[c].across_pocket for c in branch.children):
                continue
            parent = branches[branch.parent]
            parent.children.remove(index)
            for child_index in branch.children:
                child = branches[child_index]
                child.points = np.vstack([branch.points, child.points[1:]])
                child.radii = np.concatenate([branch.radii, child.radii[1:]])
                child.tubular = np.concatenate([branch.tubular, child.tubular[1:]])
                child.bridged = child.bridged or branch.bridged
                child.parent = parent.index
                parent.children.append(child_index)
            del branches[index]
            merged.discard(index)
            merged.add(parent.index)
            changed = True
    return merged


# Stretches used to fit a branch's axis near a fork (mm from the fork).
AXIS_FROM_MM = 3.5
AXIS_TO_MM = 12.0
# A branch this short (mm) between two forks gives no axis for the lower fork's refinement.
SHORT_CHILD_MM = 7.0
# A refined junction further than this from the skeleton's fork (mm) is not trusted.
MAX_FORK_SHIFT_MM = 8.0


def _refine_fork(tree: Tree, branch: Branch) -> None:
    """Move a fork to where the branches' axes meet.

    Where two tubes part at an angle, their walls touch for a while beyond the true
    junction, so a skeleton forks late, by a few millimetres: the stem is measured too
    long and the branches too short. The junction is the point nearest to the axes of
    the stem and of every branch (least squares), each axis fitted clear of the fork.
    """
    fork = branch.upper
    children = [tree.branches[c] for c in branch.children]
    stem = branch.points[::-1]
    if branch.parent is not None and branch.length_mm < AXIS_TO_MM:  # a short stem goes on below its lower fork
        stem = np.vstack([stem, tree.branches[branch.parent].points[::-1][1:]])
    # A short, wide stretch on to the next fork (two ducts parting just beyond this fork)
    # points nowhere steadily: its axis is left out.
    stem_width = float(np.median(branch.radii))
    steady = [
        c
        for c in children
        if not (c.children and c.length_mm < SHORT_CHILD_MM and float(np.median(c.radii)) >= TWIG_SHARE * stem_width)
    ] or children
    axes = [_axis(stem)] + [_axis(c.points) for c in steady]
    if any(a is None for a in axes):
        return
    system = np.eye(3) * 0.05
    target = 0.05 * fork
    for axis in axes:
        assert axis is not None
        point, direction = axis
        projector = np.eye(3) - np.outer(direction, direction)
        system += projector
        target += projector @ point
    junction = np.linalg.solve(system, target)
    shift = float(np.linalg.norm(junction - fork))
    if shift > MAX_FORK_SHIFT_MM or shift < 0.5:
        return
    stem_axis = axes[0]
    assert stem_axis is not None
    towards_stem = stem_axis[1]  # from the fork down the stem
    keep = (branch.points - junction) @ towards_stem > 0
    keep[0] = True
    last = int(np.nonzero(keep)[0].max()) + 1 if keep.any() else 1
    branch.points = np.vstack([branch.points[:last], junction])
    branch.radii = np.concatenate([branch.radii[:last], branch.radii[last - 1 : last]])
    branch.tubular = np.concatenate([branch.tubular[:last], branch.tubular[last - 1 : last]])
    for child in children:
        near = np.linalg.norm(child.points - junction, axis=1) < shift
        near[-1] = False
        first = int(np.argmin(near)) if near.any() else 1
        first = max(first, 1)
        child.points = np.vstack([junction, child.points[first:]])
        child.radii = np.concatenate([child.radii[:1], child.radii[first:]])
        child.tubular = np.concatenate([child.tubular[:1], child.tubular[first:]])


# Where the two branches' separation is measured along each from the fork: from this many
# voxels (clear of the skeleton's own spread at the fork) over this stretch (mm), before
# the ducts curve away.
PARTING_FROM_VOXELS = 3.0
PARTING_OVER_MM = 6.0
# The separation must grow along a line: within this (mm) of it at every step, and by at
# least this much per mm (two ducts parting at under about 14 degrees give no steady line).
PARTING_FIT_MM = 0.5
PARTING_MIN_SLOPE = 0.25
# A fork within this many voxels of where the separation meets zero is left where it is:
# moving it would change no length by a measurable amount.
PARTING_MIN_VOXELS = 0.2


def part_late_forks(tree: Tree, voxel_mm: float, forks: Collection[int] | None = None) -> Tree | None:
    """A copy of the tree with every late fork of two ducts (or only the upper forks of the
    branches ``forks``) moved back to where they part (``_part_late_fork``), or None when no
    fork moves."""
    parted = copy.deepcopy(tree)
    moved = False
    for branch in list(parted.branches.values()):
        if forks is not None and branch.index not in forks:
            continue
        if len(branch.children) == 2 and not any(parted.branches[c].across_pocket for c in branch.children):
            moved = _part_late_fork(parted, branch, voxel_mm) or moved
    return parted if moved else None


def moved_forks(tree: Tree, moved: Tree) -> list[int]:
    """The branches whose upper forks lie elsewhere in ``moved`` (a copy of ``tree``, as
    ``part_late_forks`` gives)."""
    return [i for i, branch in tree.branches.items() if not np.array_equal(moved.branches[i].upper, branch.upper)]


def _part_late_fork(tree: Tree, branch: Branch, voxel_mm: float) -> bool:
    """Move a fork back to where its two branches part.

    Two ducts leaving a junction at a narrow angle run side by side, their walls touching,
    for several millimetres: the mask holds them as one tube and the skeleton forks only
    where they come apart. Their curving makes straight axes (``_refine_fork``) miss each
    other. But beyond the fork the distance between the two centre-lines grows steadily, by
    the angle between them; carried back, it meets zero where the ducts join. A fork more
    than PARTING_MIN_VOXELS beyond that point is moved back along the stem to it, and the
    stretch they shared is given to both. Twigs too: the fork where a duct divides into its
    twigs is where the duct's measured stretch ends. Returns whether it moved.
    """
    first, second = (tree.branches[c] for c in branch.children)
    back = _parting(tree, first, second, voxel_mm)
    if back is None or not _can_move_back(branch, back, voxel_mm):
        return False
    shared, radii, tubular = _cut_back(branch, back)
    for child in (first, second):
        _prepend_shared(child, shared, radii, tubular)
    return True


def _parting(tree: Tree, first: Branch, second: Branch, voxel_mm: float) -> float | None:
    """How far (mm) below their fork the centre-lines of two branches leaving it, carried
    back along their steadily growing separation, meet; None where it does not grow along a line."""
    reach = PARTING_FROM_VOXELS * voxel_mm + np.arange(0.0, PARTING_OVER_MM + 1e-6, 1.0)
    one, other = _onward(tree, first, reach[-1]), _onward(tree, second, reach[-1])
    if path_length(one) < reach[-1] or path_length(other) < reach[-1]:
        return None
    separation = np.linalg.norm(_points_along(one, reach) - _points_along(other, reach), axis=1)
    slope, at_fork = np.polyfit(reach, separation, 1)
    if slope < PARTING_MIN_SLOPE or np.abs(np.polyval([slope, at_fork], reach) - separation).max() > PARTING_FIT_MM:
        return None
    return float(at_fork / slope)


def _can_move_back(branch: Branch, back: float, voxel_mm: float) -> bool:
    return PARTING_MIN_VOXELS * voxel_mm <= back <= min(MAX_FORK_SHIFT_MM, path_length(branch.points) - voxel_mm)


def _cut_back(branch: Branch, back: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """End the branch ``back`` mm below its upper fork; returns the stretch cut off (points,
    radii, tubularity), from the new end to the old fork."""
    from_fork = distance_to_end(branch.points)
    cut = int(np.nonzero(from_fork >= back)[0].max())  # the last point at least `back` below the fork
    junction = _points_along(branch.points[::-1], np.array([back]))[0]
    shared = np.vstack([junction, branch.points[cut + 1 :]])
    shared_radii = branch.radii[cut:]
    shared_tubular = branch.tubular[cut:]
    branch.points = np.vstack([branch.points[: cut + 1], junction])
    branch.radii = np.concatenate([branch.radii[: cut + 1], branch.radii[cut : cut + 1]])
    branch.tubular = np.concatenate([branch.tubular[: cut + 1], branch.tubular[cut : cut + 1]])
    branch.shared_points = min(branch.shared_points, cut)
    return shared, shared_radii, shared_tubular


def _prepend_shared(child: Branch, shared: np.ndarray, radii: np.ndarray, tubular: np.ndarray) -> None:
    """The child begins with the stretch it shared with its sibling, its course still read
    from the skeleton's fork."""
    child.shared_points += len(shared) - 1  # the skeleton's fork, shared[-1], is now that point
    child.points = np.vstack([shared, child.points[1:]])
    child.radii = np.concatenate([radii, child.radii[1:]])
    child.tubular = np.concatenate([tubular, child.tubular[1:]])


# A line of thin tube is a twig the mask lost where it is at least this long (mm), its far end
# this far (mm) from the tree; it leaves the branch whose centre-line its first point lies within
# LOST_TWIG_ATTACH_MM of, at least LOST_TWIG_FROM_ENDS_MM from that branch's ends (nearer, the
# fork or the tip is already there). Where two ducts divide, partial volume widens the mask, and a
# line can only start where the mask ends: a duct's radius, two voxels of touching and that widening
# put a lost twig's first point up to about 5 mm from the centre-line.
LOST_TWIG_MM = 4.0
LOST_TWIG_REACH_MM = 5.0
LOST_TWIG_ATTACH_MM = 5.0
LOST_TWIG_FROM_ENDS_MM = 3.0


def attach_lost_twigs(tree: Tree, lines: list[np.ndarray]) -> Tree | None:
    """A copy of the tree with each lost twig (``segment.lost_twig_lines``) forking from the
    branch it leaves, or None when none does. The branch then ends where the twig leaves:
    a duct that ran on into the twig its fork kept is measured to its fork."""
    attached = copy.deepcopy(tree)
    moved = False
    for line in lines:
        if path_length(line) < LOST_TWIG_MM:
            continue
        points = np.vstack([b.points for b in attached.branches.values()])
        if float(cKDTree(points).query(line[-1])[0]) < LOST_TWIG_REACH_MM:
            continue  # it comes back to the tree: a link, not a twig
        nearest = _nearest_point(attached.branches.values(), line[0], LOST_TWIG_ATTACH_MM)
        if nearest is None or not _between_ends(*nearest):
            continue
        _fork_at(attached, *nearest, line)
        moved = True
    return attached if moved else None


def _nearest_point(branches: Iterable[Branch], point: np.ndarray, reach: float) -> tuple[Branch, int] | None:
    """The branch whose centre-line comes nearest ``point``, within ``reach`` mm, and its point there."""
    best: tuple[float, Branch, int] | None = None
    for branch in branches:
        gaps = np.linalg.norm(branch.points - point, axis=1)
        at = int(np.argmin(gaps))
        if gaps[at] <= reach and (best is None or gaps[at] < best[0]):
            best = (float(gaps[at]), branch, at)
    return None if best is None else (best[1], best[2])


def _between_ends(branch: Branch, at: int) -> bool:
    """Whether the branch's point ``at`` lies at least LOST_TWIG_FROM_ENDS_MM from both its ends
    (nearer, its fork or its tip is already there)."""
    along = distance_along(branch.points)
    return bool(along[at] >= LOST_TWIG_FROM_ENDS_MM and along[-1] - along[at] >= LOST_TWIG_FROM_ENDS_MM)


# A leaf of the tree, thinner than the duct, whose free end comes back within RETURNING_REACH_MM of
# the duct's centre-line, its own fork at least RETURNING_FROM_MM from there, is the far part of a
# twig broken near its fork.
RETURNING_REACH_MM = 4.0
RETURNING_FROM_MM = 5.0


def attach_returning_twigs(tree: Tree, measured: np.ndarray) -> Tree | None:
    """A copy of the tree with a fork where a twig broken near its fork leaves a measured duct
    (``measured``: the points of the ducts' centre-lines), or None when there is none.

    The far part of such a twig hangs on the end of the twig its fork kept, and comes back
    to end beside the duct: the duct ran on into the kept twig. The duct then forks at the
    point nearest that end, as where a lost twig leaves (``attach_lost_twigs``)."""
    if not len(measured):
        return None
    near_duct = cKDTree(measured)
    attached = copy.deepcopy(tree)
    moved = False
    for leaf in [b for b in tree.branches.values() if not b.children and b.parent is not None]:
        if leaf.length_mm < LOST_TWIG_MM or float(near_duct.query(leaf.upper)[0]) > RETURNING_REACH_MM:
            continue
        # Not the leaf itself, nor a branch a fork made here.
        others = [b for b in attached.branches.values() if b.index != leaf.index and b.index in tree.branches]
        nearest = _nearest_point(others, leaf.upper, RETURNING_REACH_MM)
        if nearest is None:
            continue
        branch, at = nearest
        if float(np.linalg.norm(leaf.lower - branch.points[at])) < RETURNING_FROM_MM:
            continue  # a twig leaving beside the duct, not one coming back to it
        if float(np.median(leaf.radii)) >= float(np.median(branch.radii)):
            continue  # a twig is thinner than the duct it leaves
        if not _between_ends(branch, at):
            continue
        _fork_at(attached, branch, at, np.vstack([leaf.upper]))
        moved = True
    return attached if moved else None


def _fork_at(tree: Tree, branch: Branch, at: int, twig: np.ndarray) -> None:
    """Cut the branch at its point ``at`` into a lower part and the rest, and let the twig leave there."""
    rest = split_branch(tree, branch, at)
    # The lost twig is as wide as the twig kept beside it: its mask, which would say, is what was lost.
    width = float(np.median(rest.radii))
    tubular = float(np.median(rest.tubular))
    points = np.vstack([branch.upper, twig])
    index = max(tree.branches) + 1
    tree.branches[index] = Branch(
        index, points, np.full(len(points), width, np.float32), np.full(len(points), tubular), branch.index
    )
    branch.children.append(index)


def split_branch(tree: Tree, branch: Branch, cut: int) -> Branch:
    """Cut a branch at point ``cut``: the lower part keeps the index, the upper part (returned)
    becomes its only child and takes its children."""
    index = max(tree.branches) + 1
    upper = Branch(
        index,
        branch.points[cut:],
        branch.radii[cut:],
        branch.tubular[cut:],
        branch.index,
        branch.children,
        branch.bridged,
    )
    for child in branch.children:
        tree.branches[child].parent = index
    tree.branches[index] = upper
    branch.points, branch.radii, branch.tubular = (
        branch.points[: cut + 1],
        branch.radii[: cut + 1],
        branch.tubular[: cut + 1],
    )
    branch.shared_points = min(branch.shared_points, cut)
    branch.children = [index]
    return upper


def _onward(tree: Tree, branch: Branch, length: float) -> np.ndarray:
    """The branch's path, carried on into its widest child while shorter than ``length`` (mm)."""
    points = branch.points
    while path_length(points) < length and branch.children:
        branch = max((tree.branches[c] for c in branch.children), key=lambda c: float(np.median(c.radii)))
        points = np.vstack([points, branch.points[1:]])
    return points


def _points_along(points: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """The points at the given distances (mm) along a path, following its voxels."""
    along = distance_along(points)
    return np.stack([np.interp(distances, along, points[:, axis]) for axis in range(3)], axis=1)


def _axis(points: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """A line through the points between AXIS_FROM_MM and AXIS_TO_MM along a path
    that starts at a fork: a point on it and the unit direction away from the fork."""
    along = distance_along(points)
    chosen = points[(along >= min(AXIS_FROM_MM, along[-1] / 3)) & (along <= AXIS_TO_MM)]
    if len(chosen) < 2:
        return None
    centre = chosen.mean(axis=0)
    _, _, vt = np.linalg.svd(chosen - centre)
    direction: np.ndarray = vt[0]
    if float(direction @ (chosen[-1] - chosen[0])) < 0:
        direction = -direction
    return centre, direction
