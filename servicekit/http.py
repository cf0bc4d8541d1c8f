"""The HTTP session a service uses to call its peers."""

import requests
from requests.adapters import HTTPAdapter


def peer_session(*, pool_connections: int = 4, pool_maxsize: int = 64) -> requests.Session:
    """A pooled session for calls to other services of the system.

    Peers are addressed directly, so the environment is not consulted for proxies or .netrc
    on every call (``trust_env``), and nothing is retried underneath: each caller decides
    what is safe to send again. Timeouts are per call.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(
        pool_connections=pool_connections, pool_maxsize=pool_maxsize, max_retries=0
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
