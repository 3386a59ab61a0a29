"""The radiologist sees the proposed tree over the MIP beside the editor and takes it into the draft."""

import pytest

from classification.models import Annotation
from core.audit import Actor
from imaging import services
from imaging.models import TreeProposal
from tests.integration.imaging_support import phantom

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_proposal_is_taken_whole_into_the_draft(
    page, live_server, login, make_user, donor, eager_tasks, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.TREE_PROPOSAL_ON_INGEST = True
    radiologist = make_user("radiologist", username="rad")
    truth = phantom(tmp_path / "mrcp", donor=donor, slices=40, size=160, pixel_spacing=(1.6, 1.6))
    with django_capture_on_commit_callbacks(execute=True):
        services.create_upload(
            actor=Actor(user=radiologist),
            donor=donor,
            files=[services.Incoming(p.name, p.stat().st_size, p) for p in truth.paths],
        )
    proposal = TreeProposal.objects.get()
    assert proposal.state == "ready", proposal.reason
    uncertain = [d for d, c in proposal.duct_confidence.items() if c < 0.6 or proposal.junction_confidence[d] < 0.6]

    login("rad")
    page.goto(f"{live_server.url}/anatomy/donors/{donor.pk}/")
    panel = page.locator("[data-testid=tree-proposal]")
    panel.wait_for()
    overlay = panel.locator("[data-testid=tree-overlay] svg")
    assert overlay.is_visible()
    assert overlay.locator("polyline").count() == len(proposal.centrelines)
    assert overlay.locator("polyline[stroke-dasharray]").count() == len(uncertain)
    # The MIP under the drawing loaded (served through the permission-checked view).
    assert (
        page.evaluate(
            "fetch(document.querySelector('[data-testid=tree-overlay] image').getAttribute('href')).then(r => r.status)"
        )
        == 200
    )
    assert panel.locator("[data-testid=uncertain]").count() == len(uncertain)
    # Beside the editor, not under it: to its right, starting above the editor's bottom.
    editor, beside = page.locator(".ducts-card").bounding_box(), panel.bounding_box()
    assert beside["x"] >= editor["x"] + editor["width"] and beside["y"] < editor["y"] + editor["height"]
    assert overlapping_labels(page, "[data-testid=tree-overlay] svg text") == []

    # Taking nothing is refused in the error summary, which takes the focus and leads to the tick boxes.
    panel.locator("[data-testid=take-chosen]").click()
    summary = page.locator("[data-testid=error-summary]")
    summary.wait_for()
    assert "Ducts to take: choose at least one duct" in summary.text_content()
    assert page.evaluate("document.activeElement.dataset.testid") == "error-summary"
    summary.locator("a").click()
    assert page.evaluate("document.activeElement.name") == "ducts"
    assert not Annotation.objects.filter(donor=donor).exists()

    page.locator("[data-testid=tree-proposal] [data-testid=take-all]").click()
    page.wait_for_load_state("networkidle")
    page.locator(".messages").filter(has_text="Took the whole proposal").wait_for()
    # The editor now holds the proposed ducts, and the panel says each came from the proposal.
    page.locator("#ducts tr[data-duct=RHD]").wait_for()
    assert panel.locator("[data-testid=in-draft]", has_text="taken").count() == len(proposal.document["ducts"])
    annotation = Annotation.objects.get(donor=donor)
    assert annotation.document == proposal.document and annotation.state == "draft"
    assert set(annotation.provenance["ducts"]) == {d["id"] for d in proposal.document["ducts"]}
    page.screenshot(path=str(tmp_path / "proposal.png"), full_page=True)

    # The viewer draws the same ducts over its MIP, the uncertain ones dashed, and hides them on request.
    page.goto(f"{live_server.url}/imaging/series/{proposal.series_id}/")
    page.click("#mode-mip")
    drawn = page.locator("#overlay [data-testid=tree-duct]")
    drawn.first.wait_for()
    assert drawn.count() == len(proposal.centrelines)
    assert page.locator("#overlay [data-testid=tree-duct] polyline[stroke-dasharray]").count() == len(uncertain)
    assert page.locator("#overlay [data-duct=RHD] text").text_content().startswith("RHD ")
    assert overlapping_labels(page, "#overlay [data-testid=tree-duct] text") == []
    page.screenshot(path=str(tmp_path / "viewer.png"))
    page.uncheck("#show-tree")
    assert drawn.count() == 0


def overlapping_labels(page, selector: str) -> list[tuple[str, str]]:
    """The pairs of labels whose drawn boxes cover one another."""
    return page.evaluate(
        """(selector) => {
            const texts = [...document.querySelectorAll(selector)];
            const boxes = texts.map((t) => [t.textContent, t.getBoundingClientRect()]);
            const pairs = [];
            for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
                const [a, p] = boxes[i], [b, q] = boxes[j];
                const across = Math.min(p.right, q.right) - Math.max(p.left, q.left);
                const down = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
                if (across > 0.5 && down > 0.5) pairs.push([a, b]);
            }
            return pairs;
        }""",
        selector,
    )
