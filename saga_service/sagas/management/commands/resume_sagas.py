"""``manage.py resume_sagas [--watch]``

Drives every unfinished saga whose driver is gone (its lease lapsed) to completion or
compensation. ``--watch`` keeps doing so every ``SAGA_RESUME_INTERVAL_SECONDS``; that is how
``manage_all.py up`` runs it, so a saga whose process was killed mid-step finishes anyway.
"""

import logging
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, connection

from sagas.services import resume_unfinished
from servicekit.runtime import stop_on_signals

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Resume unfinished sagas whose owner died (once, or --watch)."

    def add_arguments(self, parser):
        parser.add_argument("--watch", action="store_true", help="keep resuming until stopped")

    def handle(self, *args, watch, **options):
        stop = threading.Event()
        stop_on_signals(stop)
        interval = settings.SAGA["RESUME_INTERVAL_SECONDS"]
        while True:
            try:
                resumed = resume_unfinished()
            except (OperationalError, InterfaceError) as exc:
                if not watch:
                    raise
                # A restart, a failover, a dropped connection: the next round tries again.
                logger.warning("database unavailable (%s); trying again in %g s", exc, interval)
                connection.close_if_unusable_or_obsolete()
                resumed = []
            if resumed and watch:  # a line of the service's log, like every other one
                logger.info("resumed %d saga(s): %s", len(resumed), ", ".join(resumed))
            elif not watch:  # an answer to whoever ran it
                self.stdout.write(f"resumed {len(resumed)} saga(s): {', '.join(resumed) or '-'}")
            if not watch or stop.wait(interval):
                return
