import datetime
from decimal import Decimal

import factory

from donors.models import Centre, Donor, Recipient, User


class CentreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Centre
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"Centre {n}")
    code = factory.Sequence(lambda n: f"c{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    centre = factory.SubFactory(CentreFactory)
    roles = factory.LazyFunction(lambda: ["coordinator"])
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def persist_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class RecipientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Recipient

    centre = factory.SubFactory(CentreFactory)
    code = factory.Sequence(lambda n: f"REC-{n:04d}")
    age_years = 45
    weight_kg = Decimal("70.0")
    abo = "A"
    diagnosis = "viral_hepatitis"
    own_duct_usable = True


class DonorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Donor

    centre = factory.SubFactory(CentreFactory)
    code = factory.Sequence(lambda n: f"D-{n:05d}")
    mrn = factory.Sequence(lambda n: f"MRN{n:06d}")
    given_name = "Ayse"
    family_name = factory.Sequence(lambda n: f"Family{n}")
    date_of_birth = datetime.date(1990, 4, 12)
    sex = "female"
    height_cm = Decimal("165.0")
    weight_kg = Decimal("62.0")
    abo = "O"
    relationship = "sibling"
    planned_graft = "right_lobe"
    recipient = factory.SubFactory(RecipientFactory, centre=factory.SelfAttribute("..centre"))


def accept_donor(donor, *, outcome="suitable", signers=None):
    """Take the donor to the team's accepting decision through the real door: in evaluation, a
    proposed decision, then the radiologist's, the hepatologist's and the surgeon's sign-offs.
    `signers` maps each signing role to a user of the donor's centre (created when absent)."""
    from core.audit import Actor
    from donors.services import transition_donor
    from workup.services import propose_decision, sign_decision

    signers = dict(signers or {})
    for role in ("coordinator", "radiologist", "hepatologist", "surgeon"):
        signers.setdefault(role, UserFactory(centre=donor.centre, roles=[role]))
    donor.refresh_from_db()
    if donor.status == "candidate":
        transition_donor(
            actor=Actor(user=signers["coordinator"]), donor=donor, to_status="in_evaluation", reason="consent signed"
        )
    decision = propose_decision(
        actor=Actor(user=signers["surgeon"]),
        donor=donor,
        outcome=outcome,
        reasons="team meeting",
        conditions="follow-up clinic" if outcome == "suitable_with_conditions" else "",
        override_reason="accepted by the team despite the open checks",
    )
    for role in ("radiologist", "hepatologist", "surgeon"):
        sign_decision(actor=Actor(user=signers[role]), donor=donor, decision_id=decision.pk, signed_as=role)
    donor.refresh_from_db()
    return decision
