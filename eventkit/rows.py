"""Read-model rows in plain SQL: the statements every hot path runs, without a queryset.

Building and compiling a queryset costs several times the statement it makes (about 0.6 ms
of CPU against 0.1 ms for a one-row read), and every order runs a few dozen statements.
These helpers take the column names and the value adapters from the model, so a raw
statement stays as portable (PostgreSQL and SQLite) and as typed as the ORM's. What a
statement's text and converters depend on (the model, the fields named, the database) is
worked out once per process, not on every call.
"""

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from django.db import DEFAULT_DB_ALIAS, connections, models

from eventkit.batching import command_cursor, fetch_together, flush, send


def _db():
    """This thread's default connection itself. ``django.db.connection`` is a proxy that
    looks the connection up again on every attribute read (a microsecond or two each), and
    adapting one value to a field reads it several times: the helpers below adapt every
    value of every hot-path statement, so they resolve it once per call."""
    return connections[DEFAULT_DB_ALIAS]


# Each thread's connection keeps its own plans: a column's converters are bound to it.
_plans: WeakKeyDictionary = WeakKeyDictionary()


def _plan(connection, key: tuple, build):
    """``build(connection, key)``, worked out once per connection and ``key``."""
    plans = _plans.get(connection)
    if plans is None:
        plans = _plans[connection] = {}
    try:
        return plans[key]
    except KeyError:
        plan = plans[key] = build(connection, key)
        return plan


class MissingRow(LookupError):
    """A change to a read-model row that is not there and may not be created: the table has
    drifted from the log (``rebuild_projections`` repairs it)."""


def db_value(model, name: str, value):
    """``value`` as a raw statement must pass it for ``model``'s field ``name``."""
    return model._meta.get_field(name).get_db_prep_save(value, _db())


# A value of exactly this type is what a field of exactly this class sends to the database
# as it is: its get_db_prep_save() would hand it back unchanged. The hot paths pass such
# values on without that call, a few microseconds each, about a hundred per saga. (Not
# integers: on PostgreSQL, Django wraps them in psycopg's sized integer types.)
_AS_IS = {
    models.CharField: str,
    models.TextField: str,
    models.BooleanField: bool,
}


def _as_is(field) -> type | None:
    """The type whose values ``field`` passes on unchanged, if any (None: adapt them all)."""
    return None if field is None else _AS_IS.get(type(field))


def quoted(name: str, connection=None) -> str:
    """A table or column name as SQL must spell it, so that a column called ``order`` or
    ``user`` works too."""
    return (connection or _db()).ops.quote_name(name)


def locking(sql: str) -> str:
    """``sql`` (a SELECT) with ``FOR UPDATE`` where the database has it (not SQLite, whose
    writers take the whole database)."""
    return f"{sql} FOR UPDATE" if _db().features.has_select_for_update else sql


# IN lists up to this long have their statement planned once, per length.
CACHED_IN_LIST = 8


class RowsQuery(NamedTuple):
    """A :func:`select_rows` statement with its values, ready to run (:func:`rows_query`)."""

    sql: str
    params: list
    names: tuple[str, ...]
    converters: list
    connection: Any

    def rows(self, fetched) -> list[dict[str, Any]]:
        """The fetched rows as dicts of the values the ORM would give."""
        names, converters, connection = self.names, self.converters, self.connection
        if not converters:
            return [dict(zip(names, row, strict=True)) for row in fetched]
        answer = []
        for row in fetched:
            row = list(row)
            for i, col, found in converters:
                for convert in found:
                    row[i] = convert(row[i], col, connection)
            answer.append(dict(zip(names, row, strict=True)))
        return answer


def select_rows(
    model, names: Iterable[str], *, order_by: Iterable[str] = (), lock: bool = False, **where
) -> list[dict[str, Any]]:
    """``SELECT`` the fields ``names`` of ``model``'s rows matching ``where``, as dicts of
    the values the ORM would give (``values()``): each column through its field's converters.

    ``where`` maps field names to a value (``=``) or to a list or tuple (``IN``);
    ``order_by`` names fields, ``-name`` for descending.
    """
    query = rows_query(model, names, order_by=order_by, lock=lock, **where)
    if query is None:
        return []
    with command_cursor() as cursor:
        cursor.execute(query.sql, query.params)
        return query.rows(cursor.fetchall())


def select_rows_together(*queries: RowsQuery | None) -> list[list[dict[str, Any]]]:
    """The rows of several :func:`rows_query` reads, sent in one round trip; a None query
    (an empty ``IN`` list) has none and is not sent."""
    sent = [q for q in queries if q is not None]
    fetched = []
    if sent:
        with command_cursor() as cursor:
            fetched = fetch_together(cursor, [(q.sql, q.params) for q in sent])
    answers = iter(q.rows(rows) for q, rows in zip(sent, fetched, strict=True))
    return [[] if q is None else next(answers) for q in queries]


