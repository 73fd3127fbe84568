"""Incoming-call webhook to TwiML under sustained load on PostgreSQL: p50, p99 and calls per
second of POST /twilio/voice (signed, a new CallSid and caller each), beside a bare FastAPI
"hello" driven by the same small asyncio client in the same run, open loop (latency counted
from when each request was due). Starts its own uvicorn servers on loopback ports and a
throw-away database beside HOTLINE_BENCH_DATABASE_URL, sends a bounded number of requests, and
stops by itself.

    .venv/bin/python -m benchmarks.bench_webhook [--rate 200] [--seconds 10] [--rounds 3] [--workers 1]
                                                 [--durable-new-calls]

Each round prints how busy the machine was and how much CPU time the hypervisor stole during
the webhook run: on a shared virtual machine a round with much steal measures the neighbours.

HOTLINE_WEBHOOK_CONCURRENCY (default 4) is passed through to the hub's server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import bench_database, cpu_seconds, percentile  # noqa: E402

ACCOUNT_SID = "AC" + "be" * 16
AUTH_TOKEN = "bench-auth-token"


# The two apps (uvicorn imports these as factories) ----------------------------------------------

def hub_app():  # type: ignore[no-untyped-def]
    from hotline.app import create_app

    return create_app(start_background=False)


def hello_app():  # type: ignore[no-untyped-def]
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    app = FastAPI()

    @app.post("/hello")
    async def hello() -> PlainTextResponse:
        return PlainTextResponse("hello")

    return app


# Setting up ----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(url: str, port: int, var_dir: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {**os.environ, "HOTLINE_DATABASE_URL": url, "HOTLINE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "HOTLINE_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "HOTLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "HOTLINE_SECRET_KEY": secrets.token_urlsafe(32), "HOTLINE_DATA_KEYS": Fernet.generate_key().decode(),
            "HOTLINE_BLIND_INDEX_KEY": secrets.token_urlsafe(32), "HOTLINE_VAR_DIR": var_dir,
            "HOTLINE_LOG_LEVEL": "WARNING", "HOTLINE_LOG_JSON": "false"}


def _prepare(env: dict[str, str]) -> None:
    """Tables and one open site, in the settings the server will use."""
    code = ("from core import config, db, organisation\n"
            "from hotline.models import load_all\n"
            "config.configure(config.ensure_embedded_keys(config.Settings()))\n"
            "load_all().metadata.create_all(db.get_engine())\n"
            "with db.session_scope() as s:\n"
            "    organisation.create_site(s, name='Bench', code='bench', timezone='Asia/Shanghai')\n")
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)


def _round_trips(env: dict[str, str], port: int) -> str:
    """What one new call costs the database, counted in a separate process on the same settings
    through the real app: statements, and the BEGIN and COMMIT around them."""
    code = ("import sys\n"
            "from sqlalchemy import event\n"
            "from fastapi.testclient import TestClient\n"
            "from benchmarks import bench_webhook as bench\n"
            "from core import db\n"
            "client = TestClient(bench.hub_app(), base_url=f'http://127.0.0.1:{sys.argv[1]}')\n"
            "engine, seen = db.get_engine(), []\n"
            "event.listen(engine, 'before_cursor_execute', lambda *a: seen.append('statement'))\n"
            "def real(conn):\n"  # a connection in autocommit sends no BEGIN and no COMMIT
            "    return not conn.connection.dbapi_connection.autocommit\n"
            "event.listen(engine, 'begin', lambda conn: real(conn) and seen.append('BEGIN'))\n"
            "event.listen(engine, 'commit', lambda conn: real(conn) and seen.append('COMMIT'))\n"
            "for _ in range(3):  # the first reads settings the others find remembered\n"
            "    seen.clear()\n"
            "    url, params, headers = bench._voice_request(int(sys.argv[1]))\n"
            "    assert client.post('/twilio/voice', data=params, headers=headers).status_code == 200\n"
            "print(f\"{len(seen)} round trip(s) per new call ({seen.count('statement')} statements, \"\n"
            "      f\"{seen.count('BEGIN')} BEGIN, {seen.count('COMMIT')} COMMIT)\")\n")
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code, str(port)], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def _serve(factory: str, port: int, env: dict[str, str], workers: int = 1) -> subprocess.Popen[bytes]:
    """Start uvicorn on `factory`; `_listening` waits for it."""
    return subprocess.Popen([sys.executable, "-m", "uvicorn", f"benchmarks.bench_webhook:{factory}", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
                             "--workers", str(workers)], env=env, cwd=ROOT)


def _listening(server: subprocess.Popen[bytes], port: int, within: float = 90) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server for port {port} exited ({server.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no server listening on port {port} within {within:.0f} s")


def _cpu_seconds(pid: int) -> float | None:
    seconds = cpu_seconds(pid)
    return None if seconds < 0 else seconds


def _machine_ticks() -> list[int]:
    """The machine's CPU ticks so far (user, nice, system, idle, iowait, irq, softirq, steal)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def _stolen(before: list[int], after: list[int]) -> str:
    """What the machine did meanwhile: busy and stolen shares of its CPU time. Steal is time the
    hypervisor gave this virtual machine's cores to someone else; a run with much of it
    measures the neighbours, not the hub."""
    spent = [a - b for a, b in zip(after, before)]
    total = sum(spent) or 1
    busy = total - spent[3] - spent[4] - spent[7]
    return f"machine busy {busy * 100 / total:.0f} %, stolen {spent[7] * 100 / total:.1f} %"


