"""The imaging core: reading, checking, projecting and measuring MRCP series.

Pure Python (pydicom, numpy, Pillow); no Django here, so the web app, the workers and
the tests all use the same code. Modules:

* ``reader``   strict DICOM reading (files, bytes, uploads) and truncation checks
* ``header``   the header record and the checks every file must pass
* ``functional`` a multi-frame (Enhanced MR) image's functional groups: each frame's plane and rescale
* ``pixels``   decoding to float32 in modality units
* ``checks``   warnings about accepted files and MRCP recognition
* ``archive``  safe reading of uploaded zip files
* ``geometry`` / ``measure``  image planes, patient coordinates, distances
* ``volume``   slice ordering and the (incremental) coronal MIP
* ``render``   window/level, PNG and thumbnails
* ``phantom``  a synthetic MRCP series drawn from a biliary-anatomy document
"""

from .archive import ArchiveRejected, Member, Rejection, iter_zip_members
from .checks import looks_like_mrcp, warnings
from .geometry import Geometry, MissingGeometry
from .measure import (
    distance_mm,
    mip_point_to_patient,
    nearest_pixel,
    patient_to_pixel,
    pixel_to_patient,
)
from .phantom import PhantomSeries, generate_series, write_zip
from .reader import DicomRejected, InstanceHeader, load_pixels, read_header, read_instance
from .render import auto_window, square_pixels, thumbnail, to_png, window
from .volume import (
    IncrementalMip,
    Mip,
    coronal_axis,
    coronal_mip,
    maximum_intensity_projection,
    slice_spacing,
    sort_slices,
    stack,
)

__all__ = [
    "ArchiveRejected",
    "DicomRejected",
    "Geometry",
    "IncrementalMip",
    "InstanceHeader",
    "Member",
    "Mip",
    "MissingGeometry",
    "PhantomSeries",
    "Rejection",
    "auto_window",
    "coronal_axis",
    "coronal_mip",
    "distance_mm",
    "generate_series",
    "iter_zip_members",
    "load_pixels",
    "looks_like_mrcp",
    "maximum_intensity_projection",
    "mip_point_to_patient",
    "nearest_pixel",
    "patient_to_pixel",
    "pixel_to_patient",
    "read_header",
    "read_instance",
    "slice_spacing",
    "sort_slices",
    "square_pixels",
    "stack",
    "thumbnail",
    "to_png",
    "warnings",
    "window",
    "write_zip",
]
