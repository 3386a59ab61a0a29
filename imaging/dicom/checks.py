"""Judgements about an accepted instance: is it MRCP, and what should people know.

These never reject a file. A CT or a 2D localiser uploaded with the study is kept
(the record should show what arrived) but is not used as the MRCP.
"""

from __future__ import annotations

from .header import InstanceHeader

# Words in a series description or protocol name that say "MRCP", and how to quote them.
MRCP_WORDS = {"mrcp": "MRCP", "cholangio": "cholangiography"}
LONG_ECHO_MS = 400.0


def warnings(header: InstanceHeader) -> list[str]:
    """Plain-language notes about a header that was accepted."""
    notes = []
    if header.modality != "MR":
        notes.append(f"modality {header.modality or 'missing'} is not MR: kept, never used as MRCP")
    if header.pixel_spacing_refused:
        notes.append(f"{header.pixel_spacing_refused}: ignored, distances cannot be measured on this image")
    elif header.pixel_spacing is None:
        notes.append("no pixel spacing: distances cannot be measured on this image")
    if header.frame_geometry_refused:
        notes.append(f"multi-frame image: {header.frame_geometry_refused}; its frames cannot be placed in 3D")
    elif header.image_position is None or header.image_orientation is None:
        notes.append("no image position/orientation: the slice cannot be placed in 3D")
    if header.lossy:
        notes.append(f"lossy compression ({header.transfer_syntax_name}): fine ducts may be blurred")
    if header.number_of_frames > 1 and not header.frame_planes and header.image_position is not None:
        notes.append(
            f"multi-frame image ({header.number_of_frames} frames) without a position for each frame: "
            "its frames cannot be placed in 3D"
        )
    return notes


def looks_like_mrcp(header: InstanceHeader) -> tuple[bool, list[str]]:
    """Whether the series is an MRCP, with the reasons for the verdict.

    MR is required. The series is MRCP if its description or protocol names it, or,
    failing that, if it is a heavily T2-weighted (echo time >= 400 ms) 3D acquisition,
    which is what an MRCP is even when a scanner names it oddly.
    """
    reasons: list[str] = []
    if header.modality != "MR":
        return False, [f"modality {header.modality or 'missing'} is not MR"]
    named = False
    for label, text in (
        ("series description", header.series_description),
        ("protocol", header.protocol_name),
    ):
        word = next((w for w in MRCP_WORDS if w in text.lower()), None)
        if word:
            named = True
            reasons.append(f"{label} {text!r} mentions {MRCP_WORDS[word]}")
    echo = header.echo_time
    long_echo = echo is not None and echo >= LONG_ECHO_MS
    if echo is None:
        reasons.append("no echo time")
    elif long_echo:
        reasons.append(f"echo time {echo:g} ms is long (>= {LONG_ECHO_MS:g} ms): heavily T2-weighted")
    else:
        reasons.append(f"echo time {echo:g} ms is short for MRCP (< {LONG_ECHO_MS:g} ms)")
    is_3d = header.mr_acquisition_type == "3D"
    reasons.append("3D acquisition" if is_3d else f"{header.mr_acquisition_type or 'unknown'} acquisition, not 3D")
    return named or (long_echo and is_3d), reasons