def _cpu_of(server_pid: int, url: str) -> tuple[float, float] | None:
    """CPU seconds so far of the hub's server process (and its workers) and of the PostgreSQL
    backends connected to the bench database, read from /proc (database on this host)."""
    from sqlalchemy.engine import make_url

    from core import db

    database = make_url(url).database
    admin = db.make_engine(make_url(url).set(database="postgres").render_as_string(hide_password=False),
                           isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        backends = [row[0] for row in conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = %(name)s", {"name": database})]
    admin.dispose()
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children")
    hub_pids = [server_pid, *map(int, children.read_text().split())] if children.exists() else [server_pid]
    hub = [_cpu_seconds(pid) for pid in hub_pids]
    db_cpu = [_cpu_seconds(pid) for pid in backends]
    if None in hub or None in db_cpu:
        return None
    return sum(hub), sum(db_cpu)  # type: ignore[arg-type]


# Driving -------------------------------------------------------------------------------------

def _voice_request(port: int) -> tuple[str, dict[str, str], dict[str, str]]:
    from twilio.request_validator import RequestValidator

    url = f"http://127.0.0.1:{port}/twilio/voice"
    number = f"+86138{secrets.randbelow(10**8):08d}"
    params = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": "CA" + uuid.uuid4().hex,
              "CallStatus": "ringing", "Direction": "inbound", "From": number, "To": "+862160000000",
              "Caller": number, "Called": "+862160000000", "FromCountry": "CN", "ToCountry": "CN"}
    return url, params, {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)}


