"""A synthetic MRCP series drawn from a `biliary-anatomy/1` document.

Why: demos, tests and benchmarks need realistic uploads without patient data, and
the ground truth (where each duct begins and ends) lets tests check measurements
against the document's ``length_mm``. The series imitates a 3D heavily
T2-weighted fast spin echo MRCP (the source study's protocol): bright fluid in the
ducts, gallbladder, pancreatic duct and bowel; dark liver; a little noise.

Slices are drawn and written one at a time, so memory stays at one slice whatever
the series size. The document's ducts do not depend on ``seed``; the twigs beyond the
leaf ducts, the bowel fluid and the noise do.
"""

from __future__ import annotations

import datetime
import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    LegacyConvertedEnhancedMRImageStorage,
    MRImageStorage,
    generate_uid,
)

from .phantom_draw import Plane, draw_blob, draw_tube
from .phantom_layout import Blob, DuctPath, Layout, Point, lay_out
from .phantom_realistic import Realism, Scene, build_scene, draw_slice, rician

# Centre of the imaged volume in patient coordinates (mm); any value works.
VOLUME_CENTRE = np.array([-12.5, 30.0, 95.0])
FIELD_OF_VIEW_MM = 280.0
FLUID_SIGNAL = 3000.0
MAX_STORED = 4095  # 12 bits stored
_UNCOMPRESSED = {
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
}


@dataclass(frozen=True)
class PhantomSeries:
    """The written files and the ground truth, in patient coordinates (mm).

    ``ducts`` has one entry per duct of the document; ``structures`` holds the CHD,
    CBD, pancreatic duct pieces and a default cystic duct when the document has none.
    ``paths`` are in slice order along the slice normal.
    """

    paths: tuple[Path, ...]
    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    sop_instance_uids: tuple[str, ...]
    ducts: Mapping[str, DuctPath]
    structures: Mapping[str, DuctPath]
    rows: int
    columns: int
    slices: int
    pixel_spacing: tuple[float, float]
    slice_spacing: float
    orientation: tuple[float, float, float, float, float, float]
    first_position: tuple[float, float, float]
    # Realistic mode only: each duct's curved centre-line (junction first) and the non-duct fluid.
    centrelines: Mapping[str, tuple[Point, ...]] = field(default_factory=lambda: MappingProxyType({}))
    distractors: tuple[Blob, ...] = ()


