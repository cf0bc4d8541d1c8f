"""How a service calls its peers: requests' connection pool and errors, without a Session."""

from typing import Any

import requests
from requests.adapters import HTTPAdapter


class PeerClient:
    """Pooled calls to the other services of the system.

    A ``requests.Session`` prepares every call the way a browser would: it merges its cookie
    jar, hooks and the environment's proxy and TLS settings into each request and follows
    redirects. Peers need none of that, and on a small machine the merging was a quarter of
    a call's client CPU (a JSON POST answered at once: 1.34 ms through ``Session.request``,
    0.97 ms prepared as here). So a call is prepared with ``requests.PreparedRequest``'s own
    steps (method, URL and query, headers, JSON body) and handed to requests' HTTPAdapter:
    the same connection pool, the same ``Response``, the same exceptions
    (``requests.Timeout``, ``requests.ConnectionError``), and no redirect followed.

    Nothing is retried underneath: each caller decides what is safe to send again. Timeouts
    are per call and required.
    """

    def __init__(
        self,
        *,
        pool_connections: int = 4,
        pool_maxsize: int = 64,
        headers: dict[str, str] | None = None,
    ):
        self.adapter = HTTPAdapter(
            pool_connections=pool_connections, pool_maxsize=pool_maxsize, max_retries=0
        )
        self.headers = dict(headers or {})

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: tuple[float, float],
        params: dict | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        prepared.prepare_url(url, params)
        prepared.prepare_headers({**self.headers, **headers} if headers else self.headers)
        prepared.prepare_body(data=None, files=None, json=json)
        response = self.adapter.send(prepared, timeout=timeout)
        # Read the answer now, as a Session does: its connection goes back to the pool at
        # once instead of when (or if) the caller reads the body.
        response.content  # noqa: B018
        return response

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def close(self) -> None:
        self.adapter.close()
