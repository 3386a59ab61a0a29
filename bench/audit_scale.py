"""The audit trail at ten million events: the auditor's searches, before and after core's audit
indexes (migrations core 0002 and 0003), in one run.

Events are loaded with PostgreSQL COPY into a scratch database `ldlt_bench_audit` (created with
every migration but core 0002 and 0003, and dropped at the end), with realistic shapes: five centres of
unequal size, users and donors whose activity is skewed (a few of each are very busy), mostly
reads, a few refused attempts (some from another centre), three years of growing volume, in
the order they happened. Then each search is run as the audit trail page runs it (the selector
with its filters and ordering, the page's bounded count and its first page of 50 rows): by
donor, by user, by date range, by kind, combinations, a deep page, and the donor's history of
changes (what the report's "changed since" page reads). p50 and p95 of each, before and after
the indexes, side by side. Target: p95 under 100 ms at 10 million events.

    python bench/audit_scale.py [--rows 10000000] [--repeat 15] [--keep] [--database ldlt_bench_audit]
"""

from __future__ import annotations

import argparse
import datetime
import io
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import PG, scratch_database, setup_django  # noqa: E402

DATABASE = "ldlt_bench_audit"
CENTRE_SHARES = [0.38, 0.25, 0.17, 0.12, 0.08]
USERS_PER_CENTRE = 60
DONORS = 25_000
KINDS = [
    ("read", 0.70),
    ("list", 0.11),
    ("update", 0.08),
    ("create", 0.04),
    ("download", 0.03),
    ("transition", 0.025),
    ("denied", 0.012),
    ("delete", 0.003),
]
RECORD_TYPES = ["donors.Donor", "imaging.Series", "classification.Annotation", "workup.Assessment", "reports.Report"]
YEARS = 3
COLUMNS = (
    "at, user_id, centre_id, target_centre_id, kind, record_type, record_id, donor_id, donor_code, "
    "channel, ip_address, summary, changes"
)


def seed_people():
    """Centres, users (two auditors among them) and donors; returns what the events draw from."""
    from donors.models import Centre, Donor, User

    rng = random.Random(11)
    centres = [Centre.objects.create(name=f"Centre {n}", code=f"c{n}") for n in range(len(CENTRE_SHARES))]
    users = {}
    for centre in centres:
        users[centre.pk] = list(
            User.objects.bulk_create(
                User(username=f"{centre.code}-user{n}", centre=centre, roles=["radiologist"])
                for n in range(USERS_PER_CENTRE)
            )
        )
    auditor = User.objects.create(username="auditor", centre=centres[0], roles=["auditor"])
    donors = {}
    for centre, share in zip(centres, CENTRE_SHARES, strict=True):
        # Benchmark fixture only: rows in bulk, not through the audited services.
        donors[centre.pk] = [
            (d.pk, d.code)
            for d in Donor.objects.bulk_create(
                (
                    Donor(
                        centre=centre,
                        code=f"{centre.code.upper()}-{n:05d}",
                        mrn=f"{centre.code}-{n:06d}",
                        given_name="N",
                        family_name=f"F{n}",
                        date_of_birth=datetime.date(1985, 1, 1),
                        sex=rng.choice(["female", "male"]),
                        height_cm=170,
                        weight_kg=70,
                        abo="O",
                        relationship="sibling",
                        planned_graft="right_lobe",
                    )
                    for n in range(int(DONORS * share))
                ),
                batch_size=5000,
            )
        ]
    return centres, users, donors, auditor


