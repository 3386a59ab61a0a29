"""pynetdicom's association acceptor with fewer hand-offs per message, for the DICOM node.

pynetdicom runs each association on two threads that poll each other: the upper-layer thread
(DUL) reads PDUs and sleeps 1 ms whenever it has nothing to do, and the association thread looks
for a complete message every 1 ms, runs the handler and queues the response for the DUL thread to
send. A C-STORE thus waits for two or three wake-ups before its response leaves, and on a busy
machine each wake-up waits for a free core. Here, for the associations the node accepts:

* the DUL thread waits on the socket (``select``) rather than sleeping, so a PDU is read as soon
  as it arrives;
* a complete request is served on the DUL thread, which sends the response in its next loop:
  the peer waits for that response before it sends the next request (no asynchronous
  operations window is negotiated), so nothing is read late because of it;
* each PDU is read into one buffer (pynetdicom reads 4 kB at a time);
* a C-STORE response, and the file meta information of a received instance, are encoded
  directly (a fixed handful of elements) rather than through pydicom Datasets: together they
  took more time than everything else pynetdicom does per instance;
* the association thread, left with only release, abort and timeouts to watch, looks every 10 ms
  instead of every 1 ms, and at once when the DUL thread hands it a release or an abort;
* pynetdicom's logging handlers, which format every message and PDU, are unbound unless its
  logger is at DEBUG;
* TCP_NODELAY: without it each small response waits for the peer's delayed acknowledgement
  (about 40 ms per instance).

Everything else (negotiation, the state machine, timers, release and abort) is pynetdicom's.
When a pynetdicom release lacks an internal this relies on, that part is left as pynetdicom has it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import socket
import struct
import threading
import time

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION, evt
from pynetdicom._handlers import (
    standard_dimse_recv_handler,
    standard_dimse_sent_handler,
    standard_pdu_recv_handler,
    standard_pdu_sent_handler,
)
from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.transport import AssociationSocket, RequestHandler

log = logging.getLogger(__name__)

_LOGGING_HANDLERS = (
    (evt.EVT_DIMSE_RECV, standard_dimse_recv_handler),
    (evt.EVT_DIMSE_SENT, standard_dimse_sent_handler),
    (evt.EVT_PDU_RECV, standard_pdu_recv_handler),
    (evt.EVT_PDU_SENT, standard_pdu_sent_handler),
)


class SocketWaitingDUL(DULServiceProvider):
    """pynetdicom's DUL loop (`DULServiceProvider.run_reactor`), waiting on the socket when idle."""

    def _wait(self) -> None:
        connection = getattr(self.socket, "socket", None)
        if connection is None:  # no socket (yet, or any more): as pynetdicom does
            time.sleep(self._run_loop_delay)
            return
        try:
            select.select([connection], [], [], self._run_loop_delay)
        except (OSError, ValueError):  # closed meanwhile
            time.sleep(self._run_loop_delay)

    def run_reactor(self) -> None:
        self._idle_timer.start()
        idle = False
        while True:
            if not self.assoc._dul_ready.is_set():
                self.assoc._dul_ready.set()
                idle = True
            if idle:
                self._wait()
            if self._kill_thread:
                break
            if self.artim_timer.expired:
                self.event_queue.put("Evt18")
            try:
                if self._process_recv_primitive():
                    pass
                elif self._is_transport_event():
                    self._idle_timer.restart()
            except Exception:
                log.exception("error in the DICOM upper layer; aborting the association")
                self._abort_at_once()
                return
            try:
                event = self.event_queue.get(block=False)
            except queue.Empty:
                idle = True
                continue
            self.state_machine.do_action(event)
            idle = False

    def _abort_at_once(self) -> None:
        """As pynetdicom does: bypass the state machine, send an A-ABORT and stop both threads."""
        abort = A_ABORT_RQ()
        abort.source = 0x02
        abort.reason_diagnostic = 0x00
        with contextlib.suppress(Exception):
            self.socket.send(abort.encode())  # type: ignore[union-attr]
        self.assoc.is_aborted = True
        self.assoc.is_established = False
        self.assoc._kill = True
        self._kill_thread = True


