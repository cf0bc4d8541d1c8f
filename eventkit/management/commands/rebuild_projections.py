"""``manage.py rebuild_projections [--projection NAME ...] [--check]``

Rebuilds read models from the event table with the same handlers that keep them current;
on PostgreSQL it folds beside the live tables and holds the writers off only at the end
(``eventkit.rebuild``). ``--check`` folds into scratch tables (a rolled-back transaction),
prints how they differ from the live tables (the first 20 differences of each table, and
how many more) and exits 1 if they do; it changes nothing.
"""

import requests
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, InterfaceError, connection
from tqdm import tqdm

from eventkit.conf import setting
from eventkit.projections import registry
from eventkit.rebuild import FoldFailed, RebuildHeldUp, RebuildRunning, rebuild
from eventkit.shadow import ShadowLost, what_changed
from eventkit.sources import WrongFeed
from servicekit.dberrors import connection_lost, sqlstate


class Command(BaseCommand):
    help = "Rebuild read models from the event log (or --check them against it)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--projection",
            action="append",
            dest="projections",
            metavar="NAME",
            help="only this projection (repeatable); default: all",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="compare a fresh fold with the live tables, print drift, change nothing",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            help="events folded at a time (each row a batch touches is written once); "
            "default 2,000 for this service's own events, 10,000 for another's",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, projections, check, batch_size, no_progress, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            selected = [registry.get(n) for n in projections] if projections else registry.all()
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        if not selected:
            raise CommandError("this service registers no projections")
        stateless = [p for p in selected if not p.models]
        for p in stateless:  # the BFF's websocket pushes: live only, nothing to fold into
            self.stdout.write(f"{p.name}: owns no tables; nothing to rebuild")
        selected = [p for p in selected if p.models]
        if not selected:
            return
        # Run outside `up`, a service reads DATABASE_URL itself and falls back to its SQLite
        # file: say which tables this is about, and which feeds, before changing anything.
        if options["verbosity"] >= 1:
            self.stdout.write(f"read models in {_database()}")
            for source in sorted({p.source for p in selected if p.source}):
                self.stdout.write(f"{source}'s events from {_feed_url(source)}")
        bar = tqdm(
            desc="check" if check else "rebuild",
            unit="ev",
            file=self.stderr._out,
            disable=no_progress or options["verbosity"] == 0,
        )
        drifted = []
        for source in sorted({p.source or "" for p in selected}):
            group = [p for p in selected if (p.source or "") == source]
            names = ", ".join(p.name for p in group)
            try:
                report = self._rebuild(bar, group, check=check, batch_size=batch_size)
            except KeyboardInterrupt as exc:
                # the scratch tables and the lock go with the session: no traceback to read
                raise CommandError(
                    f"{names}: interrupted; {_changed(exc)}: run it again, or --check to see"
                    " where the read models stand"
                ) from None
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            except (FoldFailed, RebuildHeldUp, RebuildRunning, ShadowLost) as exc:
                raise CommandError(f"{names}: {exc}") from exc
            except DatabaseError as exc:
                said = _said(exc)
                if _connection_gone(exc):  # a restart, a failover: worth trying again
                    raise CommandError(
                        f"{names}: the connection to {_database()} was lost"
                        f" ({exc.__class__.__name__}: {said}); {_changed(exc)}: run this again"
                    ) from exc
                # Most often run outside `up` without DATABASE_URL: the SQLite file it falls
                # back to has no tables (found from outside: a traceback).
                raise CommandError(
                    f"{names}: the database failed ({exc.__class__.__name__}: {said});"
                    f" {_changed(exc)}. Is {_database()} this service's database, migrated? Outside"
                    " `up`, set DATABASE_URL to it"
                ) from exc
            except WrongFeed as exc:
                raise CommandError(f"{names}: nothing changed; {exc}") from exc
            except requests.RequestException as exc:
                # another service's events are read from its feed, over HTTP
                raise CommandError(
                    f"{names}: folded from {source}'s event feed, which did not answer "
                    f"({exc.__class__.__name__}: {exc}); start {source} and run this again"
                ) from exc
            for drift in report.drift:
                for line in drift.lines():
                    self.stdout.write(line)
            summary = (
                f"{names}: folded {report.events} events "
                f"(up to {source or 'local'} position {report.last_position})"
            )
            if report.taken_again:
                summary += (
                    f", {report.taken_again} of them set aside as dead letters that apply now"
                    + ("" if check else " (their dead letters removed)")
                )
            if check and not report.clean:
                drifted.append(names)
                self.stdout.write(f"{summary}; the read models drifted from the events")
            elif check:
                self.stdout.write(self.style.SUCCESS(f"{summary}; read models match the events"))
            elif report.writers_held is not None:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"{summary}; rebuilt beside the live tables: {report.filled_in} missing"
                        f" rows filled in while the writers went on, {report.rewritten} rows"
                        f" written while they waited; writers held off"
                        f" {report.writers_held:.2f} s"
                    )
                )
            else:
                self.stdout.write(self.style.SUCCESS(f"{summary}; rebuilt"))
        bar.close()
        if drifted:
            raise CommandError(f"{', '.join(drifted)}: the read models drifted from the events")

    @staticmethod
    def _rebuild(bar, group, **options):
        """``rebuild(group)`` with the progress bar; a failure closes the bar first, so that
        what is said of it starts a line of its own (found from outside: after the bar)."""
        try:
            return rebuild(
                group, on_start=lambda last: bar.reset(total=last), progress=bar.update, **options
            )
        except BaseException:
            bar.close()
            raise


def _connection_gone(exc: DatabaseError) -> bool:
    """Whether the failure took the connection with it (a restart, a failover, a backend
    terminated), rather than a statement failing on a connection that still works (a table
    missing). On PostgreSQL only: SQLite's errors carry no SQLSTATE to tell them apart."""
    if connection.vendor != "postgresql":
        return False
    if sqlstate(exc) is not None and connection_lost(exc):  # a backend terminated, say
        return True
    held = connection.connection
    return isinstance(exc, InterfaceError) or held is None or held.closed or held.broken


def _said(exc: DatabaseError) -> str:
    """What the database said, on one line: its primary message, without the context
    PostgreSQL adds (a COPY's would print a row's data, a customer's name say)."""
    diag = getattr(exc.__cause__, "diag", None)
    primary = getattr(diag, "message_primary", None)
    return " ".join((primary or str(exc)).split())  # psycopg's own text runs over lines


def _changed(exc: BaseException) -> str:
    return what_changed(getattr(exc, "filled_in", 0))


def _database() -> str:
    """Where this service's tables are, without a password."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"SQLite {db['NAME']}"
    host, port = db.get("HOST") or "localhost", db.get("PORT") or "5432"
    return f"{connection.vendor} {host}:{port}/{db['NAME']}"


def _feed_url(source: str) -> str:
    config = (setting("CONSUMER") or {}).get("SOURCES", {}).get(source) or {}
    return config.get("url", "(no URL configured)")