def load_events(rows: int, centres, users, donors, end: datetime.datetime) -> float:
    """COPY `rows` events, oldest first, with the table's secondary indexes dropped and built
    again after (as a bulk load does); returns the seconds it took."""
    import numpy as np
    from django.db import connection

    rng = np.random.default_rng(3)
    centre_ids = np.array([c.pk for c in centres])
    kinds = np.array([k for k, _ in KINDS])
    kind_weights = np.array([w for _, w in KINDS]) / sum(w for _, w in KINDS)
    user_ids = {c: np.array([u.pk for u in users[c]]) for c in users}
    donor_ids = {c: np.array([d[0] for d in donors[c]]) for c in donors}
    donor_codes = {c: np.array([d[1] for d in donors[c]]) for c in donors}
    start = np.datetime64(end.replace(tzinfo=None) - datetime.timedelta(days=365 * YEARS), "us")
    span_us = 365 * YEARS * 86400 * 1_000_000
    record_types = np.array(RECORD_TYPES)
    chunk = 500_000
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'donors_auditevent' "
            "AND indexname NOT LIKE '%%pkey'"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        raw = cursor.connection
        for first in range(0, rows, chunk):
            n = min(chunk, rows - first)
            place = (np.arange(first, first + n) + rng.random(n)) / rows
            # Volume grows over the years: the i-th event's place in time goes as sqrt.
            at = (start + (np.sqrt(place) * span_us).astype("timedelta64[us]")).astype(str)
            centre = rng.choice(centre_ids, size=n, p=CENTRE_SHARES)
            kind = rng.choice(kinds, size=n, p=kind_weights)
            # A few users and donors are very busy, most are not (u^2 and u^3 of a uniform u).
            u_users, u_donors = rng.random(n) ** 2, rng.random(n) ** 3
            user = np.empty(n, dtype=np.int64)
            donor = np.empty(n, dtype=np.int64)
            code = np.empty(n, dtype=object)
            target = np.full(n, "\\N", dtype=object)
            refused_elsewhere = (kind == "denied") & (rng.random(n) < 0.5)
            other = (centre + rng.integers(1, len(centre_ids), n) - centre_ids[0]) % len(centre_ids) + centre_ids[0]
            for c in centre_ids:
                mine = centre == c
                user[mine] = user_ids[c][(u_users[mine] * len(user_ids[c])).astype(int)]
                picks = (u_donors[mine] * len(donor_ids[c])).astype(int)
                donor[mine], code[mine] = donor_ids[c][picks], donor_codes[c][picks]
                # A refused attempt on another centre's donor: its id only, filed under both centres.
                theirs = refused_elsewhere & (other == c)
                picks = (u_donors[theirs] * len(donor_ids[c])).astype(int)
                donor[theirs], code[theirs], target[theirs] = donor_ids[c][picks], "", str(c)
            donor_text = donor.astype(str).astype(object)
            listing = kind == "list"
            donor_text[listing], code[listing] = "\\N", ""
            record_type = rng.choice(record_types, size=n)
            record_id = rng.integers(1, 10**6, n)
            lines = "".join(
                f"{a}+00\t{u}\t{c}\t{t}\t{k}\t{r}\t{ri}\t{d}\t{dc}\tpage\t10.0.0.1\t{k} of a record\t{{}}\n"
                for a, u, c, t, k, r, ri, d, dc in zip(
                    at,
                    user.tolist(),
                    centre.tolist(),
                    target,
                    kind,
                    record_type,
                    record_id.tolist(),
                    donor_text,
                    code,
                    strict=True,
                )
            )
            with raw.cursor() as copy:
                copy.copy_expert(f"COPY donors_auditevent ({COLUMNS}) FROM STDIN", io.StringIO(lines))
            raw.commit()
            print(f"  {first + n:>11,} events", end="\r", flush=True)
        print()
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("VACUUM ANALYZE donors_auditevent")
    return time.perf_counter() - started


def searches(centres, users, donors, end: datetime.datetime):
    """Each search the page issues: a name and a function of a random generator giving its filters."""
    home = centres[0].pk
    home_donors, home_users = donors[home], users[home]

    def day(rng, back_days):
        return (end - datetime.timedelta(days=rng.randrange(1, back_days))).date()

    def week(rng):
        first = day(rng, 365 * YEARS)
        return {"date_from": first, "date_to": first + datetime.timedelta(days=6)}

    return [
        ("no filter (newest first)", lambda rng: {}, 1),
        ("no filter, page 100", lambda rng: {}, 100),
        ("by donor (busy)", lambda rng: {"donor_code": home_donors[rng.randrange(3)][1]}, 1),
        ("by donor (any)", lambda rng: {"donor_code": rng.choice(home_donors)[1].lower()}, 1),
        ("by user (busy)", lambda rng: {"username": home_users[rng.randrange(3)].username}, 1),
        ("by user (any)", lambda rng: {"username": rng.choice(home_users).username}, 1),
        ("by date range (a week)", week, 1),
        (
            "by date range (a day, 2 y ago)",
            lambda rng: {
                "date_from": day(rng, 30) - datetime.timedelta(days=730),
                "date_to": day(rng, 30) - datetime.timedelta(days=730),
            },
            1,
        ),
        ("by kind (refused)", lambda rng: {"kind": "denied"}, 1),
        ("by kind (delete)", lambda rng: {"kind": "delete"}, 1),
        ("by kind (read)", lambda rng: {"kind": "read"}, 1),
        ("donor + kind (update)", lambda rng: {"donor_code": rng.choice(home_donors)[1], "kind": "update"}, 1),
        ("user + a week", lambda rng: {"username": rng.choice(home_users).username} | week(rng), 1),
        ("kind (refused) + a week", lambda rng: {"kind": "denied"} | week(rng), 1),
        (
            "donor + user + a week",
            lambda rng: (
                {"donor_code": rng.choice(home_donors)[1], "username": rng.choice(home_users).username} | week(rng)
            ),
            1,
        ),
    ]


