from django.core.management import call_command


def test_schema_generates_without_warnings(tmp_path, db):
    out = tmp_path / "schema.yml"
    # --fail-on-warn turns every drf-spectacular warning into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/donors/" in text and "clientToken" in text


def test_schema_and_docs_are_served(client, db):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
