"""HTTP calls to the saga's participants, each mapped to a :class:`Reply`.

One :class:`servicekit.http.PeerClient` per process, connect and read timeouts on every
call, and an ``Idempotency-Key`` derived from the saga and the step, so a retry, a resume or
a duplicate request never applies a command twice.

How answers are read:

* 2xx is success. For a compensation, 404 is success too: there is nothing to undo.
* Any other 4xx but 408 and 429 is a business refusal (short stock, illegal transition,
  unknown product): the command did not happen. It is not retried.
* 5xx, a timeout or a broken connection is *unknown*: the command may or may not have
  happened. It is retried until the saga's deadline; then the saga compensates, and the
  compensations are written so that undoing something that never happened is harmless.
"""

import logging

import requests
from django.conf import settings

from sagas.domain import OK, REJECTED, UNKNOWN, PlaceOrderSaga
from sagas.orchestrator import Reply
from servicekit.http import PeerClient

logger = logging.getLogger(__name__)


_client: PeerClient | None = None


def client() -> PeerClient:
    global _client
    if _client is None:
        headers = {}
        if settings.SERVICE_TOKEN:
            headers["Authorization"] = f"Bearer {settings.SERVICE_TOKEN}"
        _client = PeerClient(headers=headers)
    return _client


def timeouts() -> tuple[float, float]:
    return (settings.SAGA["CONNECT_TIMEOUT_SECONDS"], settings.SAGA["READ_TIMEOUT_SECONDS"])


def lookup_product(product_id) -> dict | None:
    """The product as inventory shows it, or None if inventory does not know it."""
    url = f"{settings.INVENTORY_SERVICE_URL}/queries/products/{product_id}"
    response = client().get(url, timeout=timeouts())
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


class Participants:
    """The commands the saga sends, one method per step name of ``sagas.definition``."""

    def __init__(self, *, order_url: str | None = None, inventory_url: str | None = None):
        self.order_url = order_url or settings.ORDER_SERVICE_URL
        self.inventory_url = inventory_url or settings.INVENTORY_SERVICE_URL
        self._commands = {
            "CreateOrder": self.create_order,
            "ReserveInventory": self.reserve_inventory,
            "ConfirmOrder": self.confirm_order,
            "CancelOrder": self.cancel_order,
            "ReleaseInventory": self.release_inventory,
        }

    def call(
        self,
        step: str,
        saga: PlaceOrderSaga,
        *,
        compensating: bool,
        correlation_id: str | None = None,
    ) -> Reply:
        method, url, body, describe = self._commands[step](saga)
        headers = {"Idempotency-Key": f"saga:{saga.id}:{step}"}
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        try:
            response = client().request(method, url, json=body, headers=headers, timeout=timeouts())
        except requests.Timeout as exc:
            return Reply(UNKNOWN, f"timed out: {exc.__class__.__name__}", "timeout")
        except requests.RequestException as exc:
            return Reply(UNKNOWN, f"unreachable: {exc.__class__.__name__}", "unreachable")
        return _read(response, describe, compensating=compensating)

    def create_order(self, saga):
        d = saga.details
        body = {
            "order_id": d.order_id,
            "customer_name": d.customer_name,
            "product_id": d.product_id,
            "product_name": d.product_name,
            "quantity": d.quantity,
            "total_price": d.total_price,
        }
        return "POST", f"{self.order_url}/commands/orders", body, lambda b: "order created"

    def reserve_inventory(self, saga):
        d = saga.details
        url = f"{self.inventory_url}/commands/inventory/{d.product_id}/reserve"
        body = {"order_id": d.order_id, "quantity": d.quantity}
        return (
            "POST",
            url,
            body,
            lambda b: (
                f"reserved {d.quantity} x {b.get('product_name', d.product_name)} "
                f"(available now {b.get('available')})"
            ),
        )

    def confirm_order(self, saga):
        url = f"{self.order_url}/commands/orders/{saga.details.order_id}/confirm"
        return "POST", url, {}, lambda b: "order confirmed"

    def cancel_order(self, saga):
        url = f"{self.order_url}/commands/orders/{saga.details.order_id}/cancel"
        body = {"reason": saga.reason[:500] or "saga compensated"}
        return "POST", url, body, lambda b: "order cancelled"

    def release_inventory(self, saga):
        d = saga.details
        url = f"{self.inventory_url}/commands/inventory/{d.product_id}/release"
        body = {"order_id": d.order_id}

        def describe(b):
            held = (b.get("reservation") or {}).get("quantity", 0)
            return f"released {held}" if held else "nothing was reserved; reservation voided"

        return "POST", url, body, describe


def _read(response: requests.Response, describe, *, compensating: bool) -> Reply:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    status = response.status_code
    if 200 <= status < 300:
        return Reply(OK, describe(body))
    detail = str(body.get("detail") or response.reason or status)
    code = str(body.get("code", ""))
    if status == 404 and compensating:
        return Reply(OK, f"nothing to undo ({detail})")
    if 400 <= status < 500 and status not in (408, 429):
        return Reply(REJECTED, detail, code, order_status=str(body.get("status", "")))
    logger.warning("participant answered %s: %s", status, detail)
    return Reply(UNKNOWN, f"{status}: {detail}", code or "server_error")
