"""``manage.py prune_commands [--older-than-days N]``

The command log answers retries of commands that carried an idempotency key. Retries come
within minutes, so keeping outcomes for ``EVENTKIT["COMMAND_RETENTION_DAYS"]`` (7) is plenty;
without pruning the table would grow with every command for ever. Events are not touched.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from eventkit.conf import setting
from eventkit.models import CommandRecord


class Command(BaseCommand):
    help = "Delete command outcomes older than the retention period."

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=float, default=None)
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args, older_than_days, dry_run, **options):
        days = setting("COMMAND_RETENTION_DAYS") if older_than_days is None else older_than_days
        stale = CommandRecord.objects.filter(recorded_at__lt=timezone.now() - timedelta(days=days))
        if dry_run:
            self.stdout.write(f"{stale.count()} command outcomes older than {days} days")
            return
        deleted, _ = stale.delete()
        self.stdout.write(f"deleted {deleted} command outcomes older than {days} days")
