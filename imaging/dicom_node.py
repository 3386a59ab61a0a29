"""The DICOM node: a storage SCP that PACS and scanners send studies to (C-STORE), and C-ECHO.

* Only registered peers (`DicomPeer`: calling AE title, and host when one is given) may associate;
  any other association is rejected ("calling AE title not recognised") and the refusal is audited.
* Each C-STORE is checked by the same strict reader as uploads and written to its own file, and
  success is answered only once the file is durable (see `DurableFolder`); a file the reader
  refuses gets a failure status with the reason in the Error Comment. Nothing of the association
  is held in memory but the current dataset, the headers read and each series' running MIP.
* When the association ends, each study it delivered becomes an upload (routed on its own by its
  Patient ID) in the usual import: duplicates by SOP Instance UID, per-file report, audit events,
  MIP. The node imports them itself, at once, with the headers and MIPs it built while the files
  arrived (`node_import`); what it cannot finish is queued for the worker.

The network side (`dicom_link`) is pynetdicom with fewer thread hand-offs per C-STORE.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import pydicom
from django.conf import settings
from django.core.files.base import ContentFile
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
from pynetdicom.transport import ThreadedAssociationServer

from . import ingest, services
from .dicom import DicomRejected, read_instance
from .dicom_link import QuickRequestHandler, stored_file
from .models import DicomPeer
from .node_import import Arrivals, import_arrivals
from .storage import has_local_paths

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


Checked = TypeVar("Checked")


class DurableFolder:
    """An association's files, each durable on disk when its C-STORE is answered.

    A new file is durable once its data and its name are: an fsync of the file, and one of the
    folder that holds its name. Names are made ahead in batches (created empty, then one fsync of
    the folder for the batch), so a C-STORE costs one fsync, the file's; and the reader checks the
    file while the disk syncs it. The names left unused are removed when the association ends.
    """

    BATCH = 32

    def __init__(self, folder: str, syncer: ThreadPoolExecutor):
        self.folder = folder
        self.syncer = syncer
        self.made = 0  # names 0 .. made-1 exist and are durable
        self.used: set[int] = set()
        made: list[str] = []
        missing = folder
        while not os.path.isdir(missing):
            made.append(missing)
            missing = os.path.dirname(missing)
        os.makedirs(folder, exist_ok=True)
        for created in made:  # the name of each folder made here
            _sync_folder(os.path.dirname(created))

    def path(self, index: int) -> str:
        return os.path.join(self.folder, f"{index:05d}.dcm")

    def _make_names(self, index: int) -> None:
        if index < self.made:
            return
        end = max(index + 1, self.made + self.BATCH)
        for number in range(self.made, end):
            os.close(os.open(self.path(number), os.O_WRONLY | os.O_CREAT, 0o640))
        _sync_folder(self.folder)
        self.made = end

    def write(self, index: int, data: bytes, check: Callable[[], Checked]) -> Checked:
        """Write the file durably, running `check` meanwhile; `check`'s result, or what it raised
        (the file is then dropped). OSError if the file could not be stored."""
        self._make_names(index)
        descriptor = os.open(self.path(index), os.O_WRONLY | os.O_TRUNC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            syncing = self.syncer.submit(os.fsync, descriptor)
            try:
                checked = check()
            finally:
                syncing.result()
        finally:
            os.close(descriptor)
        self.used.add(index)
        return checked

    def close(self) -> None:
        """Remove the names made ahead and not used (and the files refused after writing)."""
        for number in range(self.made):
            if number not in self.used:
                with contextlib.suppress(OSError):
                    os.unlink(self.path(number))


class ObjectFolder:
    """An association's files in an object store (no local paths): each is stored by one PUT of the
    whole object, answered only once the store has it, so the file is durable when its C-STORE is
    answered, as with `DurableFolder`. The reader checks the file while it is sent."""

    def __init__(self, folder: str, syncer: ThreadPoolExecutor):
        self.folder = folder
        self.syncer = syncer

    def name(self, index: int) -> str:
        return f"{self.folder}/{index:05d}.dcm"

    def write(self, index: int, data: bytes, check: Callable[[], Checked]) -> Checked:
        name = self.name(index)
        storing = self.syncer.submit(default_storage.save, name, ContentFile(data))
        try:
            checked = check()
        except BaseException:
            with contextlib.suppress(Exception):
                default_storage.delete(storing.result())
            raise
        try:
            stored = storing.result()
        except Exception as error:
            raise OSError(errno.EIO, f"the object store refused it: {error}") from error
        if stored != name:  # pragma: no cover - the folder is new, so the name is free
            default_storage.delete(stored)
            raise OSError(errno.EEXIST, f"{name} exists already")
        return checked

    def close(self) -> None:
        """Nothing to tidy: no names are made ahead in an object store."""


@dataclass
class Delivery:
    """What one association has delivered so far."""

    peer: DicomPeer
    address: str
    folder: str  # in the default storage
    files: DurableFolder | ObjectFolder
    received: list[services.Received] = field(default_factory=list)
    refused: list[services.Refused] = field(default_factory=list)
    arrivals: Arrivals = field(default_factory=Arrivals)
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


class NodeRequestHandler(QuickRequestHandler):
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
        # fsyncs run here while the reader checks the file (fsync lets other threads run)
        self.syncer = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dicom-fsync")

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
            request_handler=NodeRequestHandler,
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
        self.syncer.shutdown()

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
            files: DurableFolder | ObjectFolder = (
                DurableFolder(default_storage.path(folder), self.syncer)
                if has_local_paths()
                else ObjectFolder(folder, self.syncer)
            )
            delivery = Delivery(peer=peer, address=getattr(assoc, "peer_address", ""), folder=folder, files=files)
            assoc.delivery = delivery
        return delivery

    def _store(self, event):
        try:
            delivery = self._delivery(event.assoc)
        except OSError as error:
            return _failure(OUT_OF_RESOURCES, f"could not store the file ({error.strerror})")
        if delivery is None:  # pragma: no cover - negotiation refuses such associations
            return _failure(PROCESSING_FAILURE, "association of an unregistered peer")
        with delivery.lock:
            index = len(delivery.received) + len(delivery.refused)
            name = delivery.report_name(str(getattr(event.request, "AffectedSOPInstanceUID", "") or index))
            if len(delivery.received) >= settings.DICOM_MAX_FILES:
                reason = f"not stored: more than {settings.DICOM_MAX_FILES} files in the association"
                delivery.refused.append(services.Refused(name=name, size=0, reason=reason))
                return _failure(OUT_OF_RESOURCES, reason)
            data = stored_file(event)
            limit = settings.DICOM_MAX_FILE_BYTES
            try:
                if len(data) > limit:
                    raise DicomRejected(f"file too large ({len(data)} bytes; the limit is {limit})", name)
                header, pixels = delivery.files.write(index, data, lambda: read_instance(data, name=name))
            except DicomRejected as refused:
                study = _study_of(data)
                delivery.refused.append(
                    services.Refused(name=name, size=len(data), reason=refused.reason, study_instance_uid=study)
                )
                log.info("refused C-STORE %s from %s: %s", name, delivery.peer.ae_title, refused.reason)
                return _failure(CANNOT_UNDERSTAND, refused.reason)
            except OSError as error:
                reason = f"could not store the file ({error.strerror})"
                delivery.refused.append(services.Refused(name=name, size=len(data), reason=reason))
                return _failure(OUT_OF_RESOURCES, reason)
            path = f"{delivery.folder}/{index:05d}.dcm"
            delivery.arrivals.add(path, header, pixels)
            delivery.received.append(
                services.Received(
                    path=path,
                    name=name,
                    size=len(data),
                    patient_id=header.patient_id,
                    study_instance_uid=header.study_instance_uid,
                )
            )
        return SUCCESS

    def _finished(self, event) -> None:
        """The association ended (released, or aborted after some files were answered): file each
        study it delivered as an upload and import them here (the worker takes over what fails)."""
        delivery = getattr(event.assoc, "delivery", None)
        event.assoc.delivery = None
        if delivery is None:
            return
        delivery.files.close()
        if not (delivery.received or delivery.refused):
            return
        try:
            uploads = services.file_received(
                peer=delivery.peer,
                address=delivery.address,
                files=delivery.received,
                refused=delivery.refused,
                queue_import=False,
            )
        except Exception:  # the files are stored; log so that they can be imported by hand
            log.exception("could not file the %d file(s) in %s", len(delivery.received), delivery.folder)
            connection.close()
            return
        try:
            for upload in uploads:
                _import(upload.pk, delivery.arrivals)
        finally:
            connection.close()


def _study_of(data: bytes) -> str:
    """The Study Instance UID of a file the reader refused, when it can be read (its report line
    then goes with its study); empty otherwise."""
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=["StudyInstanceUID"])
        return str(dataset.get("StudyInstanceUID", "") or "")[:64]
    except Exception:  # noqa: BLE001 - a damaged file: reported with the association's first study
        return ""


def _import(upload_id: int, arrivals: Arrivals) -> None:
    try:
        outcome = import_arrivals(upload_id=upload_id, arrivals=arrivals)
    except Exception:
        log.exception("the DICOM node could not import upload %s; queued for the worker", upload_id)
        outcome = ""
    if outcome not in (ingest.DONE, ingest.FINISHED):
        try:
            services.queue_ingest(upload_id)
        except Exception:  # the next start of the node queues it (services.queue_unfinished_node_imports)
            log.exception("could not queue the import of upload %s", upload_id)
        return
    try:
        services.queue_tree_proposals_of_upload(upload_id)
    except Exception:  # the images are in; a radiologist can still ask for the proposal
        log.exception("could not queue the tree proposals of upload %s", upload_id)


def _sync_folder(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
