"""Read-model rows in plain SQL: the statements every hot path runs, without a queryset.

Building and compiling a queryset costs several times the statement it makes (about 0.6 ms
of CPU against 0.1 ms for a one-row read), and every order runs a few dozen statements.
These helpers take the column names and the value adapters from the model, so a raw
statement stays as portable (PostgreSQL and SQLite) and as typed as the ORM's.
"""

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from eventkit.batching import flush, send


def _db():
    """This thread's default connection itself. ``django.db.connection`` is a proxy that
    looks the connection up again on every attribute read (a microsecond or two each), and
    adapting one value to a field reads it several times: the helpers below adapt every
    value of every hot-path statement, so they resolve it once per call."""
    return connections[DEFAULT_DB_ALIAS]


class MissingRow(LookupError):
    """A change to a read-model row that is not there and may not be created: the table has
    drifted from the log (``rebuild_projections`` repairs it)."""


def db_value(model, name: str, value):
    """``value`` as a raw statement must pass it for ``model``'s field ``name``."""
    return model._meta.get_field(name).get_db_prep_save(value, _db())


def quoted(name: str) -> str:
    """A table or column name as SQL must spell it, so that a column called ``order`` or
    ``user`` works too."""
    return _db().ops.quote_name(name)


def locking(sql: str) -> str:
    """``sql`` (a SELECT) with ``FOR UPDATE`` where the database has it (not SQLite, whose
    writers take the whole database)."""
    return f"{sql} FOR UPDATE" if _db().features.has_select_for_update else sql


def select_rows(
    model, names: Iterable[str], *, order_by: Iterable[str] = (), lock: bool = False, **where
) -> list[dict[str, Any]]:
    """``SELECT`` the fields ``names`` of ``model``'s rows matching ``where``, as dicts of
    the values the ORM would give (``values()``): each column through its field's converters.

    ``where`` maps field names to a value (``=``) or to a list or tuple (``IN``);
    ``order_by`` names fields, ``-name`` for descending.
    """
    meta, connection = model._meta, _db()
    fields = [meta.get_field(name) for name in names]
    conditions, params = [], []
    for name, value in where.items():
        field = meta.get_field(name)
        if isinstance(value, list | tuple):
            if not value:
                return []
            conditions.append(f"{quoted(field.column)} IN ({', '.join(['%s'] * len(value))})")
            params += [field.get_db_prep_value(v, connection) for v in value]
        else:
            conditions.append(f"{quoted(field.column)} = %s")
            params.append(field.get_db_prep_value(value, connection))
    sql = f"SELECT {', '.join(quoted(f.column) for f in fields)} FROM {quoted(meta.db_table)}"
    if conditions:
        sql += f" WHERE {' AND '.join(conditions)}"
    if order_by:
        sql += " ORDER BY " + ", ".join(
            f"{quoted(meta.get_field(n[1:]).column)} DESC"
            if n[0] == "-"
            else quoted(meta.get_field(n).column)
            for n in order_by
        )
    if lock:
        sql = locking(sql)
    columns = [field.get_col(meta.db_table) for field in fields]
    converters = [
        (i, col, connection.ops.get_db_converters(col) + col.get_db_converters(connection))
        for i, col in enumerate(columns)
    ]
    converters = [(i, col, found) for i, col, found in converters if found]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    answer = []
    for row in rows:
        row = list(row)
        for i, col, found in converters:
            for convert in found:
                row[i] = convert(row[i], col, connection)
        answer.append(dict(zip(names, row, strict=True)))
    return answer


def select_row(model, names: Iterable[str], *, lock: bool = False, **where) -> dict | None:
    """The one row :func:`select_rows` finds, or None."""
    rows = select_rows(model, names, lock=lock, **where)
    return rows[0] if rows else None


def insert_row(cursor, model, fields: dict[str, Any]) -> None:
    """``INSERT`` one row of ``model`` with ``fields``, each through its field's adapter."""
    insert_rows(cursor, model, [fields])


# From about this many rows, PostgreSQL's COPY beats one multi-row INSERT: a rebuild's page
# is copied, a live append's row or two are inserted.
COPY_MIN_ROWS = 100


def insert_rows(cursor, model, rows: list[dict[str, Any]]) -> None:
    """``INSERT`` rows of ``model`` in one statement (or one ``COPY`` for many rows on
    PostgreSQL); every row names the same fields."""
    if not rows:
        return
    names, connection = list(rows[0]), _db()
    fields = [model._meta.get_field(name) for name in names]
    values = [[f.get_db_prep_save(row[f.name], connection) for f in fields] for row in rows]
    table = quoted(model._meta.db_table)
    columns = ", ".join(quoted(f.column) for f in fields)
    if connection.vendor == "postgresql" and len(rows) >= COPY_MIN_ROWS:
        flush()  # COPY bypasses Django's cursor: what is queued must go first
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
        return
    placeholders = "(" + ", ".join(["%s"] * len(names)) + ")"
    send(  # queued inside eventkit.batching.batched(): nothing reads its result
        cursor,
        f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholders] * len(rows))}",
        [value for row in values for value in row],
    )


def update_row(
    cursor,
    model,
    pk,
    fields: dict[str, Any],
    increments: dict[str, int] | None = None,
    *,
    at_least: dict[str, Any] | None = None,
    at_most: dict[str, Any] | None = None,
    must_exist: bool = False,
) -> int | None:
    """``UPDATE`` the row of ``model`` with primary key ``pk``: set ``fields``, add
    ``increments`` ({field: amount}) to what the row holds, and lower the fields of
    ``at_most`` / raise those of ``at_least`` to the value given where it is beyond what the
    row holds (an earliest and a latest time). Returns the rows changed.

    With ``must_exist``, a missing row raises :class:`MissingRow`, and the statement may be
    queued by :func:`eventkit.batching.batched`: it then returns None and is checked when it
    has run."""
    increments, at_least, at_most = increments or {}, at_least or {}, at_most or {}
    meta, connection = model._meta, _db()
    columns = {name: quoted(meta.get_field(name).column) for name in [*fields, *increments]}
    sets = [f"{columns[name]} = %s" for name in fields]
    sets += [f"{columns[name]} = {columns[name]} + %s" for name in increments]
    params = [db_value(model, name, value) for name, value in fields.items()]
    params += increments.values()
    # Scalar MIN/MAX is SQLite's LEAST/GREATEST.
    sqlite = connection.vendor == "sqlite"
    for function, bounds in (
        ("MAX" if sqlite else "GREATEST", at_least),
        ("MIN" if sqlite else "LEAST", at_most),
    ):
        for name, value in bounds.items():
            column = quoted(meta.get_field(name).column)
            sets.append(f"{column} = {function}({column}, %s)")
            params.append(db_value(model, name, value))
    table, key = quoted(meta.db_table), quoted(meta.pk.column)
    sql = f"UPDATE {table} SET {', '.join(sets)} WHERE {key} = %s"
    params.append(meta.pk.get_db_prep_save(pk, connection))
    if not must_exist:
        cursor.execute(sql, params)
        return cursor.rowcount

    def check(rowcount: int) -> None:
        if rowcount == 0:
            raise MissingRow(f"{meta.label} row {pk} is missing")

    return send(cursor, sql, params, check)


def json_value(value):
    """A JSON column as raw SQL hands it back: text (SQLite, Django's jsonb loader) or data."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def aware_datetime(value) -> datetime:
    """A timestamp column as raw SQL hands it back: aware, naive UTC or ISO text (SQLite)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
