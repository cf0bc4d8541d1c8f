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
``feed``         ``GET /events`` (gap-free feed and newest-first log) and per-stream events.
``admin``        read-only pages for events, streams and command outcomes.
"""
