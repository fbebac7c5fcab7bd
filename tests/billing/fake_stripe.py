"""A fake Stripe API on a real HTTP server (a thread), for the official `stripe` library to talk to
(STRIPE_API_BASE / StripeClient(base_addresses=...)). It checks what our code sends — the form
encoding, the fields each endpoint needs, the secret key, an Idempotency-Key on every POST, and the
idempotency rules (the same key with other parameters is an error; with the same ones, the first
answer again) — and records every call. It also plays the customer: /pay/<session> is the hosted
Checkout page, whose button "pays" and delivers the signed webhooks, then redirects to success_url.
"""

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

SECRET_KEY = "sk_test_fake_aipower"
WEBHOOK_SECRET = "whsec_fake_aipower"
DECLINED_PM = "pm_card_chargeDeclined"


def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header for a payload: t=<unix time>,v1=<HMAC-SHA256 of "t.payload">."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(type_: str, obj: dict, *, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{next(_ids)}",
        "object": "event",
        "type": type_,
        "api_version": "2025-04-30.basil",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "data": {"object": obj},
    }


_ids = itertools.count(1000)


def decode_form(body: str) -> dict:
    """Stripe's form encoding (a[b][0][c]=v) back into nested dicts (list indices stay keys)."""
    out: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


class ShapeError(Exception):
    pass


def need(cond, message):
    if not cond:
        raise ShapeError(message)


