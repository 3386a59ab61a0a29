"""A radiologist uploads a zipped MRCP, watches the progress bar, opens the viewer, scrolls,
switches to the MIP and measures a duct whose length is known."""

from __future__ import annotations

import re

import pytest

from imaging.dicom import patient_to_pixel, write_zip
from imaging.models import Measurement, Series, Upload
from imaging.slices import geometry_of
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
    page.focus("#stage")
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
    page.screenshot(path=str(tmp_path / "viewer.png"))


def centre_of(page):
    box = page.locator("#picture").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
