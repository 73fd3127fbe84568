"""The production shape on one machine, on loopback: nginx (Debian's, with deploy/nginx/hotline.conf
rendered into a temporary folder, unprivileged ports) in front of several `hotline serve` web
processes, `hotline worker` processes and one `hotline beat`, on PostgreSQL and Redis, with files
in S3-compatible storage (moto's server as the stand-in). The deployment test and the
full-lifecycle load run start it; a person can too:

    .venv/bin/python -m deploy.loopback --database-url postgresql+psycopg://postgres@127.0.0.1/hotline_try \\
        --broker-url redis://127.0.0.1:6379/8

Twilio is played by the carrier simulator of whoever drives the calls: its REST API is reached
through nginx at /simulator/ (the hub's gateway asks `<public URL>/simulator` when no real Twilio
account is configured), and its webhooks go to nginx like Twilio's would."""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from deploy.processes import (REPO_ROOT, Managed, free_port, make_bucket, spawn, start_s3_server, wait_for_http,
                              wait_for_port)

NGINX_TEMPLATE = Path(__file__).parent / "nginx" / "hotline.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TWILIO_SID = "AC" + "5" * 32
TWILIO_TOKEN = "loopback-twilio-auth-token-0123456789"
_BLOCK = re.compile(r"^([ \t]*)# \{\{ (\w+) \}\}\n.*?^[ \t]*# \{\{ /\2 \}\}\n", re.S | re.M)


def render_site(template: str, blocks: dict[str, list[str]]) -> str:
    """Replace each `# {{ name }} ... # {{ /name }}` block of the site file with the given lines."""

    def replace(match: re.Match[str]) -> str:
        indent, name = match.group(1), match.group(2)
        if name not in blocks:
            raise KeyError(f"no lines given for the {name!r} block")
        return "".join(f"{indent}{line}\n" for line in blocks[name])

    rendered = _BLOCK.sub(replace, template)
    if re.search(r"# \{\{ /?\w+ \}\}", rendered):
        raise ValueError("a block of the nginx template was left unfilled")
    return rendered


def render_nginx(*, prefix: Path, listen_port: int, web_ports: list[int], simulator_port: int | None = None,
                 access_log: bool = False) -> str:
    """A whole nginx.conf for an unprivileged nginx under `prefix`, with the site file inside."""
    web = [f"server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;" for port in web_ports]
    listen = [f"listen 127.0.0.1:{listen_port};", "server_name localhost;",
              f"access_log {prefix / 'access.log'};" if access_log else "access_log off;"]
    extra = [] if simulator_port is None else [
        "# The carrier simulator plays Twilio's REST API for the hub.",
        "location /simulator/ {", f"    proxy_pass http://127.0.0.1:{simulator_port};", "}"]
    site = render_site(NGINX_TEMPLATE.read_text(), {"web_servers": web, "listen": listen, "extra_locations": extra})
    user = ""
    if os.geteuid() == 0:  # as root, nginx would hand its workers to `nobody`, who cannot use our folder
        user = "user root;\n"
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                             "scgi"))
    return f"""{user}daemon off;
worker_processes 1;
pid {prefix / 'nginx.pid'};
error_log {prefix / 'error.log'} warn;
events {{
    worker_connections 8192;
}}
http {{
{temp}
    include /etc/nginx/mime.types;
{site}
}}
"""