class PacedCheckpoint(threading.Event):
    """`Association._reactor_checkpoint`, also pacing the association thread's loop: each pass waits
    up to `PACE` for a nudge, given when the DUL thread queues a primitive for it (a release, an
    abort) and whenever the checkpoint is set (pynetdicom sets it to stop or resume the loop)."""

    PACE = 0.01

    def __init__(self) -> None:
        super().__init__()
        self.nudge = threading.Event()
        self.set()

    def set(self) -> None:
        super().set()
        self.nudge.set()

    def wait(self, timeout: float | None = None) -> bool:
        ready = super().wait(timeout)
        self.nudge.wait(self.PACE)
        self.nudge.clear()  # anything queued before this is seen by the pass that follows
        return ready


class NudgingQueue(queue.Queue):
    """The DUL thread's queue to the association thread, nudging it on each primitive."""

    def __init__(self, nudge: threading.Event) -> None:
        super().__init__()
        self.nudge = nudge

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self.nudge.set()


class ServeOnArrival(queue.Queue):
    """Stands for the DIMSE message queue: a complete request is served at once, on the thread that
    completed it, instead of waiting for the association thread's next look at the queue."""

    def __init__(self, assoc: Association):
        super().__init__()
        self.assoc = assoc

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        context_id, message = item
        if message is not None and self.assoc.is_acceptor and getattr(message, "is_valid_request", False):
            self.assoc._serve_request(message, context_id)
        else:  # (None, None) on an abort, to wake a waiting reader; anything else as pynetdicom does
            super().put(item, block, timeout)


def _element(group_element: int, value: bytes) -> bytes:
    """One command element, Implicit VR Little Endian (the command set's encoding, PS3.7 6.3.1)."""
    return struct.pack("<HHI", 0x0000, group_element, len(value)) + value


def _uid(value: str) -> bytes:
    raw = value.encode("ascii")
    return raw + b"\0" * (len(raw) % 2)


def store_response_command(response: C_STORE) -> bytes | None:
    """The encoded command set of a C-STORE response with a status (and an error comment), or None
    for any other message (sent by pynetdicom's own encoder)."""
    if response.MessageIDBeingRespondedTo is None or response.Status is None:
        return None
    if response.OffendingElement is not None or response.AffectedSOPClassUID is None:
        return None
    comment = response.ErrorComment
    if comment is not None and not (comment.isascii() and comment.isprintable()):
        return None
    body = [
        _element(0x0002, _uid(str(response.AffectedSOPClassUID))),
        _element(0x0100, struct.pack("<H", 0x8001)),  # Command Field: C-STORE-RSP
        _element(0x0120, struct.pack("<H", response.MessageIDBeingRespondedTo)),
        _element(0x0800, struct.pack("<H", 0x0101)),  # Command Data Set Type: none
        _element(0x0900, struct.pack("<H", response.Status)),
    ]
    if comment is not None:
        raw = comment.encode("ascii")
        body.append(_element(0x0902, raw + b" " * (len(raw) % 2)))
    if response.AffectedSOPInstanceUID is not None:
        body.append(_element(0x1000, _uid(str(response.AffectedSOPInstanceUID))))
    encoded = b"".join(body)
    return _element(0x0000, struct.pack("<I", len(encoded))) + encoded


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    """One file meta element, Explicit VR Little Endian (PS3.10 7.1)."""
    if vr == b"OB":
        return struct.pack("<HH2s2xI", 0x0002, element, vr, len(value)) + value
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def stored_file(event) -> bytes:
    """A received C-STORE instance as a DICOM file: preamble, file meta information and the data set
    exactly as sent, as `event.encoded_dataset()` gives it, built without a pydicom Dataset."""
    request = event.request
    uids = [str(request.AffectedSOPClassUID or ""), str(request.AffectedSOPInstanceUID or "")]
    uids.append(str(event.context.transfer_syntax))
    version = PYNETDICOM_IMPLEMENTATION_VERSION
    if not all(uid.isascii() for uid in uids) or not version.isascii():  # pragma: no cover - pydicom's way
        return bytes(event.encoded_dataset())
    sop_class, sop_instance, syntax = (_uid(uid) for uid in uids)
    name = version.encode("ascii")
    body = b"".join(
        (
            _meta_element(0x0001, b"OB", b"\x00\x01"),
            _meta_element(0x0002, b"UI", sop_class),
            _meta_element(0x0003, b"UI", sop_instance),
            _meta_element(0x0010, b"UI", syntax),
            _meta_element(0x0012, b"UI", _uid(PYNETDICOM_IMPLEMENTATION_UID)),
            _meta_element(0x0013, b"SH", name + b" " * (len(name) % 2)),
        )
    )
    meta = _meta_element(0x0000, b"UL", struct.pack("<I", len(body))) + body
    return b"".join((b"\x00" * 128, b"DICM", meta, request.DataSet.getbuffer()))


