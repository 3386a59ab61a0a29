"""Every page of the app, as the role that works on it, checked by axe-core: no serious or critical
violation. And the keyboard: Tab reaches a form's controls, and the focused control shows it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.audit import Actor
from tests.factories import DonorFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
BLOCKING_IMPACTS = {"serious", "critical"}
STAFF_ROLES = ("coordinator", "radiologist", "hepatologist", "surgeon", "auditor")


class _RunOnCommit:
    """Outside a test transaction the services' on-commit callbacks run by themselves."""

    def __call__(self, execute=True):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@dataclass
class Records:
    """The records the pages show, each built the first time a page asks for it."""

    centre: object
    folder: Path
    staff: dict = field(default_factory=dict)

    def user(self, role: str):
        if role not in self.staff:
            self.staff[role] = UserFactory(
                centre=self.centre,
                username=f"{role}-a11y",
                roles=[role],
                first_name=role.capitalize(),
                last_name="Keyboard",
                is_centre_admin=role == "coordinator",
            )
        return self.staff[role]

    @functools.cached_property
    def worked_up_donor(self):
        """A donor worked up, with final anatomy and a signed decision."""
        from tests.integration.test_reports import worked_up_donor

        staff = {role: self.user(role) for role in ("coordinator", "radiologist", "hepatologist", "surgeon")}
        return worked_up_donor(self.centre, staff, _RunOnCommit(), code="AX-DONE", with_mip=False)

    @property
    def donor(self):
        """The worked-up donor with an MRCP series of its own (its pages list the series)."""
        self.upload  # noqa: B018
        return self.worked_up_donor

    @functools.cached_property
    def upload(self):
        from imaging import services as imaging_services
        from tests.integration.imaging_support import phantom

        donor = self.worked_up_donor
        series = phantom(self.folder / "own", donor=donor, slices=6, size=32)
        return imaging_services.create_upload(
            actor=Actor(user=self.user("coordinator")),
            donor=donor,
            files=[imaging_services.Incoming(p.name, p.stat().st_size, p) for p in series.paths],
        )

    @functools.cached_property
    def series(self):
        from imaging.models import Series

        return Series.objects.filter(study__donor=self.donor).latest("pk")

    @functools.cached_property
    def report_version(self):
        from reports.services import issue_report

        return issue_report(actor=Actor(user=self.user("surgeon")), donor=self.donor)

    @functools.cached_property
    def unmatched_study(self):
        """Another patient's study, sent to a donor by mistake and detached by the radiologist."""
        from imaging import services as imaging_services
        from imaging.models import Study
        from tests.integration.imaging_support import phantom

        donor = DonorFactory(centre=self.centre, code="AX-WRONG")
        wrong = phantom(self.folder / "wrong", slices=4, size=32, patient_id="MRN555555", patient_name="Wrong^Patient")
        imaging_services.create_upload(
            actor=Actor(user=self.user("coordinator")),
            donor=donor,
            files=[imaging_services.Incoming(p.name, p.stat().st_size, p) for p in wrong.paths],
        )
        study = Study.objects.get(donor=donor)
        return imaging_services.detach_study(
            actor=Actor(user=self.user("radiologist")), study=study, reason="another patient's MRCP"
        )

    @functools.cached_property
    def donor_with_identity_warning(self):
        """A new candidate whose upload names another patient: the radiologist must confirm or detach."""
        from imaging import services as imaging_services
        from tests.integration.imaging_support import phantom

        donor = DonorFactory(centre=self.centre, code="AX-CHECK")
        other = phantom(self.folder / "other", slices=4, size=32, patient_id="MRN777777", patient_name="Other^Patient")
        imaging_services.create_upload(
            actor=Actor(user=self.user("coordinator")),
            donor=donor,
            files=[imaging_services.Incoming(p.name, p.stat().st_size, p) for p in other.paths],
        )
        return donor

    @functools.cached_property
    def study_outcomes(self):
        """The published study's operated donors, imported so the cohort page has numbers and charts."""
        from reports.demo import study_cohort_csv
        from reports.services import import_outcomes

        return import_outcomes(centre_name=self.centre.name, text=study_cohort_csv(), source_name="study.csv")

    @functools.cached_property
    def new_candidate(self):
        return DonorFactory(centre=self.centre, code="AX-NEW")


@dataclass(frozen=True)
class PageCase:
    name: str
    role: str | None  # None: not logged in
    path: Callable[[Records], str]
    status: int = 200
    then: Callable | None = None  # what the user does on the page before it is checked
    shows: str = ""  # a selector the page must show, so the check covers the records it is about

    def __str__(self):
        return self.name


def submit_first(selector: str, fill: dict | None = None):
    """Send a form as it stands (the browser's own checks off), so the page shows its errors."""

    def act(page):
        for field_selector, value in (fill or {}).items():
            page.fill(field_selector, value)
        form = page.locator(selector).first
        form.evaluate("form => { form.noValidate = true; }")
        page.once("dialog", lambda dialog: dialog.accept())  # an irreversible step asks first
        with page.expect_navigation():
            form.locator("button[type=submit]").first.click()
        page.wait_for_load_state("networkidle")
        assert page.locator(".field-error, .errors, .error-message, .error-summary").count(), "the form showed no error"

    return act