class _Connection:
    """One keep-alive HTTP/1.1 connection; a deliberately small client, so the machine's cores go
    to the servers being measured rather than to the load generator."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, path: str, host: str, body: bytes, headers: dict[str, str]) -> int:
        head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])


async def _drive(make, rate: float, total: int,  # type: ignore[no-untyped-def]
                 connections: int = 64) -> tuple[list[float], float, int, float]:
    """Open loop: request i leaves at start + i/rate whatever the answers before it. One
    dispatcher starts each request when it is due (thousands of sleeping tasks made at once
    would cost the client its first tens of milliseconds, charged to the server). Returns the
    latencies, the elapsed time, the failures and how late the client was, at worst, in sending."""
    from urllib.parse import urlencode, urlsplit

    requests = [make() for _ in range(total)]
    bodies = [urlencode(data).encode() for _, data, _ in requests]
    parts = urlsplit(requests[0][0])
    path = parts.path
    pool: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(_Connection(*await asyncio.open_connection(parts.hostname, parts.port)))
    latencies: list[float] = []
    failures = 0
    late = 0.0

    async def one(index: int, due: float) -> None:
        nonlocal failures
        connection = await pool.get()
        try:
            status = await connection.post(path, parts.netloc, bodies[index], requests[index][2])
        finally:
            pool.put_nowait(connection)
        # measured from when it was due: a late client does not hide a slow server
        latencies.append((time.perf_counter() - due) * 1000)
        if status != 200:
            failures += 1

    tasks = []
    start = time.perf_counter()
    for index in range(total):
        due = start + index / rate
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        late = max(late, time.perf_counter() - due)
        tasks.append(asyncio.create_task(one(index, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().writer.close()
    return latencies, elapsed, failures, late * 1000


def _report(name: str, latencies: list[float], elapsed: float, failures: int, late: float) -> str:
    ordered = sorted(latencies)
    p99 = percentile(ordered, 0.99)
    return (f"{name:<22} {len(ordered):>6} req  {len(ordered) / elapsed:>7.1f} req/s"
            f"  p50 {statistics.median(ordered):6.2f} ms  p99 {p99:6.2f} ms  max {ordered[-1]:7.2f} ms  errors {failures}"
            f"  (client late by up to {late:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="new calls per second (default 200)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="hello + webhook runs, one after the other (default 3)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes for the hub (default 1)")
    parser.add_argument("--durable-new-calls", action="store_true",
                        help="HOTLINE_NEW_CALL_SYNCHRONOUS_COMMIT=true: each new call waits for the WAL flush")
    args = parser.parse_args()
    total = int(args.rate * args.seconds)
    hub_port, hello_port = _free_port(), _free_port()
    servers: list[subprocess.Popen[bytes]] = []
    with bench_database("hotline_bench_webhook") as url, tempfile.TemporaryDirectory() as var_dir:
        try:
            env = _environment(url, hub_port, var_dir)
            env["HOTLINE_NEW_CALL_SYNCHRONOUS_COMMIT"] = "true" if args.durable_new_calls else "false"
            _prepare(env)
            # The servers start while the round trips are counted (in a process of their own,
            # before any load): both are app start-ups, which take most of a short run.
            servers.append(_serve("hub_app", hub_port, env, args.workers))
            servers.append(_serve("hello_app", hello_port, env))
            trips = _round_trips(env, hub_port)
            _listening(servers[0], hub_port)
            _listening(servers[1], hello_port)
            hello = lambda: (f"http://127.0.0.1:{hello_port}/hello", {"a": "b"}, {})  # noqa: E731
            voice = lambda: _voice_request(hub_port)  # noqa: E731
            asyncio.run(_drive(voice, args.rate, min(400, total)))  # warm-up: pools, caches, JIT-free paths
            asyncio.run(_drive(hello, args.rate, min(400, total)))
            print(f"\nPOST /twilio/voice on PostgreSQL at {args.rate:g} new calls/s, {args.rounds} round(s) of {args.seconds:g} s "
                  f"({args.workers} uvicorn worker(s), client on the same machine, {os.cpu_count()} cores, load average "
                  f"{os.getloadavg()[0]:.1f} before)")
            print(f"database: {trips}; the new call's commit "
                  + ("waits for the WAL flush (--durable-new-calls)" if args.durable_new_calls
                     else "does not wait for the WAL flush (the default; --durable-new-calls to compare)"))
            p99s: dict[str, list[float]] = {"hello": [], "voice": []}
            for round_number in range(1, args.rounds + 1):
                hello_cpu = _cpu_seconds(servers[1].pid)
                hello_result = asyncio.run(_drive(hello, args.rate, total))
                hello_after = _cpu_seconds(servers[1].pid)
                before, ticks = _cpu_of(servers[0].pid, url), _machine_ticks()
                voice_result = asyncio.run(_drive(voice, args.rate, total))
                after, ticks_after = _cpu_of(servers[0].pid, url), _machine_ticks()
                p99s["hello"].append(percentile(hello_result[0], 0.99))
                p99s["voice"].append(percentile(voice_result[0], 0.99))
                print(f"round {round_number}")
                print("  " + _report("bare FastAPI hello", *hello_result))
                print("  " + _report("/twilio/voice -> TwiML", *voice_result))
                line = "  during the webhook run: " + _stolen(ticks, ticks_after)
                if before is not None and after is not None:
                    # Waiting for a core on a busy machine is not in these: the work itself.
                    hub, database = ((a - b) * 1000 / total for a, b in zip(after, before))
                    line += f"; CPU per call: hub process {hub:.2f} ms, PostgreSQL backends {database:.2f} ms"
                if hello_cpu is not None and hello_after is not None:
                    line += f" (hello: {(hello_after - hello_cpu) * 1000 / total:.2f} ms per request)"
                print(line)
            print(f"median p99 over the rounds: hello {statistics.median(p99s['hello']):.2f} ms, "
                  f"/twilio/voice {statistics.median(p99s['voice']):.2f} ms (target: under 20 ms)")
        finally:
            for server in servers:
                server.terminate()
                try:
                    server.wait(10)
                except subprocess.TimeoutExpired:
                    server.kill()


if __name__ == "__main__":
    main()
