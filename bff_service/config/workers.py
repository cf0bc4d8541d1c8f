"""The BFF's gunicorn worker: uvicorn, with websocket compression off."""

from uvicorn_worker import UvicornWorker


class PushWorker(UvicornWorker):
    # A push is a few hundred bytes of JSON sent to every watching client, and
    # permessage-deflate compresses it again for each of them (every connection has its own
    # compressor): CPU per client per message, for frames too small to gain from it.
    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "ws_per_message_deflate": False}