class QuickDimse(DIMSEServiceProvider):
    """Serves requests on arrival and encodes C-STORE responses directly (see the module docstring)."""

    def __init__(self, assoc: Association):
        super().__init__(assoc)
        self.msg_queue = ServeOnArrival(assoc)

    def send_msg(self, primitive, context_id: int) -> None:
        command = store_response_command(primitive) if isinstance(primitive, C_STORE) else None
        limit = self.maximum_pdu_size
        if command is None or (limit and len(command) + 7 > limit) or self.assoc.get_handlers(evt.EVT_DIMSE_SENT):
            super().send_msg(primitive, context_id)
            return
        data = P_DATA()
        data.presentation_data_value_list.append((context_id, b"\x03" + command))  # last command fragment
        self.dul.send_pdu(data)


def _receive_whole(self: AssociationSocket, nr_bytes: int) -> bytearray:
    """`AssociationSocket.recv` reading into one buffer: what was read so far if the peer closes."""
    connection = self.socket
    assert connection is not None
    buffer = bytearray(nr_bytes)
    view = memoryview(buffer)
    done = 0
    while done < nr_bytes:
        count = connection.recv_into(view[done:], nr_bytes - done)
        if not count:
            del view
            del buffer[done:]
            return buffer
        done += count
    return buffer


class WholePduSocket(AssociationSocket):
    recv = _receive_whole


# What the quicker paths use of pynetdicom's internals (checked, so that a release without them
# simply gets pynetdicom's own behaviour).
QUICK = all(
    hasattr(cls, name)
    for cls, name in (
        (DULServiceProvider, "_process_recv_primitive"),
        (DULServiceProvider, "_is_transport_event"),
        (Association, "_serve_request"),
        (AssociationSocket, "recv"),
    )
)


class QuickRequestHandler(RequestHandler):
    """A request handler whose associations use the quicker paths above (see the module docstring)."""

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # not a TCP socket: nothing to tune
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()

    def _create_association(self) -> Association:
        assoc = super()._create_association()
        plain = assoc.dul
        if not (QUICK and hasattr(assoc, "_dul_ready") and hasattr(plain, "_run_loop_delay")):
            return assoc  # pragma: no cover - a pynetdicom without the internals used here
        quick = SocketWaitingDUL(assoc)
        quick.socket = plain.socket
        quick.event_queue = plain.event_queue  # holds the "connection open" event already
        quick._idle_timer, quick.artim_timer = plain._idle_timer, plain.artim_timer  # set from the AE's timeouts
        assoc.dul = quick
        checkpoint = PacedCheckpoint()
        assoc._reactor_checkpoint = checkpoint
        quick.to_user_queue = NudgingQueue(checkpoint.nudge)
        if type(plain.socket) is AssociationSocket:
            plain.socket.__class__ = WholePduSocket
        assoc.dimse = QuickDimse(assoc)
        if not logging.getLogger("pynetdicom").isEnabledFor(logging.DEBUG):
            for event, handler in _LOGGING_HANDLERS:
                assoc.unbind(event, handler)
        return assoc
