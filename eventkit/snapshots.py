"""Reads that must agree with each other, taken from one snapshot of the database.

Under PostgreSQL's default isolation (READ COMMITTED) every statement sees the database as
of its own start. A page of a list and the count beside it (``X-Total-Count``) read in two
statements can then disagree: an order committed between them is counted but not shown,
and a client paging by the count asks for a page that is not there or skips a row. The
marketing overview's totals and its top lists disagree the same way. A REPEATABLE READ
transaction gives every statement in it the snapshot of its first; read-only, it takes no
locks and cannot fail to serialise.
"""

from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections, transaction


@contextmanager
def snapshot(using: str = DEFAULT_DB_ALIAS, *, read_only: bool = True):
    """Run the reads inside in one read-only snapshot.

    Inside a transaction already (a command, a test's transaction) its reads stay as they
    are: the isolation of a transaction can only be set before its first statement. SQLite
    keeps one snapshot per transaction anyway. Writes (``read_only=False``) may fail to
    serialise with a concurrent writer's; ``--check`` writes only its temporary tables.
    """
    connection = connections[using]
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                access = ", READ ONLY" if read_only else ""
                cursor.execute(f"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ{access}")
        yield


def read_page(queryset, *, limit: int, offset: int) -> tuple[list, int]:
    """Rows ``offset`` to ``offset + limit`` of ``queryset`` (which must be ordered) and the
    number of rows it holds in all, read from one snapshot.

    A page shorter than ``limit`` that has rows, or starts at the first, ends the list, so
    it tells the count itself: a small list (the catalogue, a filtered one) is one
    statement, not two.
    """
    with snapshot(queryset.db):
        rows = list(queryset[offset : offset + limit])
        if len(rows) < limit and (rows or offset == 0):
            return rows, offset + len(rows)
        return rows, queryset.count()
