"""Naming the branches: the common hepatic duct, the confluence and every duct.

The rules follow how a radiologist reads an MRCP, from the images alone:

* the **trunk** (common bile and hepatic duct) is climbed from the root; at each fork
  it goes on into the one branch that still drains both sides of the liver and is
  nearly as wide as the trunk (a short stretch that looks narrow, where a pocket's cut
  or a kink thins the mask, is read with the branch beyond it). Where no branch does, the trunk ends: that fork is the
  **hilar confluence**. When the ducts of one side join below (into the cystic duct),
  the skeleton runs on from the common hepatic duct into the other side's duct without
  a fork: a branch leaving at the trunk's width that narrows is cut where its width
  falls halfway, and that point is the confluence;
* a branch leaving the trunk that ends at a wide pocket of fluid is the **cystic
  duct** (the pocket is the gallbladder), or, when none does, one whose end points at a
  pocket close by (the mask lost the duct's thin end); ducts joined to it across the pocket drain
  into it at its upper end; two sectoral ducts of one side entering the pocket's cut
  side by side join behind it, in one duct the cut hid (less sure);
* every other branch drains the liver. Each branch is given the Couinaud sector its
  tree points to, seen from the confluence (right anterior 5/8, right posterior 6/7,
  segments 2, 3 and 4). A branch whose forks all lead into one sector, or into
  branches all much thinner than the common hepatic duct, is one duct (its further
  forks are peripheral); a fork whose branches point to different sectors is a
  junction of named ducts. "Much thinner" is a share of the common hepatic duct, but
  no more than a little above the leaves (the twigs): segmental ducts 1.5 mm across
  beside a 6 mm common hepatic duct are ducts, not twigs;
* a duct's name comes from the sectors it drains: RAHD, RPHD, B2, B3, B4 for one
  sector; RHD for both right sectors; B23 for segments 2 and 3; LHD for all of the
  left liver. A second duct of a sector already named is an accessory duct, unless
  the side's other sector has no duct: then the one of the two pointing more towards
  it drains it (curved ducts point between the atlas's sectors);
* every liver drains each sector: when a side's sector has no duct while a duct of the
  side forks into ducts of duct calibre that all point into its own sector, that fork
  is the junction of the two sectors' ducts (named so with less confidence). Ducts
  measured under the twig calibre are taken too when no fork of duct calibre is found
  (with coarse pixels segmental ducts measure as thin as twigs), and a duct whose
  branches point each into its own sector or an empty one drains them by where they point;
* a junction of ducts whose own stretch is shorter than a skeleton can resolve (a right
  hepatic duct a millimetre long) is part of the junction below it: a trifurcation;
* a duct named for one side of the liver whose far end lies well across the confluence, on
  the other side, is a misreading however clearly it points: it is marked less sure; so is a
  junction of ducts left unnamed ("D1": no name fits its sectors, or its name went to
  another duct), and where its branches drain.

Lengths and junctions are measured along the centre-lines.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from .centreline import Branch, Tree, distance_along, distance_to_end, on_pocket_rims, path_length, split_branch

# Where each Couinaud segment's bile comes from, seen from the hilar confluence (LPS mm):
# the usual atlas of the liver (left lateral segments far left, 2 above 3; segment 4
# left of the hilum and anterior; 5 and 8 anterior on the right, 6 and 7 posterior; 5
# and 6 caudal, 7 and 8 cranial).
SEGMENT_DIRECTIONS: dict[int, tuple[float, float, float]] = {
    2: (65.0, 12.0, 45.0),
    3: (70.0, -12.0, 5.0),
    4: (28.0, -15.0, 28.0),
    5: (-45.0, -15.0, -15.0),
    6: (-75.0, 15.0, -25.0),
    7: (-80.0, 20.0, 30.0),
    8: (-45.0, -12.0, 50.0),
}
# Sectors: the territories a single duct usually drains, with the reserved name of that duct.
SECTORS: dict[str, tuple[int, ...]] = {"RAHD": (5, 8), "RPHD": (6, 7), "B2": (2,), "B3": (3,), "B4": (4,)}
RIGHT = frozenset({"RAHD", "RPHD"})
LEFT = frozenset({"B2", "B3", "B4"})
# A trunk branch goes on into a child at least this share of its width.
TRUNK_CHILD_WIDTH = 0.85
SHORT_TRUNK_CHILD_WIDTH = 0.75
SHORT_STRETCH_MM = 7.0
# The trunk's width is measured over this stretch below a fork (mm).
WIDTH_FROM_MM = 3.0
WIDTH_TO_MM = 15.0
# A subtree drains a side when a leaf lies this far (mm) to that side of the fork.
SIDE_MM = 12.0
# A tree pointing this clearly into one sector (cosine margin over the next sector) is one
# duct; the duct of two sectors points between them.
UNIT_MARGIN = 0.1
# A fork whose branches are all thinner than this share of the common hepatic duct's
# radius is peripheral (segmental twigs), not a junction of named ducts.
PERIPHERAL_SHARE = 0.46
# ... and than this share of the median leaf's (a twig's) radius, when there are this many leaves.
LEAF_SHARE = 1.6
MIN_LEAVES = 6
# Forks closer than this (mm) are one junction: a skeleton splits a three-way junction in two.
SNAP_MM = 3.0
# Branches leaving the trunk further than this below the confluence belong to the
# common bile duct (pancreatic duct, duodenum), not to the liver.
MAX_CHD_JUNCTION_MM = 45.0
# A cystic duct ends within this distance (mm) of a pocket of fluid.
POCKET_MM = 8.0
# Or its last stretch (this many mm), continued straight on, meets a pocket within
# POCKET_COURSE_MM: the mask lost the duct's thin end before the gallbladder.
END_COURSE_MM = 6.0
POCKET_COURSE_MM = 16.0
POCKET_HIT_MM = 2.0
# A duct named for a side's sector no other duct drains is this much less sure.
INFERRED_SHARE = 0.8
# Trees hanging from the trunk with less centre-line than this (mm) are noise.
MIN_DUCT_TREE_MM = 10.0
# A duct named for one side of the liver whose far end lies more than SIDE_MM across the
# confluence, on the other side, is read against the anatomy: it is this much less sure.
ACROSS_SHARE = 0.5
RIGHT_SIDE_NAMES = RIGHT | {"RHD"}
LEFT_SIDE_NAMES = LEFT | {"LHD", "B23", "B34", "B24"}
# A junction of ducts left unnamed ("D1", ...: no name fits its sectors, or a second duct of a
# name already given) is a misreading: it is this much less sure, and where its branches drain
# no surer than it.
UNNAMED_SHARE = 0.5


@dataclass(eq=False)  # nodes are told apart by identity: two may hold equal numbers
class Node:
    """A hepatic branch seen as part of a duct: its sector, territory, children."""

    branch: Branch
    sector: str
    margin: float
    unit: bool
    territory: frozenset[str]
    children: list[Node] = field(default_factory=list)
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    direction: np.ndarray = field(default_factory=lambda: np.zeros(3))
    # A unit whose fork has ducts of duct calibre pointing into its one sector: the
    # junction it would be, should the side's other sector have no duct of its own.
    parts: list[Node] = field(default_factory=list)
    # Parts all under the twig calibre: taken only where no unit has parts of duct calibre.
    thin_parts: bool = False
    # Named by the rule for a side's missing sector, not by where it points: less sure.
    inferred: bool = False


@dataclass
class Duct:
    key: int
    name: str
    drains_into: int | str  # a duct key, or "CHD"
    junction_mm: float
    points: np.ndarray  # from the junction upwards
    segments: list[int]
    confidence: float
    junction_confidence: float
    unit: bool
    tree_mm: float


@dataclass(frozen=True)
class Labelled:
    document: dict[str, Any]
    duct_confidence: dict[str, float]
    junction_confidence: dict[str, float]
    centrelines: dict[str, list[tuple[float, float, float]]]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    out: np.ndarray = vector / norm if norm > 0 else vector
    return out


SECTOR_VECTORS = {
    name: _unit(np.mean([SEGMENT_DIRECTIONS[s] for s in segments], axis=0)) for name, segments in SECTORS.items()
}


def label(tree: Tree, pockets: cKDTree | None, graft: str) -> Labelled:
    tree = copy.deepcopy(tree)  # the trunk may be cut at the confluence: the caller's tree stays as it was
    trunk = _trunk(tree, pockets)
    confluence = tree.branches[trunk[-1]].upper
    thin = _thin(tree, trunk)
    ducts: list[Duct] = []
    # Distance of each trunk fork below the confluence.
    below = 0.0
    forks: list[tuple[Branch, float]] = []
    for index in reversed(trunk):
        forks.append((tree.branches[index], below))
        below += tree.branches[index].length_mm
    on_trunk = set(trunk)
    cystic_found = False
    leaving_below = [
        child
        for branch, distance in forks
        if SNAP_MM <= distance <= MAX_CHD_JUNCTION_MM
        for child in branch.children
        if child not in on_trunk and _tree_mm(tree, child) >= MIN_DUCT_TREE_MM
    ]
    reaches_pocket = any(_cystic_path(tree, child, pockets, confluence) is not None for child in leaving_below)
    if not reaches_pocket:
        for child in leaving_below:
            if _part_at_neck(tree, child, pockets, confluence):  # parts the tree: one duct at most
                reaches_pocket = True
                break
    # A duct whose end only points at a pocket is the cystic duct when no duct below the
    # confluence reaches one (an accessory duct may point at the gallbladder's bed too).
    by_course = not reaches_pocket
    pending: list[tuple[Node, int | str, float]] = []
    for fork_branch, distance in forks:
        junction = distance if distance >= SNAP_MM else 0.0
        if distance > MAX_CHD_JUNCTION_MM:
            break
        for child_index in fork_branch.children:
            if child_index in on_trunk:
                continue
            if _tree_mm(tree, child_index) < MIN_DUCT_TREE_MM:
                continue
            # The cystic duct joins the common hepatic duct below the confluence, from the
            # gallbladder under the right liver.
            below_confluence = distance >= SNAP_MM and not cystic_found
            path = _cystic_path(tree, child_index, pockets, confluence, by_course) if below_confluence else None
            if path is not None:
                cystic_found = True
                pending += _emit_cystic(tree, path, junction, thin, ducts)
                continue
            pending += [
                (node, "CHD", junction) for node in _junction_parts(_node(tree, tree.branches[child_index], thin))
            ]
    roots = [node for node, _, _ in pending]
    _name_by_their_side(roots, confluence)
    _share_sectors(roots)
    _split_for_missing_sectors(roots)
    _pair_segment_4_with_segment_3(roots)
    for node, drains_into, junction in pending:
        _emit(node, drains_into, junction, ducts)
    trunk_points = np.vstack([tree.branches[i].points for i in trunk])[::-1]
    return _document(ducts, graft, trunk_points)


def _thin(tree: Tree, trunk: list[int]) -> float:
    """The radius under which a fork's branches are peripheral twigs: a share of the
    common hepatic duct's, but no more than a little above the twigs' own (the
    leaves'): where the segmental ducts are narrow beside the common hepatic duct
    (1.5 mm across beside 6 mm), the share alone would take them for twigs."""
    chd = PERIPHERAL_SHARE * _width_below(tree.branches[trunk[-1]])
    on_trunk = set(trunk)
    leaves = [_width(b.radii) for b in tree.branches.values() if not b.children and b.index not in on_trunk]
    if len(leaves) < MIN_LEAVES:
        return chd
    return min(chd, LEAF_SHARE * float(np.median(leaves)))


# ------------------------------------------------------------------ trunk


def _trunk(tree: Tree, pockets: cKDTree | None) -> list[int]:
    trunk = [tree.root]
    while True:
        branch = tree.branches[trunk[-1]]
        width = _width_below(branch)
        both_sides = [c for c in branch.children if _both_sides(tree, c, branch.upper)]
        onward = [c for c in both_sides if _trunk_width(tree, c) >= _share(tree.branches[c]) * width]
        if not onward and len(both_sides) == 1 and _along_rim(tree.branches[both_sides[0]], pockets):
            # Along a pocket's rim the cut thins the mask: the width cannot be read there, and
            # the one branch draining both sides is the trunk (the common bile duct beside the
            # duodenum).
            onward = both_sides
        if not onward:
            upper = _narrowing_trunk(tree, branch, width)
            if upper is not None:
                trunk.append(upper)
                return trunk
        if len(onward) != 1:
            return trunk
        trunk.append(onward[0])


# A branch with at least this share of its points on a pocket's rim runs along the pocket.
ALONG_RIM_SHARE = 0.8


def _along_rim(branch: Branch, pockets: cKDTree | None) -> bool:
    return bool(pockets is not None and np.mean(on_pocket_rims(branch.points, pockets)) >= ALONG_RIM_SHARE)


# A short stretch of the trunk may look narrow (a pocket's cut, a kink): its width is
# then also read on the branch draining both sides beyond it.
NARROW_STRETCH_MM = 20.0


def _trunk_width(tree: Tree, index: int) -> float:
    branch = tree.branches[index]
    width = _width(branch.radii)
    if branch.length_mm >= NARROW_STRETCH_MM:
        return width
    beyond = [_width(tree.branches[c].radii) for c in branch.children if _both_sides(tree, c, branch.upper)]
    return max([width, *beyond])


# A branch leaving the trunk at its width that narrows to this share of it is the trunk's
# upper stretch running on into a one-sided duct (the other side drains elsewhere).
NARROWED_SHARE = 0.8
# The calibres compared are medians over this stretch (mm) at each end of the branch,
# clear of the forks by WIDTH_FROM_MM.
CALIBRE_STRETCH_MM = 8.0


def _narrowing_trunk(tree: Tree, branch: Branch, width: float) -> int | None:
    """Where no branch drains both sides, a branch as wide as the trunk where it leaves
    the fork and narrowing upwards holds the rest of the common hepatic duct: the ducts of
    the other side joined below (a right hepatic duct into the cystic duct), so the
    skeleton runs on from the common hepatic duct into the duct of the side left, with no
    fork at the confluence. The branch is cut where its width falls halfway, the
    confluence; returns the index of the lower part, now on the trunk."""
    for child_index in branch.children:
        child = tree.branches[child_index]
        along = distance_along(child.points)
        total = float(along[-1])
        if total < 2 * (WIDTH_FROM_MM + CALIBRE_STRETCH_MM):
            continue
        lower_part = (along >= WIDTH_FROM_MM) & (along <= WIDTH_FROM_MM + CALIBRE_STRETCH_MM)
        upper_part = (along <= total - WIDTH_FROM_MM) & (along >= total - WIDTH_FROM_MM - CALIBRE_STRETCH_MM)
        if not lower_part.any() or not upper_part.any():
            continue
        lower, upper = _width(child.radii[lower_part]), _width(child.radii[upper_part])
        if lower < TRUNK_CHILD_WIDTH * width or upper > NARROWED_SHARE * lower:
            continue
        halfway = 0.5 * (lower + upper)
        start = int(np.nonzero(lower_part)[0].max())
        below = np.nonzero(child.radii[start:] < halfway)[0]
        if not len(below):
            continue
        cut = start + int(below[0])
        if cut < 1 or cut >= len(child.points) - 2:
            continue
        split_branch(tree, child, cut)
        return child.index
    return None


def _share(child: Branch) -> float:
    """The width share a trunk child needs: less for a stretch shorter than the calibre
    ball, whose measurement the forks at both ends disturb."""
    return SHORT_TRUNK_CHILD_WIDTH if child.length_mm < SHORT_STRETCH_MM else TRUNK_CHILD_WIDTH


def _width_below(branch: Branch) -> float:
    """Median radius of a branch's last stretch before its upper fork (the fork itself bulges)."""
    from_top = distance_to_end(branch.points)
    near = branch.radii[(from_top >= WIDTH_FROM_MM) & (from_top <= WIDTH_TO_MM)]
    return _width(near if len(near) >= 3 else branch.radii)


def _width(radii: np.ndarray) -> float:
    return float(np.median(radii)) if len(radii) else 0.0


def _leaves(tree: Tree, index: int) -> list[Branch]:
    return [tree.branches[i] for i in tree.subtree(index) if not tree.branches[i].children]


def _both_sides(tree: Tree, index: int, fork: np.ndarray) -> bool:
    x = np.array([leaf.upper[0] for leaf in _leaves(tree, index)])
    return bool(np.any(x > fork[0] + SIDE_MM) and np.any(x < fork[0] - SIDE_MM))


def _tree_mm(tree: Tree, index: int) -> float:
    return sum(tree.branches[i].length_mm for i in tree.subtree(index))


# ------------------------------------------------------------------ cystic duct


def _cystic_path(
    tree: Tree, index: int, pockets: cKDTree | None, confluence: np.ndarray, by_course: bool = False
) -> list[Branch] | None:
    """Branches from the trunk to a leaf ending at a pocket of fluid under the right liver, if any;
    ``by_course``, also a leaf whose last stretch, continued straight on, meets a pocket.

    A branch whose only onward branches cross the pocket ends there too: the ducts
    beyond join the cystic duct at the gallbladder's neck."""
    if pockets is None:
        return None
    best: tuple[float, Branch] | None = None
    ends = [
        tree.branches[i]
        for i in tree.subtree(index)
        if all(tree.branches[c].across_pocket for c in tree.branches[i].children)
    ]
    for leaf in ends:
        if leaf.upper[2] > confluence[2] or leaf.upper[0] > confluence[0] + SIDE_MM:
            continue
        distance, _ = pockets.query(leaf.upper)
        if distance > POCKET_MM:
            distance = _pocket_on_course(leaf, pockets) if by_course else float("inf")
        if np.isfinite(distance) and (best is None or distance < best[0]):
            best = (float(distance), leaf)
    if best is None:
        return None
    path = [best[1]]
    while path[-1].index != index and path[-1].parent is not None:
        path.append(tree.branches[path[-1].parent])
    return path[::-1]


# A duct passing this close (mm) to a pocket, at least NECK_FROM_ENDS_MM from both its ends,
# passes the gallbladder's neck and runs on.
NECK_PASS_MM = 3.0
NECK_FROM_ENDS_MM = 3.0


def _part_at_neck(tree: Tree, index: int, pockets: cKDTree | None, confluence: np.ndarray) -> bool:
    """Whether the duct leaving the trunk at ``index`` (below the confluence, reaching no pocket
    at any end) passes a pocket's neck under the right liver and runs on: then it is parted there,
    and the part beyond marked as joined across the pocket.

    It is the cystic duct up to the neck and a duct draining into it beyond (a right posterior
    duct draining into the cystic duct), where the mask kept no stub of the gallbladder's neck for
    the skeleton to fork at: read whole, the duct is measured from the cystic duct's junction, 25 mm
    too long."""
    if pockets is None:
        return False
    branch = tree.branches[index]
    distances = pockets.query(branch.points)[0]
    at = int(np.argmin(distances))
    along = distance_along(branch.points)
    neck = branch.points[at]
    if distances[at] > NECK_PASS_MM or along[at] < NECK_FROM_ENDS_MM or along[-1] - along[at] < NECK_FROM_ENDS_MM:
        return False
    if neck[2] > confluence[2] or neck[0] > confluence[0] + SIDE_MM:
        return False
    split_branch(tree, branch, at).across_pocket = True
    return True


def _pocket_on_course(leaf: Branch, pockets: cKDTree) -> float:
    """How far (mm) the leaf's last stretch, continued straight on, runs before it meets a
    pocket (within POCKET_HIT_MM); infinite when it meets none within POCKET_COURSE_MM."""
    points = leaf.points
    from_end = distance_to_end(points)
    back = points[from_end <= END_COURSE_MM]
    if len(back) < 2:
        return float("inf")
    direction = _unit(back[-1] - back[0])
    reach = np.arange(1.0, POCKET_COURSE_MM + 1.0)
    distances, _ = pockets.query(leaf.upper + reach[:, None] * direction)
    hits = np.nonzero(distances <= POCKET_HIT_MM)[0]
    return float(reach[hits[0]]) if len(hits) else float("inf")


def _emit_cystic(
    tree: Tree, path: list[Branch], junction: float, thin: float, ducts: list[Duct]
) -> list[tuple[Node, int | str, float]]:
    """The cystic duct, emitted; returns the ducts draining into it, to be emitted."""
    points = np.vstack([b.points for b in path])
    length = path_length(points)
    key = len(ducts)
    confidence = _path_confidence(path)
    ducts.append(Duct(key, "CYSTIC", "CHD", junction, points, [], confidence, confidence, False, length))
    from_lower = 0.0
    on_path = {b.index for b in path}
    pending: list[tuple[Node, int | str, float]] = []
    for branch in path:
        from_lower += branch.length_mm
        for child in branch.children:
            if child in on_path or _tree_mm(tree, child) < MIN_DUCT_TREE_MM:
                continue
            for node in _junction_parts(_node(tree, tree.branches[child], thin)):
                pending.append((node, key, max(length - from_lower, 0.0)))
    return _hidden_junctions(pending)


# Ducts of one side entering a pocket's cut this close together (mm) join behind it.
HIDDEN_FORK_MM = 12.0


def _hidden_junctions(pending: list[tuple[Node, int | str, float]]) -> list[tuple[Node, int | str, float]]:
    """Sectoral ducts of one side that were joined to the cystic duct across the
    gallbladder's neck side by side, each on its own, join each other behind the neck:
    the pocket's cut took their junction (a right hepatic duct draining into the cystic
    duct at the neck). So do two read as pointing into one sector: the sectors part mostly
    from front to back, where a coronal slab resolves direction least, and the sharing of
    sectors names them apart afterwards. They become the branches of one duct, from the
    neck to the middle of where they enter; it was not seen, so it is less sure."""
    out = list(pending)
    for side in (RIGHT, LEFT):
        members = [
            (node, into, at)
            for node, into, at in out
            if node.unit and node.branch.across_pocket and node.sector in side
        ]
        entries = [node.branch.points[1] for node, _, _ in members if len(node.branch.points) > 1]
        if len(members) < 2 or len(entries) != len(members):
            continue
        spread = max(float(np.linalg.norm(a - b)) for a in entries for b in entries)
        if spread > HIDDEN_FORK_MM:
            continue
        neck = members[0][0].branch.points[0]
        centre = np.mean(entries, axis=0)
        nodes = [node for node, _, _ in members]
        for node in nodes:
            node.branch.points = np.vstack([centre, node.branch.points[1:]])
            node.inferred = True
        points = np.vstack([neck, centre])
        radius = float(np.median([node.branch.radii[1] for node in nodes]))
        hidden = Branch(-1, points, np.full(2, radius, dtype=np.float32), np.ones(2), None, bridged=True)
        territory = frozenset().union(*(node.territory for node in nodes))
        junction = Node(
            hidden, nodes[0].sector, 0.0, False, territory, nodes, direction=_unit(centre - neck), inferred=True
        )
        out = [entry for entry in out if entry[0] not in nodes] + [(junction, members[0][1], members[0][2])]
    return out


# ------------------------------------------------------------------ sectors


def _node(tree: Tree, branch: Branch, thin: float) -> Node:
    """The branch as one duct (a unit) or a junction of ducts.

    A fork whose branches are all thin (under ``thin`` mm radius) is peripheral: the
    branch is one duct, whichever way its twigs spread. A fork with a thin branch
    beside a duct is a junction only when the tree does not point clearly into one
    sector. A fork of ducts is a junction when they drain different sectors."""
    points = np.vstack([tree.branches[i].course for i in tree.subtree(branch.index)])
    direction = _unit(points.mean(axis=0) - branch.course[0])
    sector, margin = _sector(direction)
    widths = [_width(tree.branches[c].radii) for c in branch.children]
    # The fork read as a junction, should the side lack a sector: only of branches at
    # least as wide as a twig-tip's median (a duct that runs on into twigs). Thin ones
    # too: with coarse pixels segmental ducts measure as thin as twigs.
    could_part = len(widths) >= 2 and min(widths) >= thin / LEAF_SHARE
    if not widths or max(widths) < thin:
        parts = [_node(tree, tree.branches[c], thin) for c in branch.children] if could_part else []
        return Node(
            branch, sector, margin, True, frozenset({sector}), direction=direction, parts=parts, thin_parts=True
        )
    if margin >= UNIT_MARGIN and min(widths) < thin:
        parts = [_node(tree, tree.branches[c], thin) for c in branch.children] if could_part else []
        return Node(branch, sector, margin, True, frozenset({sector}), direction=direction, parts=parts)
    children = [_node(tree, tree.branches[c], thin) for c in branch.children]
    if len({c.sector for c in children}) == 1 and all(c.unit for c in children):
        parts = children if could_part else []
        return Node(branch, sector, margin, True, frozenset({sector}), direction=direction, parts=parts)
    flat: list[Node] = []
    for child in children:  # a short stretch between two forks is one junction
        if not child.unit and child.branch.length_mm < SNAP_MM:
            flat.extend(child.children)
        else:
            flat.append(child)
    territory = frozenset().union(*(c.territory for c in flat))
    return Node(branch, sector, margin, False, territory, flat, direction=direction)


def _junction_parts(node: Node) -> list[Node]:
    """The ducts that leave a junction through ``node``: a junction of ducts whose own
    stretch is shorter than SNAP_MM is part of the junction below it (a right hepatic
    duct a millimetre long is a trifurcation: no image resolves the difference)."""
    if node.unit or node.branch.length_mm >= SNAP_MM:
        return [node]
    return [part for child in node.children for part in _junction_parts(child)]


def _split_for_missing_sectors(nodes: list[Node]) -> None:
    """Every liver drains each sector. When a side has a sector no duct drains while one
    of its ducts forks into ducts of duct calibre that all point into the sector it
    drains, that fork is the junction of the two sectors' ducts: the branch pointing more
    towards the empty sector drains it. The curved sectoral ducts of one side part mostly
    from front to back, where a coronal slab resolves direction least.

    A unit whose parts point each into a sector of their own, its own and empty ones, is
    split first, each part draining the sector it points into: naming one empty sector at
    a time would give it to whichever part points most towards it, the wrong one when two
    of the side's sectors are empty."""
    for side in (RIGHT, LEFT):
        while True:
            empty_sectors = side - _drained(nodes)
            natural = [
                n
                for n in _units(nodes, side, own_side_only=True)
                if len(n.parts) >= 2 and _parts_point_apart(n, side, empty_sectors)
            ]
            if not natural:
                break
            _split_by_own_sectors(max(natural, key=lambda n: _split_preference(n, empty_sectors)), side)
            for node in nodes:
                _retally(node)
        for empty in sorted(side - _drained(nodes)):
            candidates = [n for n in _units(nodes, side, own_side_only=True) if n.sector != empty and len(n.parts) >= 2]
            if candidates:
                _split_unit(max(candidates, key=lambda n: _split_preference(n, frozenset({empty}))), empty)
    for node in nodes:
        _retally(node)


def _pair_segment_4_with_segment_3(nodes: list[Node]) -> None:
    """Segment 4 lies beside segment 3, both in front on either side of the umbilical
    fissure, and segment 2 behind and above them: a segment 4 duct shares a trunk with the
    segment 3 duct (B34), seldom with the segment 2 duct alone. Where the ducts read
    as segment 2 and 4 share a trunk while segment 3's runs apart, and neither lateral
    duct points clearly into its sector (the two differ mostly from front to back, where
    a coronal slab is thinnest), the lateral ducts' names are swapped, marked less sure."""
    lateral = [u for u in _units(nodes, LEFT, own_side_only=True) if u.sector == "B3"]
    if len(lateral) != 1:
        return
    segment_3 = lateral[0]
    for junction in _junctions(nodes):
        pair = junction.children
        if len(pair) != 2 or not all(c.unit for c in pair) or {c.sector for c in pair} != {"B2", "B4"}:
            continue
        segment_2 = next(c for c in pair if c.sector == "B2")
        if max(segment_2.margin, segment_3.margin) >= UNIT_MARGIN:
            continue
        _name_less_sure(segment_2, "B3")
        _name_less_sure(segment_3, "B2")
        for node in nodes:
            _retally(node)
        return


def _junctions(nodes: list[Node]) -> list[Node]:
    """Every junction of ducts at or under the nodes."""
    out: list[Node] = []
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if not node.unit:
            out.append(node)
            stack.extend(node.children)
    return out


def _parts_point_apart(node: Node, side: frozenset[str], empty_sectors: frozenset[str]) -> bool:
    """Whether the unit's parts are single-sector ducts pointing into different sectors of
    the side, its own and at least one the side has no duct for."""
    sectors = [_side_sector(p.direction, side) for p in node.parts]
    return (
        all(p.unit for p in node.parts)
        and len(set(sectors)) == len(sectors)
        and set(sectors) <= empty_sectors | {node.sector}
        and bool(set(sectors) & empty_sectors)
    )


def _split_preference(node: Node, empty_sectors: frozenset[str]) -> tuple[bool, float]:
    """Parts of duct calibre before parts under the twig calibre, then the widest spread
    towards an empty sector."""
    return (not node.thin_parts, max(_spread_towards(node, empty) for empty in empty_sectors))


def _side_sector(direction: np.ndarray, side: frozenset[str]) -> str:
    """The side's sector a duct of that side points into most (a segment 4 duct curving
    towards the midline can point more into the right liver than into segment 4)."""
    return max(sorted(side), key=lambda name: float(direction @ SECTOR_VECTORS[name]))


def _split_by_own_sectors(node: Node, side: frozenset[str]) -> None:
    """The unit becomes the junction of its parts, each draining the side's sector it points into."""
    for part in node.parts:
        _name_less_sure(part, _side_sector(part.direction, side))
    _make_junction_of_parts(node)


def _name_less_sure(unit: Node, sector: str) -> None:
    """The single-sector duct drains ``sector``, named by a rule rather than by where it points."""
    unit.sector = sector
    unit.territory = frozenset({sector})
    unit.inferred = True


def _make_junction_of_parts(node: Node) -> None:
    node.unit = False
    node.children = list(node.parts)
    node.parts = []
    node.territory = frozenset().union(*(p.territory for p in node.children))


def _towards(part: Node, empty: str, own: str) -> float:
    """How much more a part points into the empty sector than into its own."""
    return float(part.direction @ SECTOR_VECTORS[empty]) - float(part.direction @ SECTOR_VECTORS[own])


def _spread_towards(node: Node, empty: str) -> float:
    scores = [_towards(p, empty, node.sector) for p in node.parts]
    return max(scores) - min(scores)


def _split_unit(node: Node, empty: str) -> None:
    """The unit becomes the junction of its parts; the part pointing most towards the
    empty sector drains it, the others keep the unit's sector."""
    moved = max(node.parts, key=lambda p: _towards(p, empty, node.sector))
    for part in node.parts:
        if part.unit:
            _name_less_sure(part, empty if part is moved else node.sector)
        part.inferred = True
    _make_junction_of_parts(node)


def _units(nodes: list[Node], side: frozenset[str], own_side_only: bool = False) -> list[Node]:
    """The single-sector ducts of one side; with ``own_side_only``, only those draining
    into the side's own ducts (or the common ducts), not into the other side's."""
    out: list[Node] = []
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if node.unit:
            if node.sector in side:
                out.append(node)
        elif not own_side_only or node.territory <= side:
            stack.extend(node.children)
    return out


def _drained(nodes: list[Node]) -> frozenset[str]:
    return frozenset().union(*(n.territory for n in nodes)) if nodes else frozenset()


def _sector(direction: np.ndarray) -> tuple[str, float]:
    unit = _unit(direction)
    scores = sorted(((float(unit @ v), name) for name, v in SECTOR_VECTORS.items()), reverse=True)
    return scores[0][1], scores[0][0] - scores[1][0]


def _name_by_their_side(nodes: list[Node], confluence: np.ndarray) -> None:
    """Two single-sector ducts read for one sector, one on its side of the liver and one
    whose far end lies more than SIDE_MM across the confluence: the one across drains the
    sector of the side it lies in that it points into most (a segment 4 twig pointing
    forwards and up is no second right anterior duct). Named by a rule, so less sure. A duct
    across with no namesake on its own side keeps its name, marked uncertain (``_document``)."""
    for side, other in ((RIGHT, LEFT), (LEFT, RIGHT)):
        units = _units(nodes, side)
        across = [u for u in units if _lies_across(u.branch.points[-1], confluence, right_side=side is RIGHT)]
        at_home = {u.sector for u in units if u not in across}
        for unit in across:
            if unit.sector in at_home:
                _name_less_sure(unit, _side_sector(unit.direction, other))
    for node in nodes:
        _retally(node)


def _share_sectors(nodes: list[Node]) -> None:
    """Two single-sector ducts of one side pointing into the same sector while the side's
    other sector has none: the one that points more towards the empty sector drains it.
    Curved ducts point between the atlas's sectors, and the anterior and posterior
    ducts differ mostly from front to back, where a coronal slab is thinnest."""
    for side in (RIGHT, LEFT):
        units = _units(nodes, side)
        for empty in sorted(side - {n.sector for n in units}):
            crowded = [n for n in units if sum(o.sector == n.sector for o in units) >= 2]
            if not crowded:
                break
            moved = max(crowded, key=lambda n: _towards(n, empty, n.sector))
            _name_less_sure(moved, empty)
    for node in nodes:
        _retally(node)


def _retally(node: Node) -> frozenset[str]:
    """A junction's territory, from its ducts' (after some were renamed)."""
    if not node.unit:
        node.territory = frozenset().union(*(_retally(c) for c in node.children))
    return node.territory


def trunk_name(territory: frozenset[str]) -> str:
    if territory == RIGHT:
        return "RHD"
    if territory >= LEFT:
        return "LHD"
    if territory == {"B2", "B3"}:
        return "B23"
    if territory == {"B3", "B4"}:
        return "B34"
    if territory == {"B2", "B4"}:
        return "B24"
    return "D"


def _emit(node: Node, drains_into: int | str, junction: float, ducts: list[Duct]) -> None:
    """One duct from ``node`` upwards, then its tributaries."""
    key = len(ducts)
    chain = [node]
    tributaries: list[tuple[Node, float]] = []
    name = node.sector if node.unit else trunk_name(node.territory)
    current = node
    travelled = node.branch.length_mm
    while not current.unit:
        onward = [c for c in current.children if not c.unit and trunk_name(c.territory) == name]
        if len(onward) != 1:
            tributaries += [(c, travelled) for c in current.children]
            break
        tributaries += [(c, travelled) for c in current.children if c is not onward[0]]
        current = onward[0]
        chain.append(current)
        travelled += current.branch.length_mm
    points = np.vstack([n.branch.points for n in chain])
    length = path_length(points)
    confidence = _path_confidence([n.branch for n in chain]) * _naming_share(node)
    segments = list(SECTORS[name]) if node.unit else []
    tree_mm = sum(path_length(n.branch.points) for n in chain)
    ducts.append(
        Duct(
            key,
            name,
            drains_into,
            junction,
            points,
            segments,
            confidence,
            confidence,
            node.unit,
            tree_mm,
        )
    )
    for child, at in tributaries:
        upstream = length - at
        _emit(child, key, upstream if upstream >= SNAP_MM else 0.0, ducts)


def _naming_share(node: Node) -> float:
    """How surely the duct is named. A single-sector duct, by how clearly it points into its
    sector. A junction of ducts is named for the sectors it drains, not for where it points
    (a left hepatic duct points between segments 2, 3 and 4), so by its least sure branch.
    Either is less sure when named by the rule for a missing sector or joined behind a pocket."""
    if node.unit:
        share = float(np.clip(0.5 + node.margin, 0.3, 1.0))
    else:
        share = min((_naming_share(child) for child in node.children), default=0.5)
    return share * INFERRED_SHARE if node.inferred else share


def _path_confidence(branches: list[Branch]) -> float:
    """Lower for a duct crossing a bridged gap or barely tubular over much of its course."""
    tubular = np.concatenate([b.tubular for b in branches])
    share = float(np.mean(tubular > 0.05)) if len(tubular) else 0.0
    bridged = any(b.bridged for b in branches)
    return float(np.clip(share, 0.0, 1.0)) * (0.6 if bridged else 1.0)


# ------------------------------------------------------------------ document


def _document(ducts: list[Duct], graft: str, trunk_points: np.ndarray) -> Labelled:
    names = _final_names(ducts)
    by_key = {d.key: d for d in ducts}
    out: list[dict[str, Any]] = []
    duct_confidence: dict[str, float] = {}
    junction_confidence: dict[str, float] = {}
    centrelines: dict[str, list[tuple[float, float, float]]] = {"CHD": _as_points(trunk_points)}
    confluence = trunk_points[0]
    for duct in ducts:
        name = names[duct.key]
        if _across_the_confluence(duct, confluence):
            duct.confidence *= ACROSS_SHARE
        if _is_unnamed(name):
            duct.confidence *= UNNAMED_SHARE
        entry: dict[str, Any] = {
            "id": name,
            "drains_into": duct.drains_into if isinstance(duct.drains_into, str) else names[duct.drains_into],
        }
        if duct.segments:
            entry["segments"] = _segments_of(duct, by_key, names)
        entry["length_mm"] = round(path_length(duct.points), 1)
        if duct.junction_mm > 0:
            entry["junction_mm"] = round(duct.junction_mm, 1)
        if name == "CYSTIC":
            entry.pop("segments", None)
        out.append(entry)
        duct_confidence[name] = round(duct.confidence, 2)
        junction_confidence[name] = round(duct.junction_confidence, 2)
        centrelines[name] = _as_points(duct.points[::-1])
    for entry in out:
        if _is_unnamed(entry["drains_into"]):
            junction_confidence[entry["id"]] = min(
                junction_confidence[entry["id"]], duct_confidence[entry["drains_into"]]
            )
    # A junction cannot lie beyond the receiving duct's measured end.
    lengths = {e["id"]: e["length_mm"] for e in out}
    for entry in out:
        receiving = lengths.get(entry["drains_into"])
        if receiving is not None and entry.get("junction_mm", 0) > receiving:
            entry["junction_mm"] = receiving
    document = {"format": "biliary-anatomy/1", "graft": graft, "ducts": out}
    return Labelled(document, duct_confidence, junction_confidence, centrelines)


def _is_unnamed(name: str) -> bool:
    """Whether a duct id is a numbered junction of ducts (``_final_names``): no name fits its
    sectors, or its name was already given to another duct."""
    return name.startswith("D") and name[1:].isdigit()


def _across_the_confluence(duct: Duct, confluence: np.ndarray) -> bool:
    """Whether the duct's far end lies on the other side of the confluence from the liver
    its name says it drains (+x is the patient's left): a right posterior duct read wholly
    in the left liver is a misreading, however clearly its branches point right."""
    if duct.name in RIGHT_SIDE_NAMES:
        return _lies_across(duct.points[-1], confluence, right_side=True)
    if duct.name in LEFT_SIDE_NAMES:
        return _lies_across(duct.points[-1], confluence, right_side=False)
    return False


def _lies_across(far_end: np.ndarray, confluence: np.ndarray, *, right_side: bool) -> bool:
    """Whether a far end lies more than SIDE_MM across the confluence from the right
    (``right_side``) or the left liver (+x is the patient's left)."""
    across = float(far_end[0] - confluence[0])
    return across > SIDE_MM if right_side else across < -SIDE_MM


def _final_names(ducts: list[Duct]) -> dict[int, str]:
    """Reserved names to the main duct of each kind; the others become accessory or numbered ducts."""
    names: dict[int, str] = {}
    taken: set[str] = set()
    extra = {"unit": 0, "trunk": 0}

    def rank(duct: Duct) -> tuple[int, float]:
        return (0 if duct.drains_into != "CHD" or duct.name in ("RHD", "LHD") else 1, -duct.tree_mm)

    for duct in sorted(ducts, key=rank):
        wanted = duct.name
        if wanted != "D" and wanted not in taken:
            names[duct.key] = wanted
            taken.add(wanted)
            continue
        kind = "unit" if duct.unit else "trunk"
        extra[kind] += 1
        names[duct.key] = f"ACC{extra[kind]}" if duct.unit else f"D{extra[kind]}"
    return names


def _segments_of(duct: Duct, by_key: dict[int, Duct], names: dict[int, str]) -> list[int]:
    if names[duct.key] == duct.name or len(duct.segments) == 1:
        return list(duct.segments)
    # An accessory duct drains the one segment of its sector it points to.
    direction = _unit(duct.points[-1] - duct.points[0])
    return [max(duct.segments, key=lambda s: float(direction @ _unit(np.array(SEGMENT_DIRECTIONS[s]))))]


def _as_points(points: np.ndarray) -> list[tuple[float, float, float]]:
    return [(round(float(p[0]), 2), round(float(p[1]), 2), round(float(p[2]), 2)) for p in points]
