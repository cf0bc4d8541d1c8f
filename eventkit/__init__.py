"""eventkit: the event-sourcing Django app that every event-sourced service installs.

Layers, each a small module:

``domain``       events (frozen, versioned, upcast) and aggregates (folds); no ORM.
``errors``       what commands raise: NotFound, Rejected, Conflict, ConcurrencyError.
``models``       the tables: append-only ``Event``, ``Stream`` (lock + snapshot),
                 ``PositionCounter``, ``CommandRecord`` (idempotency).
``store``        load an aggregate, append its events, run a command in one transaction;
                 the module docstring explains why the feed can never skip an event.
``projections``  read-model handlers, applied in the appending transaction.
``rebuild``      clear-and-fold rebuilds and ``--check`` drift reports.
``drift``        ``--check``'s comparison of a fold with the live rows, done by the database.
``feed``         ``GET /events`` (gap-free feed and newest-first log) and per-stream events.
``admin``        read-only pages for events, streams and command outcomes.

Why a reader of ``GET /events?after=<position>`` can never skip an event: positions are
handed out by one counter row that each append increments and keeps locked until it
commits. Position ``p + 1`` therefore cannot exist before the transaction holding ``p`` has
committed (``p`` is visible) or rolled back (``p`` is handed out again). Positions have no
holes and become visible in order, so "everything after my cursor" is always complete. A
sequence cannot promise this: it numbers rows at insert, and transactions commit in another
order. The full argument, and its cost, is in ``eventkit.store``.
"""
