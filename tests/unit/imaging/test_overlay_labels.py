"""The proposed ducts' labels on a small MIP: placed along their ducts so that none covers another."""

from __future__ import annotations

from itertools import combinations

from imaging.overlay_labels import LabelRequest, boxes_overlap, place_labels

# A right-lobe tree on a 100 mm picture: five short ducts meet the CHD at the hilum (50, 40).
HILUM = (50.0, 40.0)
TREE = [
    LabelRequest("CHD", "CHD 22.0 mm", [HILUM, (50.0, 52.0), (50.0, 62.0)]),
    LabelRequest("RHD", "RHD 7.2 mm", [HILUM, (44.0, 37.0)]),
    LabelRequest("LHD", "LHD 9.1 mm", [HILUM, (58.0, 36.0)]),
    LabelRequest("RAHD", "RAHD 6.0 mm (uncertain)", [(44.0, 37.0), (39.0, 31.0)]),
    LabelRequest("RPHD", "RPHD 6.5 mm", [(44.0, 37.0), (38.0, 40.0)]),
    LabelRequest("B4", "B4 5.0 mm (uncertain)", [(58.0, 36.0), (60.0, 31.0)]),
]
FONT = 100 / 60  # as on the anatomy page: a sixtieth of the picture


def test_labels_at_the_hilum_cover_no_other_label_and_stay_on_the_picture():
    placed = place_labels(TREE, width=100, height=100, font=FONT, centre_x=HILUM[0])
    assert set(placed) == {request.id for request in TREE}
    for a, b in combinations(placed.values(), 2):
        assert not boxes_overlap(a.box, b.box), (a, b)
    for spot in placed.values():
        left, top, right, bottom = spot.box
        assert left >= 0 and right <= 100 and top >= 0 and bottom <= 100


def test_half_way_along_each_duct_the_same_labels_would_collide():
    """What the placement is for: each label alone at the middle of its duct covers another."""
    alone = {
        request.id: place_labels([request], width=100, height=100, font=FONT, centre_x=HILUM[0])[request.id]
        for request in TREE
    }
    assert any(boxes_overlap(a.box, b.box) for a, b in combinations(alone.values(), 2))


def test_a_label_goes_away_from_the_common_duct_when_it_has_room():
    placed = place_labels(TREE, width=100, height=100, font=FONT, centre_x=HILUM[0])
    assert placed["RPHD"].anchor == "end" and placed["RPHD"].box[2] <= HILUM[0]
    assert placed["LHD"].anchor == "start" and placed["LHD"].box[0] >= HILUM[0]


def test_a_label_too_long_for_the_picture_is_kept_on_it_where_it_can_be():
    long = LabelRequest("RHD", "RHD 7.2 mm (uncertain)", [(5.0, 50.0), (10.0, 50.0)])
    spot = place_labels([long], width=100, height=100, font=FONT, centre_x=50.0)["RHD"]
    assert spot.anchor == "start" and spot.box[0] >= 0  # turned to the right, not off the left edge
