"""Does the patient named in the files look like the donor? Pure functions, no database."""

from __future__ import annotations

import re
import unicodedata

_SPLIT = re.compile(r"[\^\s,.\-']+")


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().replace("ı", "i")


def name_tokens(text: str) -> set[str]:
    return {token for token in _SPLIT.split(_plain(text)) if token}


def display_name(dicom_name: str) -> str:
    """'Family^Given^Middle' -> 'Given Middle Family'."""
    parts = [p.strip() for p in (dicom_name or "").split("^")]
    family, given = (parts[0] if parts else ""), " ".join(p for p in parts[1:3] if p)
    return " ".join(p for p in (given, family) if p) or dicom_name


def same_id(file_id: str, mrn: str) -> bool:
    return _without_separators(file_id) == _without_separators(mrn)


def _without_separators(value: str) -> str:
    return re.sub(r"[\s\-]", "", _plain(value))


def same_person(dicom_name: str, given_name: str, family_name: str) -> bool:
    """Every word of the donor's family name and the first given name appear in the file's name."""
    found = name_tokens(dicom_name)
    wanted = name_tokens(family_name) | set(sorted(name_tokens(given_name), key=_plain(given_name).find)[:1])
    return bool(wanted) and wanted <= found


def identity_problems(*, patient_id: str, patient_name: str, mrn: str, given_name: str, family_name: str) -> list[str]:
    """Plain-language reasons why the files may not be this donor's (empty when they match)."""
    if not patient_id and not patient_name:
        return ["the files carry no patient ID or name: check that this is the donor's study"]
    problems = []
    if patient_id and not same_id(patient_id, mrn):
        problems.append(f"patient ID in the files is '{patient_id}', the donor's MRN is '{mrn}'")
    if patient_name and not same_person(patient_name, given_name, family_name):
        problems.append(
            f"patient name in the files is '{display_name(patient_name)}', the donor is '{given_name} {family_name}'"
        )
    return problems
