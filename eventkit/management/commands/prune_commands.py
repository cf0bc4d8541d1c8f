"""``manage.py prune_commands [--older-than-days N]``

The command log answers retries of commands that carried an idempotency key. Retries come
within minutes, so keeping outcomes for ``EVENTKIT["COMMAND_RETENTION_DAYS"]`` (7) is plenty;
without pruning the table would grow with every command for ever. The relay
(``publish_events``) prunes hourly on its own; this command is for doing it by hand.
Events are not touched.
"""

from django.core.management.base import BaseCommand

from eventkit.conf import setting
from eventkit.relay import prune_command_log, stale_commands


class Command(BaseCommand):
    help = "Delete command outcomes older than the retention period."

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=float, default=None)
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args, older_than_days, dry_run, **options):
        days = setting("COMMAND_RETENTION_DAYS") if older_than_days is None else older_than_days
        if dry_run:
            self.stdout.write(
                f"{stale_commands(days).count()} command outcomes older than {days} days"
            )
            return
        deleted = prune_command_log(days)
        self.stdout.write(f"deleted {deleted} command outcomes older than {days} days")
