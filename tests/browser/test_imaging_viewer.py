"""A radiologist uploads a zipped MRCP, watches the progress bar, opens the viewer, scrolls,
switches to the MIP and measures a duct whose length is known."""

from __future__ import annotations

import re

import pytest

from imaging.dicom import patient_to_pixel, write_zip
from imaging.models import Measurement, Series, Upload
from imaging.slices import geometry_of, slice_at
from tests.browser.conftest import wait_until
from tests.factories import DonorFactory
from tests.integration.imaging_support import phantom

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def test_upload_view_and_measure(page, live_server, login, make_user, centre, tmp_path, eager_tasks):
    donor = DonorFactory(centre=centre, code="BR-MRCP")
    truth = phantom(tmp_path / "series", donor=donor, slices=36, size=160)
    archive = write_zip(truth.paths, tmp_path / "mrcp.zip")
    make_user("radiologist", username="rad")
    login("rad")

    page.goto(f"{live_server.url}/donors/{donor.pk}/")
    page.click("#mrcp-section >> text=Upload DICOM")
    page.wait_for_url(f"**/imaging/donors/{donor.pk}/upload/")
    page.set_input_files("#files", str(archive))
    page.click("#upload-button")
    page.wait_for_selector("#progress-label[data-done='1']", timeout=60000)
    assert page.get_attribute("#progress", "value") == "100"
    assert page.inner_text("#result-counts").startswith("36 accepted · 0 already stored · 0 rejected")
    # The upload just finished is listed with the earlier ones, as imported.
    (upload,) = Upload.objects.filter(donor=donor)
    row = page.locator(f"#uploads tr[data-upload='{upload.pk}']")
    assert "Imported" in row.inner_text() and "36" in row.inner_text()

    page.click("[data-testid=series-link]")
    page.wait_for_url("**/imaging/series/*/")
    wait_until(page, "document.querySelector('#picture').naturalWidth > 0")
    assert page.inner_text("[data-testid=slice-label]") == "18 / 36"
    # The image has the keys as soon as the page opens: no click first.
    assert page.evaluate("document.activeElement.id") == "stage"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    wait_until(page, "document.querySelector('[data-testid=slice-label]').textContent === '20 / 36'")
    wait_until(page, "document.querySelector('#picture').src.includes('/slices/19.png')")
    page.mouse.move(*centre_of(page))
    page.mouse.wheel(0, 120)
    wait_until(page, "document.querySelector('[data-testid=slice-label]').textContent === '21 / 36'")

    # Window/level follows a right-button drag.
    before = page.input_value("#ww")
    x, y = centre_of(page)
    page.mouse.move(x, y)
    page.mouse.down(button="right")
    page.mouse.move(x + 60, y, steps=4)
    page.mouse.up(button="right")
    assert int(page.input_value("#ww")) > int(before)

    page.click("#mode-mip")
    wait_until(page, "document.querySelector('#picture').src.includes('mip.png')")
    assert [page.inner_text(f"[data-testid=marker-{edge}]") for edge in ("top", "left")] == ["H", "R"]
    page.click("#mode-measure")
    series = Series.objects.get(study__donor=donor)
    geometry = geometry_of(series.instances.get(slice_index=0))
    duct = truth.ducts["RPHD"]
    box = page.locator("#picture").bounding_box()
    rows, cols = series.mip_shape
    for end in (duct.start, duct.end):
        row, col, _ = patient_to_pixel(geometry, end)
        page.mouse.click(box["x"] + (col + 0.5) / cols * box["width"], box["y"] + (row + 0.5) / rows * box["height"])
    wait_until(page, "document.querySelector('[data-testid=distance]').textContent.endsWith('mm')")
    shown = float(re.match(r"([\d.]+) mm", page.inner_text("[data-testid=distance]")).group(1))
    assert abs(shown - duct.length_mm) <= 2 * max(truth.pixel_spacing), (shown, duct.length_mm)

    page.fill("#measurement-label", "RPHD")
    page.click("#save-button")
    page.wait_for_selector("[data-testid=measurements] tr[data-points] >> text=RPHD")
    saved = Measurement.objects.get()
    assert saved.label == "RPHD" and saved.kind == "mip" and saved.series == series
    # The saved measurement is drawn on the picture with its label and length.
    label = page.locator("[data-testid=saved-measure] text").text_content()
    assert label == f"RPHD {saved.length_mm:.1f} mm"
    page.screenshot(path=str(tmp_path / "viewer.png"))