def after(records_needed: str, path: str) -> Callable[[Records], str]:
    """A page that lists records rather than showing one: build them, then visit the page."""

    def build_then_path(records: Records) -> str:
        getattr(records, records_needed)
        return path

    return build_then_path


PAGES = [
    PageCase("login", None, lambda r: "/accounts/login/"),
    PageCase(
        "login refused",
        None,
        lambda r: "/accounts/login/",
        then=submit_first("form.form", {"#id_username": "nobody", "#id_password": "wrong"}),
    ),
    PageCase("donor list", "coordinator", lambda r: "/donors/?q=AX"),
    PageCase("donor detail (coordinator)", "coordinator", lambda r: f"/donors/{r.donor.pk}/"),
    PageCase("donor detail (radiologist)", "radiologist", lambda r: f"/donors/{r.donor.pk}/"),
    PageCase("donor detail (hepatologist)", "hepatologist", lambda r: f"/donors/{r.donor.pk}/"),
    PageCase("donor detail (surgeon)", "surgeon", lambda r: f"/donors/{r.donor.pk}/"),
    PageCase("new donor", "coordinator", lambda r: "/donors/new/"),
    PageCase("new donor with errors", "coordinator", lambda r: "/donors/new/", then=submit_first("main form.form")),
    PageCase(
        "donor detail with an identity warning",
        "radiologist",
        lambda r: f"/donors/{r.donor_with_identity_warning.pk}/",
        shows="[data-testid=identity-warning]",
    ),
    PageCase("edit donor", "coordinator", lambda r: f"/donors/{r.donor.pk}/edit/"),
    PageCase("new recipient", "coordinator", lambda r: "/donors/recipients/new/"),
    PageCase(
        "new recipient with errors",
        "coordinator",
        lambda r: "/donors/recipients/new/",
        then=submit_first("main form.form"),
    ),
    PageCase("workup", "hepatologist", lambda r: f"/donors/{r.donor.pk}/workup/"),
    PageCase("workup (coordinator)", "coordinator", lambda r: f"/donors/{r.new_candidate.pk}/workup/"),
    PageCase(
        "workup with errors",
        "hepatologist",
        lambda r: f"/donors/{r.new_candidate.pk}/workup/",
        then=submit_first("form[data-form=labs]"),
    ),
    PageCase("thresholds", "coordinator", lambda r: "/donors/thresholds/"),
    PageCase("anatomy editor", "radiologist", lambda r: f"/anatomy/donors/{r.donor.pk}/"),
    PageCase("anatomy editor, nothing recorded", "radiologist", lambda r: f"/anatomy/donors/{r.new_candidate.pk}/"),
    PageCase("anatomy (surgeon, read only)", "surgeon", lambda r: f"/anatomy/donors/{r.donor.pk}/"),
    PageCase("classification worklist", "surgeon", lambda r: "/anatomy/worklist/"),
    PageCase("outcome form", "surgeon", lambda r: f"/anatomy/donors/{r.donor.pk}/outcome/"),
    PageCase(
        "outcome form with errors",
        "surgeon",
        lambda r: f"/anatomy/donors/{r.donor.pk}/outcome/",
        then=submit_first("main form.form"),
    ),
    PageCase("upload", "coordinator", lambda r: f"/imaging/donors/{r.donor.pk}/upload/"),
    PageCase("upload report", "coordinator", lambda r: f"/imaging/uploads/{r.upload.pk}/"),
    PageCase("viewer", "radiologist", lambda r: f"/imaging/series/{r.series.pk}/"),
    PageCase(
        "unmatched studies",
        "radiologist",
        after("unmatched_study", "/imaging/studies/unmatched/"),
        shows="[data-testid=unmatched-study]",
    ),
    PageCase("report draft", "surgeon", lambda r: f"/reports/donors/{r.donor.pk}/"),
    PageCase("issued report version", "surgeon", lambda r: f"/reports/versions/{r.report_version.pk}/"),
    PageCase("cohort, no outcomes yet", "surgeon", lambda r: "/reports/cohort/"),
    PageCase("cohort", "surgeon", after("study_outcomes", "/reports/cohort/"), shows=".cohort .chart svg"),
    PageCase("audit trail", "auditor", lambda r: "/donors/audit/"),
    PageCase("home (auditor)", "auditor", lambda r: "/"),
    PageCase("worklist (coordinator)", "coordinator", after("new_candidate", "/")),
    PageCase("worklist (radiologist)", "radiologist", after("donor_with_identity_warning", "/")),
    PageCase("worklist (hepatologist)", "hepatologist", after("new_candidate", "/")),
    PageCase("worklist (surgeon)", "surgeon", after("donor", "/")),
    PageCase("forbidden (403)", "coordinator", lambda r: "/donors/audit/", status=403),
    PageCase("not found (404)", "coordinator", lambda r: "/donors/999999/", status=404),
    PageCase("API docs", "coordinator", lambda r: "/api/docs/"),
]


