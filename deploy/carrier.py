"""The carrier simulator for a loopback deployment, in the process that drives the calls: its REST
API served on a port that nginx proxies /simulator/ to, its signed webhooks posted to nginx (or to
one web process), its due work run by one or more pump threads (several: webhooks of different
calls in flight at once, as Twilio sends them), each webhook timed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.config import Settings

# (kind, seconds, HTTP status or 599 for no answer)
WebhookObserver = Callable[[str, float, int], None]


def webhook_kind(url: str) -> str:
    """`/twilio/conference/events?x=1` -> `conference/events`."""
    path = urlsplit(url).path
    return path.removeprefix("/twilio/") or path


class LoopbackCarrier:
    def __init__(self, port: int, *, pumps: int = 1, observe: WebhookObserver | None = None,
                 connections: int = 64) -> None:
        self.port = port
        self.pumps = pumps
        self.observe = observe
        self.connections = connections
        self.lock = threading.Lock()  # for a driver's own steps; the simulator locks its state itself
        self.sim: Any = None
        self.target: str | None = None  # a web process's URL: webhooks go there instead of nginx
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, settings: Settings, *, hotline_number: str = "+862160000000") -> LoopbackCarrier:
        import uvicorn
        from fastapi import FastAPI

        from telephony.simulator import build
        from telephony.simulator.router import router

        app = FastAPI()
        app.include_router(router)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                                    log_level="warning", backlog=2048))
        server_thread = threading.Thread(target=self.server.run, name="carrier-rest", daemon=True)
        server_thread.start()
        self.http = httpx.Client(timeout=15, limits=httpx.Limits(max_connections=self.connections,
                                                                 max_keepalive_connections=self.connections))
        public = settings.public_url

        def post(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
            # Signed for the public URL (as the hub checks it), delivered wherever the driver says.
            target = url.replace(public, self.target) if self.target else url
            began = time.perf_counter()
            status, text = 599, ""
            try:
                response = self.http.post(target, data=params, headers=headers)
                status, text = response.status_code, response.text
            finally:
                if self.observe is not None:
                    self.observe(webhook_kind(url), time.perf_counter() - began, status)
            return status, text

        self.sim = build(settings, post, in_process=False, hotline_number=hotline_number)
        self.sim.webhooks = _Forgetful()  # a long run would otherwise keep every webhook
        for n in range(self.pumps):
            thread = threading.Thread(target=self._pump, name=f"carrier-pump-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not server_thread.is_alive():
                raise RuntimeError("the carrier's REST server did not start")
            time.sleep(0.02)  # waiting on the server thread
        return self

    def _pump(self) -> None:
        while not self._stop.wait(0.01):
            try:
                self.sim.pump(max_steps=1_000_000)
            except Exception:  # noqa: BLE001 - the driver sees the consequence; keep pumping
                import logging

                logging.getLogger("deploy.carrier").exception("simulator pump failed")

    def stop(self) -> None:
        from telephony.gateway import install_gateway
        from telephony.simulator import install_simulator

        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        self.server.should_exit = True
        self.http.close()
        install_simulator(None)
        install_gateway(None)


class _Forgetful(list):  # type: ignore[type-arg]
    """The simulator appends every webhook it sent; a load run keeps only the last thousand."""

    def append(self, item: Any) -> None:
        super().append(item)
        if len(self) > 2000:
            del self[:1000]
