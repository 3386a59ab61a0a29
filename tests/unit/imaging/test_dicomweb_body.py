"""Which stream a STOW body is read from: a chunked body (Orthanc sends one) has no Content-Length."""

from __future__ import annotations

import io

import pytest
from django.core.handlers.wsgi import WSGIRequest

from imaging.dicomweb.views import LengthRequired, request_body

BODY = b"--b\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--b--\r\n"


def _request(**environ) -> WSGIRequest:
    base = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/dicom-web/studies",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(BODY),
    }
    return WSGIRequest(base | environ)


def test_a_body_with_a_length_is_read_through_the_request():
    assert request_body(_request(CONTENT_LENGTH=str(len(BODY)))).read() == BODY


def test_a_chunked_body_the_server_has_undone_is_read_to_its_end():
    # gunicorn decodes the chunks and marks its input as ending where the body ends
    found = request_body(_request(HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input_terminated": True}))
    assert found.read() == BODY


def test_a_chunked_body_the_server_cannot_end_asks_for_a_length():
    # Without the mark Django would read nothing and the store would see an empty body
    assert _request(HTTP_TRANSFER_ENCODING="chunked").read() == b""
    with pytest.raises(LengthRequired) as refused:
        request_body(_request(HTTP_TRANSFER_ENCODING="chunked"))
    assert refused.value.status_code == 411
    assert "Content-Length" in str(refused.value.detail)
