"""What a server process does once its application is loaded, and how a worker stops."""

import gc
import signal
import threading

from django.urls import get_resolver


def freeze_startup_objects() -> None:
    """Keep the objects of start-up (modules, URL patterns, models, serializers: about 90k
    in a service) out of every later garbage collection.

    A full collection walks every tracked object, so in a loaded Django worker it took about
    40 ms of CPU, most of it on objects that live as long as the process. Frozen objects are
    skipped; the ones a request creates are collected as before. Garbage is collected first,
    so none of it is kept for good.
    """
    # Import every view (and its serializers) now, not at the first request.
    get_resolver().url_patterns  # noqa: B018
    gc.collect()
    gc.freeze()


def stop_on_signals(stop: threading.Event, signals=(signal.SIGINT, signal.SIGTERM)) -> None:
    """Have ``signals`` set ``stop``, from a thread of their own.

    A handler runs in the main thread between two of its bytecodes, which may be while that
    thread holds ``stop``'s lock, entering or leaving ``stop.wait()``; ``Event.set()`` from
    the handler would then wait for that lock for ever, and the worker would never stop. The
    thread waits for the main thread to let go instead."""

    def handler(signum, frame):
        threading.Thread(target=stop.set, name="stop-on-signal", daemon=True).start()

    for sig in signals:
        signal.signal(sig, handler)
