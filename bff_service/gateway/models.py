"""The BFF keeps no data of its own; its database holds sessions, admin users and the
websocket feed's checkpoints (``eventkit``)."""
