"""How the simulator and the hub reach each other without a network in tests: a requests adapter
that hands the twilio client's REST requests to the simulator in-process, and a webhook
transport that posts through any httpx client (the app's TestClient, or a real one)."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from telephony.simulator import rest
from telephony.simulator.carrier import Simulator
from telephony.simulator.engine import WebhookTransport


class SimulatorAdapter(BaseAdapter):
    """Answers `requests` for `<base>/2010-04-01/...` by calling the simulator directly."""

    def __init__(self, sim: Simulator, base_path: str = "/simulator") -> None:
        super().__init__()
        self.sim = sim
        self.base_path = base_path.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        path = parts.path.removeprefix(self.base_path)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        if not isinstance(body, bytes):
            raise TypeError("the simulator takes whole request bodies, not streams")
        delay = rest.injected_delay(self.sim, request.method or "GET", path)
        if delay and self.sim.faults is not None:
            self.sim.faults.sleep(delay)
        headers = {k: v if isinstance(v, str) else v.decode() for k, v in request.headers.items()}
        answer = rest.handle(self.sim, request.method or "GET", path, body, headers, parts.query)
        response = requests.Response()
        response.status_code = answer.status
        response._content = answer.body
        response._content_consumed = True
        response.raw = io.BytesIO(answer.body)
        response.headers = CaseInsensitiveDict({"Content-Type": answer.content_type,
                                                "Content-Length": str(len(answer.body))})
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


def httpx_transport(client: httpx.Client) -> WebhookTransport:
    """A webhook transport posting form data through `client` (absolute URLs)."""

    def post(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = client.post(url, data=params, headers=headers)
        return response.status_code, response.text

    return post