def test_the_viewer_takes_the_keys_at_once_and_focusing_places_no_point(
    page, live_server, login, make_user, centre, tmp_path, eager_tasks
):
    """Arrow keys scroll right after the page opens; clicking or tabbing to the image only focuses it;
    the edges carry the patient's directions and a scale bar in mm is drawn; the viewer and the
    anatomy page link to each other."""
    from classification.models import Annotation
    from core.audit import Actor
    from imaging import jobs, services
    from imaging.dicom import write_zip

    donor = DonorFactory(centre=centre, code="BR-KEYS")
    truth = phantom(tmp_path / "series", donor=donor, slices=24, size=96)
    radiologist = make_user("radiologist", username="rad")
    archive = write_zip(truth.paths, tmp_path / "mrcp.zip")
    upload = services.create_upload(
        actor=Actor(user=radiologist, channel="command"),
        donor=donor,
        channel="command",
        files=[services.Incoming("mrcp.zip", archive.stat().st_size, archive)],
    )
    jobs.ingest_upload(upload_id=upload.pk, channel="command")
    series = Series.objects.get(study__donor=donor)
    login("rad")

    page.goto(f"{live_server.url}/imaging/series/{series.pk}/")
    wait_until(page, "document.querySelector('#picture').naturalWidth > 0")
    assert page.inner_text("[data-testid=slice-label]") == "12 / 24"
    page.keyboard.press("ArrowDown")
    wait_until(page, "document.querySelector('[data-testid=slice-label]').textContent === '13 / 24'")
    page.keyboard.press("End")
    wait_until(page, "document.querySelector('#picture').src.includes('/slices/23.png')")
    page.keyboard.press("Home")
    wait_until(page, "document.querySelector('[data-testid=slice-label]').textContent === '1 / 24'")

    # The phantom is coronal: head at the top, the patient's right on the viewer's left.
    markers = {edge: page.inner_text(f"[data-testid=marker-{edge}]") for edge in ("top", "bottom", "left", "right")}
    assert markers == {"top": "H", "bottom": "F", "left": "R", "right": "L"}
    bar = page.locator("[data-testid=scale-bar] text")
    assert re.fullmatch(r"\d+ mm", bar.text_content() or ""), bar.text_content()
    assert page.inner_text("[data-testid=overlay-notes]") == ""

    # Clicking the image or tabbing back to it focuses it and places no point.
    page.click("#slice-label")
    x, y = centre_of(page)
    page.mouse.click(x, y)
    assert page.evaluate("document.activeElement.id") == "stage"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "stage"
    assert page.inner_text("#point-a") == "click on the image"
    assert page.locator("#overlay circle").count() == 0
    # In measure mode a click does place a point.
    page.click("#mode-measure")
    page.mouse.click(x, y)
    assert page.locator("#overlay circle").count() == 1
    assert page.inner_text("#point-a").startswith("slice 1,")

    # The viewer leads to this donor's anatomy, which is recorded as read on this series and leads back.
    page.click("[data-testid=record-anatomy]")
    page.wait_for_url(f"**/anatomy/donors/{donor.pk}/")
    page.select_option("#preset", "typical_right_lobe")
    page.click("#load-preset")
    page.locator("[data-testid=proposed-type]").filter(has_text="1").wait_for()
    page.select_option("[data-testid=anatomy-series]", str(series.pk))
    page.click("button:has-text('Save anatomy')")
    page.wait_for_load_state("networkidle")
    assert page.input_value("[data-testid=anatomy-series]") == str(series.pk)
    assert Annotation.objects.get(donor=donor).study_uid == series.study.study_instance_uid
    page.click("[data-testid=open-series]")
    page.wait_for_url(f"**/imaging/series/{series.pk}/")


def test_a_series_without_pixel_spacing_is_shown_without_a_scale_bar_and_refuses_measuring(
    page, live_server, login, make_user, centre, tmp_path, eager_tasks
):
    import pydicom

    from core.audit import Actor
    from imaging import jobs, services

    donor = DonorFactory(centre=centre, code="BR-NOSPACING")
    truth = phantom(tmp_path / "series", donor=donor, slices=12, size=64)
    for path in truth.paths:
        dataset = pydicom.dcmread(path)
        del dataset.PixelSpacing
        dataset.save_as(path, enforce_file_format=True)
    radiologist = make_user("radiologist", username="rad")
    archive = write_zip(truth.paths, tmp_path / "mrcp.zip")
    upload = services.create_upload(
        actor=Actor(user=radiologist, channel="command"),
        donor=donor,
        channel="command",
        files=[services.Incoming("mrcp.zip", archive.stat().st_size, archive)],
    )
    jobs.ingest_upload(upload_id=upload.pk, channel="command")
    series = Series.objects.get(study__donor=donor)
    login("rad")

    page.goto(f"{live_server.url}/imaging/series/{series.pk}/")
    wait_until(page, "document.querySelector('#picture').naturalWidth > 0")
    assert page.locator("[data-testid=scale-bar]").count() == 0
    assert "no usable pixel spacing" in page.inner_text("[data-testid=overlay-notes]")
    assert "Pixel Spacing (0028,0030)" in page.inner_text("[data-testid=not-measurable]")
    page.click("#mode-mip")
    wait_until(page, "document.querySelector('#picture').src.includes('mip.png')")
    wait_until(page, "document.querySelector('#picture').naturalWidth > 0")
    assert page.locator("[data-testid=scale-bar]").count() == 0
    page.click("#mode-measure")
    x, y = centre_of(page)
    page.mouse.click(x - 10, y - 10)
    page.mouse.click(x + 10, y + 10)
    wait_until(page, "document.querySelector('#measure-errors').textContent.includes('Pixel Spacing (0028,0030)')")
    assert page.inner_text("[data-testid=distance]") == "—"
    assert not Measurement.objects.exists()


