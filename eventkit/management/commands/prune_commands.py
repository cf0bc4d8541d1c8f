"""``manage.py prune_commands [--older-than-days N]``

The command log answers retries of commands that carried an idempotency key. Retries come
within minutes, so keeping outcomes for ``EVENTKIT["COMMAND_RETENTION_DAYS"]`` (7) is plenty;
without pruning the table would grow with every command for ever. The relay
(``publish_events``) prunes hourly on its own; this command is for doing it by hand.
Events are not touched.
"""

import argparse

from django.core.management.base import BaseCommand

from eventkit.conf import setting
from eventkit.relay import prune_command_log, stale_commands

# A saga still retrying, or a client resending after a timeout, may bring a command again
# hours later; an outcome younger than this is never pruned by hand.
MIN_DAYS = 1.0


def days(text: str) -> float:
    value = float(text)
    if not value >= MIN_DAYS:  # NaN too
        raise argparse.ArgumentTypeError(
            f"{text} days: outcomes younger than {MIN_DAYS:g} day may still answer a retry"
        )
    return value


class Command(BaseCommand):
    help = "Delete command outcomes older than the retention period."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-days",
            type=days,
            default=None,
            help=f"default: EVENTKIT['COMMAND_RETENTION_DAYS']; at least {MIN_DAYS:g}",
        )
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
