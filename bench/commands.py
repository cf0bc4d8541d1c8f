"""What the event store costs per command, without HTTP: order create + confirm in one process.

    .venv/bin/python bench/commands.py                  # 5 rounds of 300 pairs
    .venv/bin/python bench/commands.py --rounds 3 --pairs 100

Runs the order service's own command functions (``orders.services.order_create`` and
``order_confirm``: load, decide, append, project, record the command id, commit) against a
throwaway PostgreSQL database (``TEST_DATABASE_URL``, as the system tests use), migrated
here and dropped at the end. Between pairs the connection goes back to the pool, as at the
end of a request. Prints the CPU of this process per pair for each round and the median:
the client side of the store (Django, psycopg, eventkit), not PostgreSQL's.

CPU time moves with the machine. For a number that does not, count instructions:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/commands.py --rounds 1 --pairs 10 --warm-up 0
    (the same with --pairs 60; the difference over 50 is the count per pair)
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/, manage_all
from tests.live import Database  # noqa: E402

LAPTOP = uuid.UUID("a1111111-1111-1111-1111-111111111111")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=300, help="create + confirm per round")
    parser.add_argument("--warm-up", type=int, default=100, help="pairs before the first round")
    args = parser.parse_args()

    database = Database("commands")
    try:
        os.environ.update(DATABASE_URL=database.url, DJANGO_SETTINGS_MODULE="config.settings")
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        sys.path.insert(0, str(ROOT / "order_service"))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import close_old_connections, connections

        from orders import services

        call_command("migrate", verbosity=0)

        def pair() -> None:
            order_id = uuid.uuid4()
            services.order_create(
                order_id=order_id,
                customer_name="bench",
                product_id=LAPTOP,
                product_name="Laptop",
                quantity=1,
                total_price=120_000,
                command_id=f"create:{order_id}",
            )
            services.order_confirm(order_id=order_id, command_id=f"confirm:{order_id}")
            close_old_connections()  # what the end of a request does

        for _ in range(args.warm_up):
            pair()
        rounds = []
        for _ in range(args.rounds):
            started = time.process_time()
            for _ in range(args.pairs):
                pair()
            rounds.append((time.process_time() - started) / args.pairs * 1000)
        print("ms CPU per create + confirm:", " ".join(f"{ms:.3f}" for ms in rounds))
        print(f"median: {statistics.median(rounds):.3f}")
        connections.close_all()
    finally:
        database.drop()


if __name__ == "__main__":
    main()