def _keys() -> dict[str, str]:
    return {"HOTLINE_SECRET_KEY": secrets.token_urlsafe(48),
            "HOTLINE_DATA_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "HOTLINE_BLIND_INDEX_KEY": secrets.token_urlsafe(48)}


@dataclass
class Loopback:
    """Start with start(), stop with stop() (or use it as a context manager)."""

    database_url: str
    broker_url: str
    workdir: Path
    webs: int = 2
    workers: int = 2
    beat: bool = True
    s3_endpoint: str | None = None  # None: start moto's server
    bucket: str = "hotline-loopback"
    simulator_port: int | None = None
    worker_args: tuple[str, ...] = ("--pool", "solo")
    worker_concurrency: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=_keys)
    nginx_port: int = 0
    web_ports: list[int] = field(default_factory=list)
    processes: dict[str, Managed] = field(default_factory=dict)

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    @property
    def web_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.web_ports]

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    def env(self) -> dict[str, str]:
        """The settings every process gets (as /etc/hotline/hotline.env would give them)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "AWS_"))}
        env.update(self.keys)
        env.update(
            # Not production mode only because Twilio is the simulator (production talks to
            # api.twilio.com); every production setting is set all the same.
            HOTLINE_MODE="embedded", HOTLINE_DATABASE_URL=self.database_url, HOTLINE_BROKER_URL=self.broker_url,
            HOTLINE_PUBLIC_URL=self.public_url, HOTLINE_TRUSTED_PROXIES="127.0.0.1",
            HOTLINE_TWILIO_ACCOUNT_SID=TWILIO_SID, HOTLINE_TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
            HOTLINE_VAR_DIR=str(self.workdir / "var"), HOTLINE_LOG_JSON="false",
            HOTLINE_STORAGE_BACKEND="s3", HOTLINE_S3_BUCKET=self.bucket, HOTLINE_S3_ENDPOINT_URL=self.s3_endpoint or "",
            HOTLINE_S3_ACCESS_KEY_ID="hotline", HOTLINE_S3_SECRET_ACCESS_KEY="hotline-secret",
            HOTLINE_BEAT_LOCK_SECONDS="10",
        )
        env.update(self.extra_env)
        return env

    def _hotline(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "hotline.cli", *args]

    def start(self, *, timeout: float = 90.0) -> Loopback:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        if self.s3_endpoint is None:
            server, self.s3_endpoint = start_s3_server(self.logs)
            self.processes["s3"] = server
        make_bucket(self.s3_endpoint, self.bucket)
        self.nginx_port = self.nginx_port or free_port()
        self.web_ports = self.web_ports or [free_port() for _ in range(self.webs)]
        env = self.env()
        upgrade = subprocess.run(self._hotline("db", "upgrade"), cwd=REPO_ROOT, env=env, capture_output=True,
                                 text=True, timeout=timeout)
        if upgrade.returncode != 0:
            raise RuntimeError(f"hotline db upgrade failed:\n{upgrade.stdout}\n{upgrade.stderr}")
        for n, port in enumerate(self.web_ports, start=1):
            self.processes[f"web{n}"] = spawn(f"web{n}", self._hotline("serve", "--host", "127.0.0.1", "--port",
                                                                       str(port)), env=env, log_dir=self.logs)
        for n in range(1, self.workers + 1):
            self.processes[f"worker{n}"] = spawn(f"worker{n}", self._hotline(
                "worker", "--concurrency", str(self.worker_concurrency), *self.worker_args, "-n", f"worker{n}@loopback",
                "--without-gossip", "--without-mingle"), env=env, log_dir=self.logs)
        if self.beat:
            self.processes["beat"] = spawn("beat", self._hotline("beat"), env=env, log_dir=self.logs)
        nginx_dir = self.workdir / "nginx"
        nginx_dir.mkdir(parents=True, exist_ok=True)
        conf = nginx_dir / "nginx.conf"
        conf.write_text(render_nginx(prefix=nginx_dir, listen_port=self.nginx_port, web_ports=self.web_ports,
                                     simulator_port=self.simulator_port))
        check = subprocess.run([NGINX, "-t", "-p", str(nginx_dir), "-c", str(conf), "-e", str(nginx_dir / "error.log")],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused its configuration:\n{check.stderr}")
        self.processes["nginx"] = spawn("nginx", [NGINX, "-p", str(nginx_dir), "-c", str(conf), "-e",
                                                  str(nginx_dir / "error.log")], env=env, log_dir=self.logs)
        for n, url in enumerate(self.web_urls, start=1):
            web = self.processes[f"web{n}"]
            wait_for_http(url + "/healthz", timeout=timeout, process=web.process, what=f"web{n}", log=web.log)
        wait_for_port("127.0.0.1", self.nginx_port, timeout=timeout, process=self.processes["nginx"].process,
                      what="nginx", log=self.processes["nginx"].log)
        for name, managed in self.processes.items():
            if not managed.alive():
                raise RuntimeError(f"{name} exited with {managed.process.returncode}" + managed.tail())
        self.wait_for_workers(timeout=timeout)

    def wait_for_workers(self, *, timeout: float = 60.0) -> None:
        """Until every worker answers a ping over the broker (it then consumes tasks)."""
        from celery import Celery

        names = {f"worker{n}@loopback" for n in range(1, self.workers + 1)}
        control = Celery("hotline-loopback", broker=self.broker_url)
        deadline = time.monotonic() + timeout
        try:
            while names:
                for reply in control.control.ping(destination=sorted(names), timeout=1.0):
                    names -= set(reply)
                for name in sorted(names):
                    managed = self.processes[name.split("@")[0]]
                    if not managed.alive():
                        raise RuntimeError(f"{name} exited with {managed.process.returncode}" + managed.tail())
                if names and time.monotonic() > deadline:
                    raise RuntimeError(f"{', '.join(sorted(names))} did not answer within {timeout:.0f} s")
        finally:
            control.close()

    def wait_for_log(self, name: str, needle: str, *, timeout: float = 60.0) -> None:
        managed = self.processes[name]
        deadline = time.monotonic() + timeout
        while needle not in managed.log.read_text(errors="replace"):
            if not managed.alive():
                raise RuntimeError(f"{name} exited with {managed.process.returncode}" + managed.tail())
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not log {needle!r} within {timeout:.0f} s" + managed.tail())
            time.sleep(0.1)  # waiting on another process, not on time

    def _control(self, action: str, name: str) -> None:
        from celery import Celery

        from core.worker import DEFAULT_QUEUE

        control = Celery("hotline-loopback", broker=self.broker_url)
        try:
            replies = getattr(control.control, action)(DEFAULT_QUEUE, destination=[f"{name}@loopback"], reply=True,
                                                       timeout=10)
        finally:
            control.close()
        if not replies:
            raise RuntimeError(f"{name} did not answer {action}")

    def stop_consuming(self, name: str) -> None:
        """The worker takes no new task (it finishes what it holds); returns once it confirmed."""
        self._control("cancel_consumer", name)

    def start_consuming(self, name: str) -> None:
        self._control("add_consumer", name)

    def pause(self, name: str) -> None:
        self.processes[name].process.send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.processes[name].process.send_signal(signal.SIGCONT)

    def pids(self) -> dict[str, int]:
        return {name: managed.process.pid for name, managed in self.processes.items() if managed.alive()}

    def stop(self) -> dict[str, int]:
        """Stop everything (nginx first, the S3 stand-in last); returns each exit code."""
        codes = {}
        order = ["nginx", *[n for n in self.processes if n.startswith("web")], "beat",
                 *[n for n in self.processes if n.startswith("worker")], "s3"]
        for name in order:
            managed = self.processes.get(name)
            if managed is not None:
                self.resume(name)
                codes[name] = managed.stop(sig=signal.SIGQUIT if name == "nginx" else signal.SIGTERM)
        self.processes.clear()
        return codes

    def __enter__(self) -> Loopback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database (migrated on start)")
    parser.add_argument("--broker-url", required=True, help="Redis")
    parser.add_argument("--webs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=0, help="nginx's port (default: any free one)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hotline-loopback-"))
    loopback = Loopback(database_url=args.database_url, broker_url=args.broker_url, workdir=workdir, webs=args.webs,
                        workers=args.workers, nginx_port=args.port)
    with loopback:
        print(f"Hotline at {loopback.public_url} (web processes {', '.join(loopback.web_urls)}); logs in "
              f"{loopback.logs}. Stop with Ctrl+C.")
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
