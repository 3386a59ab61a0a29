import yaml
from django.core.management import call_command


def test_schema_generates_without_warnings(tmp_path, db):
    out = tmp_path / "schema.yml"
    # --fail-on-warn turns every drf-spectacular warning into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/donors/" in text and "clientToken" in text
    # Lists say how far their count is exact.
    page = yaml.safe_load(text)["components"]["schemas"]["PaginatedDonorOutList"]
    assert {"count", "count_exact", "results"} <= set(page["required"])
    assert page["properties"]["count_exact"]["type"] == "boolean"
    assert "stops 10 pages past the page asked for" in page["properties"]["count"]["description"]


def test_schema_and_docs_are_served_to_a_logged_in_user_or_a_token_only(client, db, centre, make_user):
    from rest_framework.test import APIClient

    from core.tokens import issue_api_client

    assert client.get("/api/schema/").status_code in (401, 403)
    assert client.get("/api/docs/").status_code in (401, 403)

    _, key = issue_api_client(centre=centre, name="HIS")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/schema/").status_code == 200

    client.force_login(make_user("coordinator"))
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    # Swagger UI comes from the app's own static files (works without internet), no inline script.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "@latest" not in page
    assert "<script>" not in page
    start_up = client.get("/api/docs/?script=")
    assert start_up.status_code == 200 and start_up["Content-Type"].startswith("application/javascript")
