"""The DICOM node: a storage SCP that PACS and scanners send studies to (C-STORE), and C-ECHO.

* Only registered peers (`DicomPeer`: calling AE title, and host when one is given) may associate;
  any other association is rejected ("calling AE title not recognised") and the refusal is audited.
* Each C-STORE is checked by the same strict reader as uploads, written to its own file and
  fsynced before success is answered; a file the reader refuses gets a failure status with the
  reason in the Error Comment. Nothing of the association is held in memory but the current dataset.
* When the association ends, what it delivered becomes an upload (one per patient in it) in the
  usual import: duplicates by SOP Instance UID, per-file report, audit events, MIP.

Accepted sockets get TCP_NODELAY: without it every small C-STORE response waits for the peer's
delayed acknowledgement (about 40 ms per instance).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import close_old_connections, connection
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.uid import (
    UID,
    AllTransferSyntaxes,
    DeflatedExplicitVRLittleEndian,
    EnhancedMRColorImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    LegacyConvertedEnhancedMRImageStorage,
    MRImageStorage,
    MRSpectroscopyStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    SecondaryCaptureImageStorage,
)
from pynetdicom import AE, evt
from pynetdicom.acse import ACSE
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer

from . import services
from .dicom import DicomRejected, read_instance
from .models import DicomPeer

log = logging.getLogger(__name__)

STORAGE_CLASSES = [
    MRImageStorage,
    EnhancedMRImageStorage,
    EnhancedMRColorImageStorage,
    LegacyConvertedEnhancedMRImageStorage,
    MRSpectroscopyStorage,
    SecondaryCaptureImageStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
]

VERIFICATION = UID("1.2.840.10008.1.1")  # C-ECHO

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000  # "cannot understand": the reader refuses the file
PROCESSING_FAILURE = 0x0110


def transfer_syntaxes() -> list[UID]:
    """The syntaxes the reader decodes: the native ones, and each compressed one with a decoder here."""
    native = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian]
    compressed: list[UID] = []
    for syntax in AllTransferSyntaxes:
        if not UID(syntax).is_encapsulated:
            continue
        try:
            if get_decoder(syntax).is_available:
                compressed.append(syntax)
        except NotImplementedError:
            continue
    return native + compressed


def _failure(status: int, reason: str) -> Dataset:
    answer = Dataset()
    answer.Status = status
    answer.ErrorComment = reason[:64]  # LO: at most 64 characters
    return answer


@dataclass
class Delivery:
    """What one association has delivered so far."""

    peer: DicomPeer
    address: str
    folder: str
    received: list[services.Received] = field(default_factory=list)
    refused: list[services.Refused] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def report_name(self, sop_instance_uid: str) -> str:
        """The file's line in the upload's report: its SOP Instance UID (numbered when sent twice)."""
        base = f"{sop_instance_uid[:64]}.dcm"
        name, number = base, 2
        while name in self.names:
            name, number = f"{base} ({number})", number + 1
        self.names.add(name)
        return name


def _allowed_addresses(host: str) -> set[str]:
    addresses = {host}
    with contextlib.suppress(OSError):  # an unresolvable name matches only itself
        addresses |= {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    return addresses


def check_peer(calling_ae: str, address: str) -> tuple[DicomPeer | None, str]:
    """The registered peer for this calling AE title and address, or why it is refused."""
    title = (calling_ae or "").strip()
    peer = DicomPeer.objects.filter(ae_title=title).select_related("centre").first() if title else None
    if peer is None:
        return None, "calling AE title not registered"
    if peer.host and address not in _allowed_addresses(peer.host):
        return None, f"calling AE title registered for host {peer.host}, not this address"
    return peer, ""


class PeerCheckingACSE(ACSE):
    """Rejects an association whose calling AE title (and address) is not a registered peer."""

    def _negotiate_as_acceptor(self) -> None:
        calling = str(self.requestor.primitive.calling_ae_title or "")  # type: ignore[union-attr]
        address = getattr(self.assoc, "peer_address", "")
        try:
            peer, reason = check_peer(calling, address)
            if peer is None:
                services.record_refused_association(calling_ae=calling, address=address, reason=reason)
        finally:
            close_old_connections()
        if peer is None:
            log.warning("refused association from %r at %s: %s", calling, address, reason)
            self.requestor.ae_title = calling
            self.send_reject(0x01, 0x01, 0x03)  # rejected-permanent, service user, calling AE not recognised
            evt.trigger(self.assoc, evt.EVT_REJECTED, {})
            self.assoc.kill()
            return
        self.assoc.dicom_peer = peer  # type: ignore[attr-defined]
        super()._negotiate_as_acceptor()


class NoDelayRequestHandler(RequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(OSError):  # not a TCP socket: nothing to tune
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()

    def _create_association(self):
        assoc = super()._create_association()
        assoc.peer_address = str(self.client_address[0])  # type: ignore[attr-defined]
        assoc.acse = PeerCheckingACSE(assoc)
        return assoc


class StorageNode:
    """The storage SCP; `serve()` blocks, `start()` runs it in a thread (tests, bench)."""

    def __init__(self, *, ae_title: str | None = None, port: int | None = None, bind: str = ""):
        self.ae_title = ae_title or settings.DICOM_AE_TITLE
        self.port = settings.DICOM_PORT if port is None else port
        self.bind = bind
        self.ae = AE(ae_title=self.ae_title)
        self.ae.maximum_associations = 20
        # Large PDUs: a 300 kB instance in a few PDUs rather than twenty (dcmtk sends at most 128 kB each).
        self.ae.maximum_pdu_size = 1024 * 1024
        self.ae.network_timeout = 60
        self.ae.dimse_timeout = 60
        syntaxes = transfer_syntaxes()
        for sop_class in STORAGE_CLASSES:
            self.ae.add_supported_context(sop_class, syntaxes)
        self.ae.add_supported_context(VERIFICATION)
        self.server: ThreadedAssociationServer | None = None

    def handlers(self) -> list:
        return [
            (evt.EVT_C_ECHO, self._echo),
            (evt.EVT_C_STORE, self._store),
            (evt.EVT_RELEASED, self._finished),
            (evt.EVT_ABORTED, self._finished),
        ]

    def _make_server(self) -> ThreadedAssociationServer:
        server = self.ae.make_server(
            (self.bind, self.port),
            ae_title=self.ae_title,
            evt_handlers=self.handlers(),
            server_class=ThreadedAssociationServer,
            request_handler=NoDelayRequestHandler,
        )
        self.ae._servers.append(server)
        self.port = server.server_address[1]
        return server

    def start(self) -> int:
        """Listen in a background thread; returns the port (useful with port 0)."""
        self.server = self._make_server()
        threading.Thread(target=self.server.serve_forever, name="dicom-node", daemon=True).start()
        return self.port

    def serve(self) -> None:
        self.server = self._make_server()
        self.server.serve_forever()

    def stop(self, *, wait: float = 30.0) -> None:
        """Stop listening, let the associations under way end (and file what they delivered), then stop."""
        if self.server is not None:
            self.server.shutdown()
        deadline = time.monotonic() + wait
        while self.ae.active_associations and time.monotonic() < deadline:
            time.sleep(0.05)
        self.ae.shutdown()

    # ------------------------------------------------------------------ the services

    def _echo(self, event) -> int:
        return SUCCESS

    def _delivery(self, assoc) -> Delivery | None:
        delivery = getattr(assoc, "delivery", None)
        if delivery is None:
            peer = getattr(assoc, "dicom_peer", None)
            if peer is None:
                return None
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            folder = f"imaging/received/{stamp}-{uuid.uuid4().hex[:12]}"
            os.makedirs(default_storage.path(folder), exist_ok=True)
            delivery = Delivery(peer=peer, address=getattr(assoc, "peer_address", ""), folder=folder)
            assoc.delivery = delivery
        return delivery

    def _store(self, event):
        delivery = self._delivery(event.assoc)
        if delivery is None:  # pragma: no cover - negotiation refuses such associations
            return _failure(PROCESSING_FAILURE, "association of an unregistered peer")
        with delivery.lock:
            index = len(delivery.received) + len(delivery.refused)
            name = delivery.report_name(str(getattr(event.request, "AffectedSOPInstanceUID", "") or index))
            if len(delivery.received) >= settings.DICOM_MAX_FILES:
                reason = f"not stored: more than {settings.DICOM_MAX_FILES} files in the association"
                delivery.refused.append(services.Refused(name=name, size=0, reason=reason))
                return _failure(OUT_OF_RESOURCES, reason)
            data = event.encoded_dataset()
            limit = settings.DICOM_MAX_FILE_BYTES
            try:
                if len(data) > limit:
                    raise DicomRejected(f"file too large ({len(data)} bytes; the limit is {limit})", name)
                header, _ = read_instance(data, name=name)
            except DicomRejected as refused:
                delivery.refused.append(services.Refused(name=name, size=len(data), reason=refused.reason))
                log.info("refused C-STORE %s from %s: %s", name, delivery.peer.ae_title, refused.reason)
                return _failure(CANNOT_UNDERSTAND, refused.reason)
            path = f"{delivery.folder}/{index:05d}.dcm"
            try:
                _write_durably(default_storage.path(path), data)
                _sync_folder(default_storage.path(delivery.folder))  # the file's name is durable too
            except OSError as error:
                reason = f"could not store the file ({error.strerror})"
                delivery.refused.append(services.Refused(name=name, size=len(data), reason=reason))
                return _failure(OUT_OF_RESOURCES, reason)
            delivery.received.append(
                services.Received(path=path, name=name, size=len(data), patient_id=header.patient_id)
            )
        return SUCCESS

    def _finished(self, event) -> None:
        """The association ended (released, or aborted after some files were answered): import them."""
        delivery = getattr(event.assoc, "delivery", None)
        event.assoc.delivery = None
        if delivery is None or not (delivery.received or delivery.refused):
            return
        try:
            services.file_received(
                peer=delivery.peer, address=delivery.address, files=delivery.received, refused=delivery.refused
            )
        except Exception:  # the files are stored; log so that they can be imported by hand
            log.exception("could not file the %d file(s) in %s", len(delivery.received), delivery.folder)
        finally:
            connection.close()


def _write_durably(path: str, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        view = memoryview(data)
        while view:
            written = os.write(descriptor, view)
            view = view[written:]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sync_folder(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