def generate_series(
    anatomy: Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    slices: int = 60,
    rows: int = 256,
    columns: int = 256,
    pixel_spacing: tuple[float, float] | None = None,
    slice_thickness: float = 1.5,
    spacing_between_slices: float | None = None,
    orientation: str = "coronal",
    oblique_degrees: float = 0.0,
    patient_id: str = "PHANTOM-0001",
    patient_name: str = "Phantom^Donor",
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_number: int = 1,
    seed: int = 0,
    transfer_syntax: str = ExplicitVRLittleEndian,
    rescale_slope: float = 1.0,
    rescale_intercept: float = 0.0,
    noise_sd: float = 18.0,
    enhanced: bool = False,
    realism: Realism | None = None,
) -> PhantomSeries:
    """Write one DICOM file per slice into ``out_dir`` and return what was written.

    With ``enhanced`` the slices are the frames of one Legacy Converted Enhanced MR file
    (``MF0001.dcm``, uncompressed), as current scanners export a 3D MRCP: each frame's
    position in the per-frame functional groups, the rest in the shared ones. Its
    ``sop_instance_uids`` then holds the one file's UID.

    With ``realism`` the ducts curve, taper and move per seed, the noise is Rician at
    ``realism.snr`` (``noise_sd`` is then unused), partial volume spans the slice
    thickness and more fluid overlaps the ducts (see ``phantom_realistic``).

    ``pixel_spacing`` is DICOM's (row spacing, column spacing); by default square
    pixels covering a 280 mm field of view. ``orientation`` is "coronal" (as 3D MRCP
    is acquired) or "axial"; ``oblique_degrees`` turns the planes about the patient's
    long axis (coronal-oblique). ``transfer_syntax`` may be any uncompressed syntax or
    a compressed one pydicom can encode (RLE Lossless, JPEG 2000 Lossless).
    """
    transfer_syntax = UID(transfer_syntax)
    if slices < 1 or rows < 8 or columns < 8:
        raise ValueError("a series needs at least one slice of 8 x 8 pixels")
    spacing = pixel_spacing or (FIELD_OF_VIEW_MM / max(rows, columns),) * 2
    gap = spacing_between_slices or slice_thickness
    row_dir, col_dir = _directions(orientation, oblique_degrees)
    normal = np.cross(row_dir, col_dir)
    first = (
        -((columns - 1) / 2 * spacing[1]) * row_dir
        - ((rows - 1) / 2 * spacing[0]) * col_dir
        - ((slices - 1) / 2 * gap) * normal
    )
    layout = lay_out(anatomy, seed)
    scene = build_scene(layout, seed, realism) if realism is not None else None
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = generate_uid(entropy_srcs=[series_uid, "frame of reference"])
    template = _template(
        study_uid,
        series_uid,
        frame_uid,
        patient_id,
        patient_name,
        series_number,
        rows,
        columns,
        spacing,
        slice_thickness,
        gap,
        row_dir,
        col_dir,
        rescale_slope,
        rescale_intercept,
        transfer_syntax,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    paths, uids = [], []
    if enhanced and transfer_syntax != ExplicitVRLittleEndian:
        raise ValueError("the Enhanced MR phantom is written uncompressed (Explicit VR Little Endian)")
    # One frame's stored values at a time, into the one block the Enhanced file's pixel data is.
    frames = np.empty((slices, rows, columns), dtype=np.uint16) if enhanced else None
    positions = []
    for index in range(slices):
        origin = first + index * gap * normal
        plane = Plane(origin, row_dir, col_dir, spacing[0], spacing[1], rows, columns)
        if scene is not None and realism is not None:
            signal = _draw_realistic(plane, scene, realism, slice_thickness, rng)
        else:
            signal = _draw(plane, layout) * FLUID_SIGNAL
            signal += rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(noise_sd)
        stored = np.clip(np.rint((signal - rescale_intercept) / rescale_slope), 0, MAX_STORED).astype(np.uint16)
        if frames is not None:
            frames[index] = stored
            positions.append(VOLUME_CENTRE + origin)
            continue
        uid = generate_uid(entropy_srcs=[series_uid, str(index)])
        path = out / f"IM{index + 1:04d}.dcm"
        _write_slice(template, path, stored, uid, index, VOLUME_CENTRE + origin, normal, transfer_syntax)
        paths.append(path)
        uids.append(uid)
    if frames is not None:
        uid = generate_uid(entropy_srcs=[series_uid, "enhanced"])
        path = out / "MF0001.dcm"
        _write_enhanced(template, path, frames, uid, positions, normal)
        paths.append(path)
        uids.append(uid)
    return PhantomSeries(
        paths=tuple(paths),
        study_uid=study_uid,
        series_uid=series_uid,
        frame_of_reference_uid=frame_uid,
        sop_instance_uids=tuple(uids),
        ducts=MappingProxyType({k: _to_patient(p) for k, p in (scene or layout).ducts.items()}),
        structures=MappingProxyType({k: _to_patient(p) for k, p in (scene or layout).structures.items()}),
        rows=rows,
        columns=columns,
        slices=slices,
        pixel_spacing=(float(spacing[0]), float(spacing[1])),
        slice_spacing=float(gap),
        orientation=tuple(float(v) for v in (*row_dir, *col_dir)),  # type: ignore[arg-type]
        first_position=tuple(float(v) for v in VOLUME_CENTRE + first),  # type: ignore[arg-type]
        centrelines=MappingProxyType(
            {k: tuple(_shift(p) for p in line) for k, line in scene.centrelines.items()} if scene else {}
        ),
        distractors=tuple(_blob_to_patient(b) for b in scene.distractors) if scene else (),
    )


def write_zip(
    paths: Iterable[str | os.PathLike[str]],
    zip_path: str | os.PathLike[str],
    *,
    folder: str = "MRCP",
    compresslevel: int = 6,
) -> Path:
    """Zip the files under one folder, as a PACS export or a CD copy would be."""
    target = Path(zip_path)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        for path in paths:
            archive.write(path, f"{folder}/{Path(path).name}" if folder else Path(path).name)
    return target


# ------------------------------------------------------------------ drawing


def _directions(orientation: str, oblique_degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """Row and column directions; the oblique angle turns them about the z axis."""
    angle = np.radians(oblique_degrees)
    row_dir = np.array([np.cos(angle), np.sin(angle), 0.0])
    if orientation == "coronal":
        return row_dir, np.array([0.0, 0.0, -1.0])
    if orientation == "axial":
        return row_dir, np.array([-np.sin(angle), np.cos(angle), 0.0])
    raise ValueError(f"orientation must be 'coronal' or 'axial', not {orientation!r}")


def _draw(plane: Plane, layout: Layout) -> np.ndarray:
    """Relative signal (fluid = 1) of one plane."""
    image = np.zeros((plane.rows, plane.columns), dtype=np.float32)
    for blob in layout.tissue + layout.fluid:
        draw_blob(image, plane, blob)
    for tube in layout.tubes:
        draw_tube(image, plane, tube)
    return image


def _draw_realistic(
    plane: Plane, scene: Scene, realism: Realism, thickness: float, rng: np.random.Generator
) -> np.ndarray:
    """One realistic slice's signal: breathing shift, partial volume, Rician noise."""
    if realism.respiratory_mm > 0:
        breath = float(rng.normal(0.0, realism.respiratory_mm))
        plane = Plane(
            plane.origin + np.array([0.0, 0.0, breath]),
            plane.row_direction,
            plane.column_direction,
            plane.row_spacing,
            plane.col_spacing,
            plane.rows,
            plane.columns,
        )
    signal = draw_slice(scene, plane, thickness, realism.through_plane_samples) * np.float32(FLUID_SIGNAL)
    return rician(signal, FLUID_SIGNAL / realism.snr, rng)


def _blob_to_patient(blob: Blob) -> Blob:
    return Blob(_shift(blob.centre), blob.axes, blob.semi, blob.level)


def _shift(point: Point) -> Point:
    x, y, z = (float(v) for v in VOLUME_CENTRE + np.array(point))
    return x, y, z


def _to_patient(path: DuctPath) -> DuctPath:
    return DuctPath(
        path.id,
        path.drains_into,
        _shift(path.start),
        _shift(path.end),
        path.length_mm,
        path.length_documented,
        path.radius_mm,
    )


# ------------------------------------------------------------------ writing


def _ds(value: float) -> str:
    """A Decimal String of at most 16 characters."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text[:16]


def _template(
    study_uid: str,
    series_uid: str,
    frame_uid: str,
    patient_id: str,
    patient_name: str,
    series_number: int,
    rows: int,
    columns: int,
    spacing: tuple[float, float],
    thickness: float,
    gap: float,
    row_dir: np.ndarray,
    col_dir: np.ndarray,
    slope: float,
    intercept: float,
    syntax: UID,
) -> Dataset:
    now = datetime.datetime.now()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.TransferSyntaxUID = syntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    ds.SOPClassUID = MRImageStorage
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = ""
    ds.Modality = "MR"
    ds.Manufacturer = "Synthetic phantom"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "MRCP living donor workup"
    ds.SeriesDescription = "MRCP 3D"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.BodyPartExamined = "ABDOMEN"
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = ["SK", "SP"]
    ds.ScanOptions = "FS"
    ds.MRAcquisitionType = "3D"
    ds.SliceThickness = _ds(thickness)
    ds.RepetitionTime = "2500"
    ds.EchoTime = "700"
    ds.EchoTrainLength = 160
    ds.MagneticFieldStrength = "1.5"
    ds.ImagingFrequency = "63.6"
    ds.ImagedNucleus = "1H"
    ds.SpacingBetweenSlices = _ds(gap)
    ds.ProtocolName = "MRCP 3D SPACE"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = [_ds(v) for v in (*row_dir, *col_dir)]
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.PixelSpacing = [_ds(spacing[0]), _ds(spacing[1])]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = _ds(FLUID_SIGNAL / 2)
    ds.WindowWidth = _ds(FLUID_SIGNAL)
    ds.RescaleIntercept = _ds(intercept)
    ds.RescaleSlope = _ds(slope)
    ds.RescaleType = "US"
    return ds


def _write_slice(
    ds: Dataset,
    path: Path,
    stored: np.ndarray,
    uid: str,
    index: int,
    position: np.ndarray,
    normal: np.ndarray,
    syntax: UID,
) -> None:
    ds.file_meta.MediaStorageSOPInstanceUID = UID(uid)
    ds.SOPInstanceUID = uid
    ds.InstanceNumber = index + 1
    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.SliceLocation = _ds(float(position @ normal))
    if syntax in _UNCOMPRESSED:
        data = stored.astype(">u2") if syntax == ExplicitVRBigEndian else stored
        ds.PixelData = data.tobytes()
        ds["PixelData"].VR = "OW"
        ds.save_as(path, enforce_file_format=True)
    else:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = stored.tobytes()
        ds["PixelData"].VR = "OW"
        ds.compress(syntax, stored, generate_instance_uid=False)
        ds.save_as(path, enforce_file_format=True)


# Attributes of a classic MR image that an Enhanced image keeps in its functional groups.
_FRAME_LEVEL = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "SliceLocation",
    "RescaleIntercept",
    "RescaleSlope",
    "RescaleType",
    "WindowCenter",
    "WindowWidth",
)
# What the Legacy Converted image cannot place in a macro: kept in the unassigned converted attributes.
_UNASSIGNED = (
    "ScanningSequence",
    "SequenceVariant",
    "ScanOptions",
    "MRAcquisitionType",
    "RepetitionTime",
    "EchoTime",
    "EchoTrainLength",
    "ImagingFrequency",
    "ImagedNucleus",
    "MagneticFieldStrength",
)


def _item(**values: Any) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _write_enhanced(
    template: Dataset, path: Path, frames: np.ndarray, uid: str, positions: list[np.ndarray], normal: np.ndarray
) -> None:
    """One Legacy Converted Enhanced MR file (PS3.3 A.71) holding every slice as a frame."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = LegacyConvertedEnhancedMRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = UID(uid)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    for element in template:
        if element.keyword not in _FRAME_LEVEL and element.keyword not in _UNASSIGNED:
            ds.add(element)
    ds.SOPClassUID = LegacyConvertedEnhancedMRImageStorage
    ds.SOPInstanceUID = uid
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.InstanceNumber = 1
    ds.ContentQualification = "RESEARCH"
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.PresentationLUTShape = "IDENTITY"
    ds.AcquisitionContextSequence = []
    ds.NumberOfFrames = len(frames)
    dimensions = generate_uid(entropy_srcs=[uid, "dimensions"])
    ds.DimensionOrganizationSequence = [_item(DimensionOrganizationUID=dimensions)]
    ds.DimensionOrganizationType = "3D"
    ds.DimensionIndexSequence = [
        _item(
            DimensionOrganizationUID=dimensions,
            DimensionIndexPointer=0x00200032,
            FunctionalGroupPointer=0x00209113,
            DimensionDescriptionLabel="Image Position Patient",
        )
    ]
    ds.SharedFunctionalGroupsSequence = [
        _item(
            MRImageFrameTypeSequence=[
                _item(
                    FrameType=["ORIGINAL", "PRIMARY", "M", "NONE"],
                    PixelPresentation="MONOCHROME",
                    VolumetricProperties="VOLUME",
                    VolumeBasedCalculationTechnique="NONE",
                )
            ],
            PixelMeasuresSequence=[
                _item(
                    PixelSpacing=template.PixelSpacing,
                    SliceThickness=template.SliceThickness,
                    SpacingBetweenSlices=template.SpacingBetweenSlices,
                )
            ],
            PlaneOrientationSequence=[_item(ImageOrientationPatient=template.ImageOrientationPatient)],
            PixelValueTransformationSequence=[
                _item(
                    RescaleIntercept=template.RescaleIntercept,
                    RescaleSlope=template.RescaleSlope,
                    RescaleType=template.RescaleType,
                )
            ],
            FrameVOILUTSequence=[_item(WindowCenter=template.WindowCenter, WindowWidth=template.WindowWidth)],
            UnassignedSharedConvertedAttributesSequence=[
                _item(**{keyword: template[keyword].value for keyword in _UNASSIGNED if keyword in template})
            ],
        )
    ]
    ds.PerFrameFunctionalGroupsSequence = [
        _item(
            FrameContentSequence=[
                _item(StackID="1", InStackPositionNumber=index + 1, DimensionIndexValues=[index + 1])
            ],
            PlanePositionSequence=[_item(ImagePositionPatient=[_ds(v) for v in position])],
            UnassignedPerFrameConvertedAttributesSequence=[
                _item(InstanceNumber=index + 1, SliceLocation=_ds(float(position @ normal)))
            ],
        )
        for index, position in enumerate(positions)
    ]
    ds.PixelData = frames.tobytes()
    ds["PixelData"].VR = "OW"
    ds.save_as(path, enforce_file_format=True)