@pytest.fixture
def records(centre, settings, tmp_path, eager_tasks):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return Records(centre=centre, folder=tmp_path)


def blocking_violations(page) -> list[dict]:
    """axe-core's serious and critical findings on the page as it stands."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, which the page's CSP does not govern.
        page.evaluate(AXE_SOURCE)
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(' ')
                    + (v.id === 'color-contrast' ? '  ' + (n.any[0] || {}).message : '')),
                summary: v.nodes[0].failureSummary,
            }));
        }"""
    )
    return [v for v in found if v["impact"] in BLOCKING_IMPACTS]


def describe(name: str, violations: list[dict]) -> str:
    lines = [f"{len(violations)} serious or critical axe violation(s) on the {name} page:"]
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        lines.append("    " + v["summary"].replace("\n", " "))
        lines.extend(f"    {target}" for target in v["targets"][:10])
        if len(v["targets"]) > 10:
            lines.append(f"    ... and {len(v['targets']) - 10} more")
    return "\n".join(lines)


def test_the_pages_cover_every_staff_role():
    assert {case.role for case in PAGES} >= set(STAFF_ROLES)


@pytest.mark.parametrize("case", PAGES, ids=str)
def test_no_serious_or_critical_axe_violation(case, page, live_server, login, records):
    path = case.path(records)
    if case.role:
        records.user(case.role)
        login(f"{case.role}-a11y")
    response = page.goto(f"{live_server.url}{path}")
    assert response.status == case.status, f"{case.name}: {path} answered {response.status}"
    page.wait_for_load_state("networkidle")
    if case.then:
        case.then(page)
    if case.shows:
        assert page.locator(case.shows).count(), f"{case.name}: {path} does not show {case.shows}"
    violations = blocking_violations(page)
    assert not violations, describe(case.name, violations)


def focused(page) -> dict:
    """The focused element, named by its data-field (a duct's column), id or name, and whether its focus can be seen."""
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return {
                key: el.dataset.field || el.id || el.getAttribute('name') || el.tagName.toLowerCase(),
                tag: el.tagName.toLowerCase(), type: el.type || '', text: (el.textContent || '').trim().slice(0, 40),
                visible: (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
                    || style.boxShadow !== 'none',
            };
        }"""
    )


@dataclass(frozen=True)
class KeyboardCase:
    name: str
    role: str
    path: Callable[[Records], str]
    controls: frozenset[str]  # ids, data-fields or names Tab must reach

    def __str__(self):
        return self.name


KEYBOARD_PAGES = [
    KeyboardCase(
        "new donor",
        "coordinator",
        lambda r: "/donors/new/",
        frozenset({"id_code", "id_mrn", "id_given_name", "id_family_name", "id_date_of_birth", "id_planned_graft"}),
    ),
    KeyboardCase(
        "anatomy editor",
        "radiologist",
        lambda r: f"/anatomy/donors/{r.donor.pk}/",
        frozenset({"preset", "load-preset", "graft", "id", "drains_into", "segments", "length_mm", "course"}),
    ),
    KeyboardCase("viewer", "radiologist", lambda r: f"/imaging/series/{r.series.pk}/", frozenset({"slice", "stage"})),
]


@pytest.mark.parametrize("case", KEYBOARD_PAGES, ids=str)
def test_tab_reaches_the_main_controls_and_shows_where_the_focus_is(case, page, live_server, login, records):
    path = case.path(records)
    records.user(case.role)
    login(f"{case.role}-a11y")
    page.goto(f"{live_server.url}{path}")
    page.wait_for_load_state("networkidle")
    reached: list[dict] = []
    start = focused(page)  # a page may put the focus on its main control itself (the viewer's image)
    if start["tag"] != "body":
        reached.append(start)
        assert start["visible"], f"{case.name}: the focus on {start} cannot be seen"
    wrapped = False
    for _ in range(120):
        page.keyboard.press("Tab")
        element = focused(page)
        if element["tag"] == "body":
            if wrapped or not reached:
                break  # past the last control
            wrapped = True  # past the last control: Tab goes on from the top of the page
            continue
        reached.append(element)
        assert element["visible"], f"{case.name}: the focus on {element} cannot be seen"
        if case.controls <= {e["key"] for e in reached}:
            break
    missing = case.controls - {e["key"] for e in reached}
    assert not missing, f"{case.name}: Tab never reached {sorted(missing)}; it went {[e['key'] for e in reached]}"


def test_skip_link_moves_the_focus_to_the_main_content(page, live_server, login, records):
    records.user("coordinator")
    login("coordinator-a11y")
    page.goto(f"{live_server.url}/donors/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    assert page.locator(".skip-link").is_visible()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("!!document.activeElement.closest('main')"), "after the skip link, Tab stays in the header"
