"""Donor list API against a bare Django view, same gunicorn, same PostgreSQL, 10,000 donors by default.

Prints requests per second for both and their ratio (target >= 0.8), and the SQL queries per
API request at page sizes 10, 50 and 200 (target: the same count at every size). Every list
request writes one audit event, committed durably; the bare view is also measured with that
same row, so the audit trail's share of the cost and the API's own show apart.

    python bench/api_list.py [--donors 10000] [--seconds 8] [--rounds 3] [--database NAME [--reuse]]
"""

from __future__ import annotations

import argparse
import datetime
import random
import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import PG, load, median, scratch_database, setup_django, start_gunicorn, stop  # noqa: E402


def seed(count: int):
    from donors.models import Centre, Donor, Recipient, User

    centre = Centre.objects.create(name="Bench Centre", code="bench")
    Centre.objects.create(name="Other Centre", code="other")
    user = User.objects.create(username="bench", centre=centre, roles=["coordinator"])
    user.set_password("bench-password-1")
    user.save()
    rng = random.Random(1)
    # Benchmark fixture only: rows are loaded in bulk, not through the audited services.
    recipients = Recipient.objects.bulk_create(
        Recipient(
            centre=centre,
            code=f"R{n:05d}",
            age_years=40,
            weight_kg=Decimal("70.0"),
            abo="A",
            diagnosis="viral_hepatitis",
            own_duct_usable=True,
        )
        for n in range(count)
    )
    Donor.objects.bulk_create(
        (
            Donor(
                centre=centre,
                code=f"B{n:05d}",
                mrn=f"M{n:06d}",
                given_name="Name",
                family_name=f"Family{n}",
                date_of_birth=datetime.date(1980 + n % 20, 1 + n % 12, 1 + n % 28),
                sex=rng.choice(["female", "male"]),
                height_cm=Decimal("170.0"),
                weight_kg=Decimal("70.0"),
                abo=rng.choice("OAB"),
                relationship="sibling",
                planned_graft="right_lobe",
                recipient=recipients[n],
            )
            for n in range(count)
        ),
        batch_size=2000,
    )
    from django.db import connection

    with connection.cursor() as cursor:  # as autovacuum would have done on a live system
        cursor.execute("VACUUM ANALYZE donors_donor")
        cursor.execute("VACUUM ANALYZE donors_recipient")
    return user


def session_cookie(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def queries_per_request(user, page_size: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/v1/donors/?page_size={page_size}")
    assert response.status_code == 200 and len(response.json()["results"]) == page_size
    return len(captured)


API_PATH = "/api/v1/donors/?page_size=50"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--donors", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--database", default="ldlt_bench_list", help="the scratch database's name (dropped first)")

    parser.add_argument("--reuse", action="store_true", help="keep the donors a previous run left in --database")
    args = parser.parse_args()

    url = f"{PG}/{args.database}" if args.reuse else scratch_database(args.database)
    setup_django(url, DJANGO_ROOT_URLCONF="bench.bench_urls")
    from donors.models import Donor, User

    if args.reuse and Donor.objects.count() == args.donors:
        user = User.objects.get(username="bench")
    else:
        user = seed(args.donors)
    cookie = session_cookie(user)
    print(
        f"donors: {args.donors}, gunicorn 2 sync workers, 4 keep-alive clients, "
        f"{args.rounds} rounds x {args.seconds:.0f} s each"
    )
    print(
        "queries per API request: " + ", ".join(f"page size {n}: {queries_per_request(user, n)}" for n in (10, 50, 200))
    )

    server = start_gunicorn(url, port=args.port, env={"DJANGO_ROOT_URLCONF": "bench.bench_urls"})
    rows = [
        ("donor list API (page size 50)", API_PATH),
        ("bare Django view (50 rows)", "/bench/bare-donors/"),
        ("bare view + its audit row", "/bench/bare-donors-audited/"),
    ]
    rates: dict[str, list[float]] = {label: [] for label, _ in rows}
    try:
        headers = {"Cookie": cookie}
        for _, path in rows:  # warm up both workers
            load(args.port, path, headers, seconds=1)
        for _ in range(args.rounds):  # interleaved so machine noise hits all alike
            for label, path in rows:
                rates[label].append(load(args.port, path, headers, seconds=args.seconds))
    finally:
        stop(server)
    api, bare, audited = (median(rates[label]) for label, _ in rows)
    for label, _ in rows:
        print(f"{label:32}{median(rates[label]):8.1f} req/s   rounds {[round(r) for r in rates[label]]}")
    print(f"ratio API / bare: {api / bare:.2f} (target >= 0.8)")
    print(f"ratio bare + audit row / bare: {audited / bare:.2f} (what the audit trail's durable commit alone costs)")
    print(f"ratio API / bare + audit row: {api / audited:.2f} (what the API costs beyond the audit trail)")


if __name__ == "__main__":
    main()