def centre_of(page):
    box = page.locator("#picture").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_an_enhanced_mr_study_is_scrolled_projected_and_measured(
    page, live_server, login, make_user, centre, tmp_path, eager_tasks
):
    """One Enhanced MR file holds the whole series: uploaded from the page, its frames are the slices
    the viewer scrolls, its MIP is shown and a duct is measured on it."""
    donor = DonorFactory(centre=centre, code="BR-ENH")
    truth = phantom(tmp_path / "series", donor=donor, slices=30, size=128, enhanced=True)
    (enhanced,) = truth.paths
    make_user("radiologist", username="rad")
    login("rad")

    page.goto(f"{live_server.url}/imaging/donors/{donor.pk}/upload/")
    page.set_input_files("#files", str(enhanced))
    page.click("#upload-button")
    page.wait_for_selector("#progress-label[data-done='1']", timeout=60000)
    assert page.inner_text("#result-counts").startswith("1 accepted · 0 already stored · 0 rejected")
    page.click("[data-testid=series-link]")
    page.wait_for_url("**/imaging/series/*/")
    wait_until(page, "document.querySelector('#picture').naturalWidth > 0")
    assert page.inner_text("[data-testid=slice-label]") == "15 / 30"
    assert "30 slices in 1 file" in page.inner_text("body")

    # Scrolling walks the frames of the one file: each a picture of its own.
    seen = {page.evaluate("document.querySelector('#picture').src")}
    pictures = {page.locator("#picture").screenshot()}
    for expected in ("16 / 30", "17 / 30"):
        page.keyboard.press("ArrowDown")
        wait_until(page, f"document.querySelector('[data-testid=slice-label]').textContent === '{expected}'")
        index = int(expected.split(" ")[0]) - 1
        wait_until(page, f"document.querySelector('#picture').src.includes('/slices/{index}.png')")
        wait_until(page, "document.querySelector('#picture').complete")
        seen.add(page.evaluate("document.querySelector('#picture').src"))
        pictures.add(page.locator("#picture").screenshot())
    assert len(seen) == 3 and len(pictures) == 3
    page.keyboard.press("End")
    wait_until(page, "document.querySelector('#picture').src.includes('/slices/29.png')")

    page.click("#mode-mip")
    wait_until(page, "document.querySelector('#picture').src.includes('mip.png')")
    wait_until(page, "document.querySelector('#picture').naturalWidth > 0")
    page.click("#mode-measure")
    series = Series.objects.get(study__donor=donor)
    assert (series.instance_count, series.slice_count) == (1, 30)
    geometry = geometry_of(*slice_at(series, 0))
    duct = truth.ducts["RPHD"]
    box = page.locator("#picture").bounding_box()
    rows, cols = series.mip_shape
    for end in (duct.start, duct.end):
        row, col, _ = patient_to_pixel(geometry, end)
        page.mouse.click(box["x"] + (col + 0.5) / cols * box["width"], box["y"] + (row + 0.5) / rows * box["height"])
    wait_until(page, "document.querySelector('[data-testid=distance]').textContent.endsWith('mm')")
    shown = float(re.match(r"([\d.]+) mm", page.inner_text("[data-testid=distance]")).group(1))
    assert abs(shown - duct.length_mm) <= 2 * max(truth.pixel_spacing), (shown, duct.length_mm)
    page.fill("#measurement-label", "RPHD")
    page.click("#save-button")
    page.wait_for_selector("[data-testid=measurements] tr[data-points] >> text=RPHD")
    saved = Measurement.objects.get()
    assert saved.kind == "mip" and saved.series == series
