"""Run the DICOM node: a storage SCP that registered PACS and scanners send studies to."""

from __future__ import annotations

import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.errors import InvalidInput
from imaging.dicom_node import StorageNode
from imaging.services import clean_ae_title, queue_unfinished_node_imports


class Command(BaseCommand):
    help = "Run the DICOM storage SCP (C-STORE, C-ECHO) for the registered peers (see register_dicom_ae)."

    def add_arguments(self, parser):
        parser.add_argument("--ae-title", default=None, help=f"the node's AE title (default {settings.DICOM_AE_TITLE})")
        parser.add_argument("--port", type=int, default=None, help=f"the TCP port (default {settings.DICOM_PORT})")
        parser.add_argument("--bind", default="", help="the address to listen on (default: all)")

    def handle(self, *args, ae_title=None, port=None, bind="", **options):
        try:
            title = clean_ae_title(ae_title or settings.DICOM_AE_TITLE, field="AE title")
        except InvalidInput as refused:
            raise CommandError(refused.message) from None
        port = settings.DICOM_PORT if port is None else port
        if not 0 < port < 65536:
            raise CommandError(f"port {port}: give a TCP port between 1 and 65535")
        try:
            node = StorageNode(ae_title=title, port=port, bind=bind)
            node.start()
        except OSError as error:
            raise CommandError(f"cannot listen on port {port}: {error.strerror}") from None
        try:
            resumed = queue_unfinished_node_imports()
        except Exception as error:  # noqa: BLE001 - the node runs on; the next start tries again
            self.stderr.write(f"could not queue the unfinished imports: {error}")
            resumed = []
        self.stdout.write(f"DICOM node {title} listening on port {node.port}", ending="\n")
        if resumed:
            self.stdout.write(f"queued the unfinished import of {len(resumed)} upload(s) received before")
        self.stdout.flush()
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        try:
            while not stopping:
                signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            node.stop()
            self.stdout.write("DICOM node stopped")
