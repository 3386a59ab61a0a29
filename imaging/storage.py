"""Where the default storage keeps its files: on a local disk (paths) or in an object store (none)."""

from __future__ import annotations

from django.core.files.storage import default_storage


def has_local_paths() -> bool:
    """True when the default storage keeps files under local paths (FileSystemStorage); False for an
    object store (S3), which is written through `save` and read through `open` only."""
    try:
        default_storage.path("")
    except NotImplementedError:
        return False
    return True