class FakeStripe:
    def __init__(self):
        self.calls: list[dict] = []
        self.sessions: dict[str, dict] = {}
        self.intents: dict[str, dict] = {}
        self.meter_events: dict[str, dict] = {}
        self.webhook_url: str | None = None
        self.delivered: list[tuple[dict, int]] = []
        self._idem: dict[str, tuple[dict, int, dict]] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def calls_to(self, path: str) -> list[dict]:
        return [c for c in self.calls if c["path"] == path]

    # --- Webhooks ------------------------------------------------------------------------------

    def deliver(self, evt: dict, *, url: str | None = None) -> int:
        payload = json.dumps(evt).encode()
        req = urllib.request.Request(
            url or self.webhook_url,
            data=payload,
            method="POST",
            headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload)},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        self.delivered.append((evt, status))
        return status

    def pay(self, session_id: str, *, deliver: bool = True) -> list[dict]:
        """The customer pays a Checkout session by card: the session completes paid, its payment
        intent succeeds. Returns (and, with deliver, sends) the events Stripe would."""
        with self._lock:
            s = self.sessions[session_id]
            pi = f"pi_{next(_ids)}"
            s.update(
                status="complete",
                payment_status="paid",
                payment_intent=pi,
                customer=s["customer"] or f"cus_{next(_ids)}",
            )
            intent = {
                "id": pi,
                "object": "payment_intent",
                "amount": s["amount_total"],
                "amount_received": s["amount_total"],
                "currency": "usd",
                "status": "succeeded",
                "customer": s["customer"],
                "payment_method": f"pm_{next(_ids)}",
                "metadata": s["payment_intent_metadata"],
                "latest_charge": f"ch_{next(_ids)}",
            }
            self.intents[pi] = intent
        events = [
            event("checkout.session.completed", self.public(s)),
            event("payment_intent.succeeded", intent),
            event("charge.succeeded", self.charge(intent)),
        ]
        if deliver:
            for e in events:
                self.deliver(e)
        return events

    @staticmethod
    def public(s: dict) -> dict:
        return {k: v for k, v in s.items() if k != "payment_intent_metadata"}

    @staticmethod
    def charge(intent: dict, *, amount_refunded: int = 0) -> dict:
        return {
            "id": intent["latest_charge"],
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": amount_refunded,
            "refunded": amount_refunded >= intent["amount"],
            "payment_intent": intent["id"],
            "customer": intent["customer"],
            "status": "succeeded",
            "receipt_url": f"https://pay.stripe.com/receipts/{intent['latest_charge']}",
        }

    # --- The API ----------------------------------------------------------------------------------

    def _api(self, method: str, path: str, params: dict, headers) -> tuple[int, dict]:
        need(headers.get("Authorization") == f"Bearer {SECRET_KEY}", "bad or missing secret key")
        if method != "POST":
            raise ShapeError(f"unexpected {method} {path}")
        key = headers.get("Idempotency-Key")
        need(key, "every POST must carry an Idempotency-Key")
        with self._lock:
            if key in self._idem:
                first_params, status, body = self._idem[key]
                if first_params != params:
                    return 400, {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests "
                            "can only be used with the same parameters they were first used with.",
                        }
                    }
                return status, body
        status, body = self._create(path, params)
        with self._lock:
            self._idem[key] = (params, status, body)
        return status, body

    def _create(self, path, p) -> tuple[int, dict]:
        if path == "/v1/checkout/sessions":
            need(p.get("mode") == "payment", "mode=payment")
            item = p["line_items"]["0"]
            need(item.get("quantity") == "1", "one line item")
            price = item["price_data"]
            need(price.get("currency") == "usd" and price.get("unit_amount", "").isdigit(), "usd, whole cents")
            need(price["product_data"].get("name"), "a product name")
            need(
                p.get("success_url", "").startswith("http") and "{CHECKOUT_SESSION_ID}" in p["success_url"],
                "success_url with {CHECKOUT_SESSION_ID}",
            )
            need(p.get("cancel_url", "").startswith("http"), "cancel_url")
            need(p["metadata"].get("organization_id") == p.get("client_reference_id"), "the organization, twice")
            need(p["payment_intent_data"]["setup_future_usage"] == "off_session", "the card kept for recharges")
            need(bool(p.get("customer")) != bool(p.get("customer_creation")), "a customer, or one created")
            sid = f"cs_test_{next(_ids)}"
            s = {
                "id": sid,
                "object": "checkout.session",
                "mode": "payment",
                "status": "open",
                "payment_status": "unpaid",
                "amount_total": int(price["unit_amount"]),
                "currency": "usd",
                "client_reference_id": p["client_reference_id"],
                "metadata": p["metadata"],
                "customer": p.get("customer"),
                "payment_intent": None,
                "success_url": p["success_url"],
                "cancel_url": p["cancel_url"],
                "url": f"{self.url}/pay/{sid}",
                "payment_intent_metadata": p["payment_intent_data"].get("metadata", {}),
            }
            with self._lock:
                self.sessions[sid] = s
            return 200, self.public(s)
        if path == "/v1/payment_intents":
            need(
                p.get("amount", "").isdigit() and int(p["amount"]) > 0 and p.get("currency") == "usd", "amount in cents"
            )
            need(p.get("off_session") == "true" and p.get("confirm") == "true", "off_session and confirm")
            need(
                p.get("customer", "").startswith("cus_") and p.get("payment_method", "").startswith("pm_"),
                "the saved customer and payment method",
            )
            if p["payment_method"] == DECLINED_PM:
                return 402, {
                    "error": {
                        "type": "card_error",
                        "code": "card_declined",
                        "decline_code": "generic_decline",
                        "message": "Your card was declined.",
                    }
                }
            pi = {
                "id": f"pi_{next(_ids)}",
                "object": "payment_intent",
                "amount": int(p["amount"]),
                "amount_received": int(p["amount"]),
                "currency": "usd",
                "status": "succeeded",
                "customer": p["customer"],
                "payment_method": p["payment_method"],
                "metadata": p.get("metadata", {}),
                "latest_charge": f"ch_{next(_ids)}",
            }
            with self._lock:
                self.intents[pi["id"]] = pi
            return 200, pi
        if path == "/v1/billing/meter_events":
            need(p.get("event_name"), "event_name")
            need(p["payload"].get("stripe_customer_id", "").startswith("cus_"), "payload[stripe_customer_id]")
            need(p["payload"].get("value", "").isdigit(), "payload[value], a whole number")
            need(p.get("identifier"), "an identifier")
            with self._lock:
                if p["identifier"] in self.meter_events:
                    return 400, {
                        "error": {
                            "type": "invalid_request_error",
                            "message": "An event already exists with identifier " + p["identifier"],
                        }
                    }
                self.meter_events[p["identifier"]] = p
            return 200, {
                "object": "billing.meter_event",
                "event_name": p["event_name"],
                "identifier": p["identifier"],
                "payload": p["payload"],
                "timestamp": int(p.get("timestamp") or time.time()),
                "created": int(time.time()),
                "livemode": False,
            }
        raise ShapeError(f"no such endpoint {path}")

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, content_type="application/json", headers=()):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method):
                path = urlsplit(self.path).path
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if path.startswith("/pay/"):
                    return self._checkout_page(method, path.removeprefix("/pay/"))
                need_form = method == "POST"
                params = decode_form(raw) if need_form else {}
                call = {
                    "method": method,
                    "path": path,
                    "params": params,
                    "idempotency_key": self.headers.get("Idempotency-Key"),
                    "status": None,
                }
                try:
                    if need_form and "application/x-www-form-urlencoded" not in self.headers.get("Content-Type", ""):
                        raise ShapeError("form-encoded body expected")
                    status, body = fake._api(method, path, params, self.headers)
                except (ShapeError, KeyError) as e:
                    status, body = 400, {"error": {"type": "invalid_request_error", "message": f"fake Stripe: {e!r}"}}
                call["status"] = status
                fake.calls.append(call)
                self._send(status, body, headers=[("Request-Id", f"req_{next(_ids)}")])

            def _checkout_page(self, method, sid):
                s = fake.sessions.get(sid)
                if s is None:
                    return self._send(404, b"no such session", "text/plain")
                if method == "GET":
                    html = (
                        "<!doctype html><title>Stripe Checkout (fake)</title>"
                        f"<h1>Pay ${s['amount_total'] / 100:.2f}</h1>"
                        "<form method=post><button id=pay type=submit>Pay</button></form>"
                    )
                    return self._send(200, html.encode(), "text/html")
                fake.pay(sid)
                self.send_response(303)
                self.send_header("Location", s["success_url"].replace("{CHECKOUT_SESSION_ID}", sid))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        return Handler
