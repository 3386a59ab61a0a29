"""Demo data: a centre, one user per role, 20 donors with recipients. Idempotent."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from core.audit import Actor
from core.roles import Role

from . import services
from .models import Centre, Donor, Recipient, User

DEMO_PASSWORD = "demo-pass-2026"  # demo only: printed by seed_demo, never used in production
DEMO_CENTRE = ("Demo Transplant Centre", "demo")

GIVEN = ["Ayse", "Mehmet", "Elif", "Can", "Zeynep", "Emre", "Selin", "Burak", "Deniz", "Hakan"]
FAMILY = ["Yilmaz", "Kaya", "Demir", "Sahin", "Celik", "Aydin", "Ozturk", "Arslan", "Dogan", "Kilic"]
DIAGNOSES = [
    "viral_hepatitis",
    "hepatocellular_carcinoma",
    "biliary_atresia",
    "alcohol_related",
    "metabolic_steatohepatitis",
    "primary_sclerosing_cholangitis",
    "acute_liver_failure",
]


# Blood groups a recipient of each group can receive (O is the universal donor).
COMPATIBLE_DONOR_ABO = {"O": ["O"], "A": ["O", "A"], "B": ["O", "B"], "AB": ["O", "A", "B", "AB"]}
DONOR_AGE_MIN, DONOR_AGE_MAX = 21, 55


def donor_relationship_and_age(rng: random.Random, recipient_age: int) -> tuple[str, int]:
    """A relationship and a donor age that fit the recipient's age: a child's donor is a parent,
    a donor who is the recipient's child is at least 20 years younger, a sibling or spouse is close in age."""
    if recipient_age < 18:
        return "parent", min(DONOR_AGE_MAX, recipient_age + rng.randint(22, 36))
    choices = ["sibling", "spouse", "other_relative"] + (["child"] if recipient_age - 20 >= DONOR_AGE_MIN else [])
    relationship = rng.choice(choices)
    if relationship == "child":
        age = recipient_age - rng.randint(20, min(34, recipient_age - DONOR_AGE_MIN))
    elif relationship == "other_relative":
        age = rng.randint(DONOR_AGE_MIN + 4, DONOR_AGE_MAX - 5)
    else:
        age = recipient_age + rng.randint(-8, 8)
    return relationship, max(DONOR_AGE_MIN, min(DONOR_AGE_MAX, age))


def ensure_user(*, centre: Centre, username: str, roles: list[str], centre_admin: bool = False) -> User:
    user, created = User.objects.get_or_create(
        username=username, defaults={"centre": centre, "roles": roles, "is_centre_admin": centre_admin}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user


@transaction.atomic
def seed_demo_centre() -> tuple[Centre, dict[str, User]]:
    centre, _ = Centre.objects.get_or_create(code=DEMO_CENTRE[1], defaults={"name": DEMO_CENTRE[0]})
    users = {
        role.value: ensure_user(
            centre=centre,
            username=role.value.split("_")[0],
            roles=[role.value],
            centre_admin=role == Role.COORDINATOR,
        )
        for role in Role
        if role != Role.INTEGRATION_CLIENT
    }
    coordinator = users[Role.COORDINATOR.value]
    actor = Actor(user=coordinator, channel="command")
    rng = random.Random(2024)
    today = timezone.localdate()
    grafts = ["right_lobe"] * 11 + ["left_lateral_segment"] * 7 + ["left_lobe"] * 2
    for number in range(1, 21):
        code = f"DEMO-{number:03d}"
        if Donor.objects.filter(centre=centre, code=code).exists():
            continue
        graft = grafts[number - 1]
        paediatric = graft == "left_lateral_segment"
        diagnosis = rng.choice(DIAGNOSES[2:3] if paediatric else DIAGNOSES)
        recipient_age = rng.randint(1, 12) if paediatric else rng.randint(25, 66)
        recipient_abo = rng.choice(["O", "A", "B", "AB"])
        recipient_values = {
            "code": f"REC-{number:03d}",
            "age_years": recipient_age,
            "weight_kg": Decimal(str(round(rng.uniform(8, 35) if paediatric else rng.uniform(52, 95), 1))),
            "abo": recipient_abo,
            "diagnosis": diagnosis,
            "own_duct_usable": not paediatric
            and diagnosis not in ("primary_sclerosing_cholangitis", "biliary_atresia"),
        }
        recipient = Recipient.objects.filter(centre=centre, code=recipient_values["code"]).first()
        if recipient is None:
            recipient = services.create_recipient(actor=actor, values=recipient_values)
        relationship, donor_age = donor_relationship_and_age(rng, recipient_age)
        sex = rng.choice(["female", "male"])
        height_cm = rng.randint(155, 175) if sex == "female" else rng.randint(165, 190)
        services.create_donor(
            actor=actor,
            values={
                "code": code,
                "mrn": f"MRN{100000 + number * 37}",
                "given_name": rng.choice(GIVEN),
                "family_name": rng.choice(FAMILY),
                "date_of_birth": today - datetime.timedelta(days=round(donor_age * 365.25) + rng.randint(20, 340)),
                "sex": sex,
                "height_cm": Decimal(height_cm),
                # From a plausible donor BMI (20-27 kg/m²): height and weight drawn apart gave a BMI of 14.8.
                "weight_kg": Decimal(round(rng.uniform(20, 27) * (height_cm / 100) ** 2)),
                # A team works up only a donor whose blood group the recipient can take.
                "abo": rng.choice(COMPATIBLE_DONOR_ABO[recipient_abo]),
                "relationship": relationship,
                "planned_graft": graft,
                "recipient": recipient,
            },
        )
    return centre, users
