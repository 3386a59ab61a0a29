"""Extension points other apps plug into the donor workup.

`BILIARY_TYPE_PROVIDERS` holds functions `provider(donor) -> "1" | "2" | "3" | None` giving the
donor's proposed biliary type. The classification app registers one (with
`register_biliary_type_provider`) when it is installed; the workup asks each provider in turn and
takes the first answer that is not None. With no provider the biliary check stays "missing".
"""
from __future__ import annotations

from typing import Callable

BiliaryTypeProvider = Callable[[object], "str | int | None"]

BILIARY_TYPE_PROVIDERS: list[BiliaryTypeProvider] = []


def register_biliary_type_provider(provider: BiliaryTypeProvider) -> BiliaryTypeProvider:
    """Add a provider (usable as a decorator); registering the same function twice is a no-op."""
    if provider not in BILIARY_TYPE_PROVIDERS:
        BILIARY_TYPE_PROVIDERS.append(provider)
    return provider


# `IMAGE_IDENTITY_CHECKS` holds functions `check(donor) -> list[str]`: one line per image series of
# the donor whose patient identity is unresolved. The imaging app registers one; finalising the
# anatomy, signing the decision and issuing a report are refused while any line is returned.
ImageIdentityCheck = Callable[[object], "list[str]"]

IMAGE_IDENTITY_CHECKS: list[ImageIdentityCheck] = []


def register_image_identity_check(check: ImageIdentityCheck) -> ImageIdentityCheck:
    if check not in IMAGE_IDENTITY_CHECKS:
        IMAGE_IDENTITY_CHECKS.append(check)
    return check


def image_identity_blockers(donor) -> list[str]:
    return [line for check in list(IMAGE_IDENTITY_CHECKS) for line in check(donor)]


def refuse_while_images_unresolved(donor, *, cannot: str) -> None:
    """Raise IllegalState (409) naming every unresolved series, e.g. cannot="mark the anatomy final"."""
    from core.errors import IllegalState

    blockers = image_identity_blockers(donor)
    if blockers:
        raise IllegalState(f"cannot {cannot}: the files of {len(blockers)} series may not be the donor's: "
                           + "; ".join(blockers), fields={"images": blockers})