def run_page(actor, filters: dict, page_number: int) -> int:
    """What the audit trail view does with the database: the selector, the bounded count, a page."""
    from core.pages import BoundedPaginator
    from donors import selectors

    events = selectors.audit_trail(actor=actor, **filters)
    page = BoundedPaginator(events, 50).get_page(page_number)
    return len(list(page.object_list))


def donor_history(donor_id: int, since: datetime.datetime) -> int:
    """The donor's changes since a report was issued (reports' changed-since page), as it reads them."""
    from core.models import AuditEvent
    from reports.selectors import RECORD_CHANGES

    return len(
        list(
            AuditEvent.objects.filter(donor_id=donor_id, kind__in=RECORD_CHANGES, at__gt=since)
            .exclude(record_type__startswith="reports.")
            .select_related("user")
            .order_by("at", "id")
        )
    )


def time_all(actor, centres, users, donors, end, repeat: int) -> dict[str, tuple[float, float]]:
    from django.db import connection

    results = {}
    for name, filters_of, page_number in searches(centres, users, donors, end):
        rng = random.Random(name)
        timings = []
        for _ in range(repeat):
            filters = filters_of(rng)
            started = time.perf_counter()
            run_page(actor, filters, page_number)
            timings.append(time.perf_counter() - started)
        results[name] = timings
    rng = random.Random(5)
    timings = []
    for _ in range(repeat):
        donor_id = rng.choice(donors[centres[0].pk])[0]
        since = end - datetime.timedelta(days=rng.randrange(30, 365))
        started = time.perf_counter()
        donor_history(donor_id, since)
        timings.append(time.perf_counter() - started)
    results["donor's changes since a report"] = timings
    connection.close()
    return {name: summary(values) for name, values in results.items()}


def summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(values), p95


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--database", default=DATABASE, help="the scratch database's name (dropped first)")
    args = parser.parse_args()

    database_url = scratch_database(args.database)
    setup_django(database_url)
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from core.audit import Actor

    call_command("migrate", "core", "0001", verbosity=0)
    centres, users, donors, auditor = seed_people()
    end = timezone.now()
    print(f"loading {args.rows:,} audit events with COPY ...", flush=True)
    load_seconds = load_events(args.rows, centres, users, donors, end)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('donors_auditevent'))")
        size = cursor.fetchone()[0]
    print(f"loaded in {load_seconds:.0f} s; table with its indexes: {size}")
    actor = Actor(user=auditor)
    before = time_all(actor, centres, users, donors, end, args.repeat)
    started = time.perf_counter()
    call_command("migrate", "core", verbosity=0)
    index_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE donors_auditevent")
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('donors_auditevent'))")
        size_after = cursor.fetchone()[0]
    print(
        f"core 0002 and 0003 (indexes, built concurrently) took {index_seconds:.0f} s; "
        f"table with its indexes: {size_after}"
    )
    after = time_all(actor, centres, users, donors, end, args.repeat)

    print(f"\nauditor's searches at {args.rows:,} events, ms (p50 / p95 of {args.repeat}; page of 50, bounded count)")
    print(f"{'search':34}{'before p50':>12}{'before p95':>12}{'after p50':>12}{'after p95':>12}")
    worst = 0.0
    for name in before:
        b50, b95 = before[name]
        a50, a95 = after[name]
        worst = max(worst, a95)
        print(f"{name:34}{b50 * 1e3:>12.1f}{b95 * 1e3:>12.1f}{a50 * 1e3:>12.1f}{a95 * 1e3:>12.1f}")
    print(f"worst p95 after: {worst * 1e3:.1f} ms (target < 100 ms)")
    if not args.keep:
        connection.close()
        import psycopg2

        admin = psycopg2.connect(PG + "/postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