def rows_query(
    model, names: Iterable[str], *, order_by: Iterable[str] = (), lock: bool = False, **where
) -> RowsQuery | None:
    """The statement :func:`select_rows` runs, or None when an empty ``IN`` list means no
    rows."""
    names = tuple(names)
    shape = tuple(
        (name, len(value) if isinstance(value, list | tuple) else None)
        for name, value in where.items()
    )
    if any(size == 0 for _, size in shape):
        return None
    connection = _db()
    key = ("select", model, names, shape, tuple(order_by), lock)
    if any(size is not None and size > CACHED_IN_LIST for _, size in shape):
        # a long IN list (a rebuild's or a consumer's page) is planned afresh: every length
        # would otherwise keep a plan of its own for the life of the process
        sql, where_fields, converters = _select_plan(connection, key)
    else:
        sql, where_fields, converters = _plan(connection, key, _select_plan)
    params = []
    for field, value in zip(where_fields, where.values(), strict=True):
        if isinstance(value, list | tuple):
            params += [field.get_db_prep_value(v, connection) for v in value]
        else:
            params.append(field.get_db_prep_value(value, connection))
    return RowsQuery(sql, params, names, converters, connection)


def _select_plan(connection, key) -> tuple[str, list, list]:
    """The text of a :func:`select_rows` statement, the fields of its conditions and the
    converters of its columns."""
    _, model, names, shape, order_by, lock = key
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    where_fields, conditions = [], []
    for name, size in shape:
        field = meta.get_field(name)
        where_fields.append(field)
        column = quoted(field.column, connection)
        if size is None:
            conditions.append(f"{column} = %s")
        else:
            conditions.append(f"{column} IN ({', '.join(['%s'] * size)})")
    columns = ", ".join(quoted(f.column, connection) for f in fields)
    sql = f"SELECT {columns} FROM {quoted(meta.db_table, connection)}"
    if conditions:
        sql += f" WHERE {' AND '.join(conditions)}"
    if order_by:
        sql += " ORDER BY " + ", ".join(
            f"{quoted(meta.get_field(n[1:]).column, connection)} DESC"
            if n[0] == "-"
            else quoted(meta.get_field(n).column, connection)
            for n in order_by
        )
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    converters = []
    for i, field in enumerate(fields):
        col = field.get_col(meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if found:
            converters.append((i, col, found))
    return sql, where_fields, converters


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
    connection = _db()
    columns, head, group, copy_sql = _plan(
        connection, ("insert", model, tuple(rows[0])), _insert_plan
    )
    values = [
        [
            value if type(value := row[f.name]) is as_is else f.get_db_prep_save(value, connection)
            for f, as_is in columns
        ]
        for row in rows
    ]
    if connection.vendor == "postgresql" and len(rows) >= COPY_MIN_ROWS:
        flush()  # COPY bypasses Django's cursor: what is queued must go first
        # and its errors: wrapped as Django's, so that a lost connection is told from a
        # handler's fault (found from outside: a restart mid-rebuild read as the events')
        with connection.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:
            for row in values:
                copy.write_row(row)
        return
    send(  # queued inside eventkit.batching.batched(): nothing reads its result
        cursor,
        head + ", ".join([group] * len(rows)),
        [value for row in values for value in row],
    )


def _insert_plan(connection, key) -> tuple[list, str, str, str]:
    _, model, names = key
    fields = [model._meta.get_field(name) for name in names]
    table = quoted(model._meta.db_table, connection)
    columns = ", ".join(quoted(f.column, connection) for f in fields)
    return (
        [(f, _as_is(f)) for f in fields],
        f"INSERT INTO {table} ({columns}) VALUES ",
        "(" + ", ".join(["%s"] * len(fields)) + ")",
        f"COPY {table} ({columns}) FROM STDIN",
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
    connection = _db()
    key = ("update", model, tuple(fields), tuple(increments), tuple(at_least), tuple(at_most))
    sql, adapters = _plan(connection, key, _update_plan)
    values = [*fields.values(), *increments.values(), *at_least.values(), *at_most.values(), pk]
    params = [
        value
        if field is None or type(value) is as_is
        else field.get_db_prep_save(value, connection)
        for (field, as_is), value in zip(adapters, values, strict=True)
    ]
    if not must_exist:
        cursor.execute(sql, params)
        return cursor.rowcount

    def check(rowcount: int) -> None:
        if rowcount == 0:
            raise MissingRow(f"{model._meta.label} row {pk} is missing")

    return send(cursor, sql, params, check)


def _update_plan(connection, key) -> tuple[str, list]:
    """The text of an :func:`update_row` statement and, for each of its parameters in
    order, the field that adapts its value (None for an increment: a plain number)."""
    _, model, fields, increments, at_least, at_most = key
    meta = model._meta

    def column(name):
        return quoted(meta.get_field(name).column, connection)

    sets = [f"{column(name)} = %s" for name in fields]
    sets += [f"{column(name)} = {column(name)} + %s" for name in increments]
    # Scalar MIN/MAX is SQLite's LEAST/GREATEST.
    sqlite = connection.vendor == "sqlite"
    for function, bounds in (
        ("MAX" if sqlite else "GREATEST", at_least),
        ("MIN" if sqlite else "LEAST", at_most),
    ):
        sets += [f"{column(name)} = {function}({column(name)}, %s)" for name in bounds]
    table, pk = quoted(meta.db_table, connection), quoted(meta.pk.column, connection)
    sql = f"UPDATE {table} SET {', '.join(sets)} WHERE {pk} = %s"
    adapters = [meta.get_field(name) for name in fields] + [None] * len(increments)
    adapters += [meta.get_field(name) for name in (*at_least, *at_most)]
    return sql, [(field, _as_is(field)) for field in (*adapters, meta.pk)]


def json_value(value):
    """A JSON column as raw SQL hands it back: text (SQLite, Django's jsonb loader) or data."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def aware_datetime(value) -> datetime:
    """A timestamp column as raw SQL hands it back: aware, naive UTC or ISO text (SQLite)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
