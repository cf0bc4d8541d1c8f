"""How a read-model table differs from a fold of the log, worked out by the database.

``rebuild(check=True)`` folds the log into shadow tables (``eventkit.shadow``; elsewhere
than PostgreSQL, it copies each table's live rows into a temporary table, :func:`snapshot`,
and folds into the emptied one), then asks the database which rows differ
(:func:`compare`). Python reads back counts and the first few drifting rows, never a whole
table, so checking millions of rows takes the memory of a few dozen. The scratch tables
live in the check's transaction, which rolls back and takes them with it.

Equality is the database's: the same column, compared with itself, null-safe (a JSON column
as jsonb on PostgreSQL, as text on SQLite, like Django's own lookups).
"""

from dataclasses import dataclass, field

from django.db import connection, models

# Rows of each kind read back: enough to fill a report (Drift.lines), and no more.
SAMPLE = 20


@dataclass
class Drift:
    """How one table's live rows differ from the fold of the log: the first differences of
    each kind, and how many more there are."""

    table: str
    missing: list = field(default_factory=list)  # in the fold, not live
    unexpected: list = field(default_factory=list)  # live, not in the fold
    changed: list = field(default_factory=list)  # (pk, field, live value, folded value)
    more: int = 0  # differences found but not listed above

    def __bool__(self):
        return bool(self.missing or self.unexpected or self.changed or self.more)

    def lines(self, limit: int = 20) -> list[str]:
        out = [f"{self.table}: row {pk} is missing" for pk in self.missing]
        out += [f"{self.table}: row {pk} should not exist" for pk in self.unexpected]
        out += [
            f"{self.table}: row {pk} {name} is {live!r}, the events say {folded!r}"
            for pk, name, live, folded in self.changed
        ]
        hidden = self.more + max(len(out) - limit, 0)
        if hidden:
            out = [*out[:limit], f"{self.table}: ... and {hidden} more"]
        return out


def snapshot(model: type[models.Model]) -> None:
    """Copy ``model``'s live rows into a temporary table, for :func:`compare` after the fold.

    The copy stays in the database: the check's memory does not grow with the table."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {_live(model)} AS SELECT * FROM {_folded(model)}")


def compare(model: type[models.Model], *, live: str = "", folded: str = "") -> Drift:
    """How the live rows differ from the fold's: by default the :func:`snapshot` from what
    the fold left in the table; the tables can be named instead (``eventkit.shadow``)."""
    live, folded = live or _live(model), folded or _folded(model)
    missing, missing_count = _ids_only_in(model, folded, live)
    unexpected, unexpected_count = _ids_only_in(model, live, folded)
    changed, changed_count = _changed(model, live, folded)
    listed = len(missing) + len(unexpected) + len(changed)
    return Drift(
        table=model._meta.label,
        missing=missing,
        unexpected=unexpected,
        changed=changed,
        more=missing_count + unexpected_count + changed_count - listed,
    )


def _ids_only_in(model, table: str, other: str) -> tuple[list, int]:
    """The first primary keys of ``table`` that ``other`` lacks, and how many there are."""
    pk = _column(model._meta.pk)
    only = f"SELECT {pk} FROM {table} EXCEPT SELECT {pk} FROM {other}"
    count = _fetch(f"SELECT COUNT(*) FROM ({only}) AS only_here")[0][0]
    if not count:
        return [], 0  # the usual case: no second pass over the table
    first = _fetch(f"{only} ORDER BY 1 LIMIT {SAMPLE}")
    return [_python(model._meta.pk, pk) for (pk,) in first], count


def _changed(model, live_table: str, folded_table: str) -> tuple[list, int]:
    """The first differing columns of rows on both sides, as (pk, field, live, folded), and
    how many columns differ in all: one report line each."""
    fields = compared_fields(model)
    if not fields:
        return [], 0  # a table of keys only: its rows are missing, unexpected or equal
    pk = _column(model._meta.pk)
    differs = [
        f"CASE WHEN live.{c} {_distinct()} folded.{c} THEN 1 ELSE 0 END"
        for c in map(_column, fields)
    ]
    both = f"FROM {live_table} AS live JOIN {folded_table} AS folded USING ({pk})"
    # SUM is a numeric on PostgreSQL, and NULL when no row is on both sides
    count = int(_fetch(f"SELECT COALESCE(SUM({' + '.join(differs)}), 0) {both}")[0][0])
    if not count:
        return [], 0  # the usual case: no second pass over the table
    columns = [
        f"live.{pk}",
        *(f"{side}.{_column(f)}" for side in ("live", "folded") for f in fields),
    ]
    first = _fetch(
        f"SELECT {', '.join([*columns, *differs])} {both} "
        f"WHERE {' + '.join(differs)} > 0 ORDER BY live.{pk} LIMIT {SAMPLE}"
    )
    return [change for row in first for change in _changes(model, fields, row)], count


def _changes(model, fields: list[models.Field], row: tuple) -> list[tuple]:
    """(pk, field, live, folded) for each differing column of one row of :func:`_changed`:
    its primary key, then the live columns, the folded ones and whether each differs."""
    pk, *values = row
    n = len(fields)
    sides = zip(fields, values[:n], values[n : 2 * n], values[2 * n :], strict=True)
    pk = _python(model._meta.pk, pk)
    return [
        (pk, f.attname, _python(f, live), _python(f, folded))
        for f, live, folded, differs in sides
        if differs
    ]


def compared_fields(model) -> list[models.Field]:
    """The columns that make two rows of one key equal: all but the key (a rebuild's swap,
    ``eventkit.shadow``, compares the same ones)."""
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _fetch(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def _python(f: models.Field, value):
    """A value read by raw SQL as the ORM would give it (a UUID, an aware datetime)."""
    col = f.get_col(f.model._meta.db_table)
    for convert in connection.ops.get_db_converters(col) + col.get_db_converters(connection):
        value = convert(value, col, connection)
    return value


def _distinct() -> str:
    """Null-safe "not equal": SQLite spells it IS NOT before version 3.39."""
    return "IS NOT" if connection.vendor == "sqlite" else "IS DISTINCT FROM"


def _folded(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _live(model) -> str:
    return connection.ops.quote_name(f"live_{model._meta.db_table}")


def _column(f: models.Field) -> str:
    return connection.ops.quote_name(f.column)
