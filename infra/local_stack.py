"""A throw-away copy of the stack for tests and benchmarks: the same ServiceSpecs deploy.sh runs, started
as child processes on free ports in a temporary folder, stopped and deleted afterwards.

It never touches a deployed stack (its own ports, data, credentials) and starts only the services asked
for, so an integration test of Kafka does not pay for Dagster."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from infra.credentials import Credentials, ensure_credentials
from infra.layout import Layout
from infra.provision import provision
from infra.services import ServiceSpec, build_specs, kafka_connection
from shared.kafka_connection import KafkaConnection
from shared.secrets import environ_without_secrets
from shared.settings import PORT_ENV_VARS, StackSettings, load_stack_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalStack:
    base: Path
    layout: Layout
    settings: StackSettings
    creds: Credentials
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @classmethod
    def create(cls, base: Path | None = None, kafka_sasl: bool = False) -> "LocalStack":
        """``kafka_sasl``: Kafka with SASL/SCRAM and ACLs as deployed; by default a PLAINTEXT broker, which most
        tests' own producers and admin clients use without credentials."""
        base = Path(base or tempfile.mkdtemp(prefix="cdp-stack-"))
        base.mkdir(parents=True, exist_ok=True)
        os.chmod(base, 0o755)  # PostgreSQL runs as its own OS user when we are root and must reach its data dir
        ports = {k: str(free_port()) for k in PORT_ENV_VARS}
        settings = load_stack_settings(env={**ports, "KAFKA_HEAP": "512m"})
        settings = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"sasl": kafka_sasl})})
        creds, _ = ensure_credentials(base / ".env")
        layout = Layout(var=base / "var")
        return cls(base, layout, settings, creds)

    def specs(self) -> dict[str, ServiceSpec]:
        return {s.name: s for s in build_specs(self.layout, self.settings, self.creds)}

    def log(self, name: str) -> Path:
        return self.layout.logs / f"{name}.log"

    def start(self, *names: str, timeout: float = 120, env: dict[str, str] | None = None) -> None:
        """Start ``names`` (each waits until healthy); ``env`` overrides their specs' environment (a test's
        own bucket or topics)."""
        specs = self.specs()
        self.layout.logs.mkdir(parents=True, exist_ok=True)
        for name in names:
            if name in self.procs and self.procs[name].poll() is None:
                continue
            spec = specs[name]
            if spec.prepare:
                spec.prepare()
            logf = open(self.log(name), "ab")
            proc_env = {**environ_without_secrets(dict(os.environ)), **spec.env, **(env or {})}  # as supervisord does
            self.procs[name] = subprocess.Popen(spec.argv, env=proc_env, stdout=logf, stderr=subprocess.STDOUT,
                                                cwd=spec.cwd or self.layout.root, user=spec.user if os.geteuid() == 0 else None,
                                                start_new_session=True)
            self.wait_healthy(spec, timeout)
            provision(name, self.settings, self.creds)

    def wait_healthy(self, spec: ServiceSpec, timeout: float) -> None:
        t0 = time.monotonic()
        reason = "not checked"
        while time.monotonic() - t0 < timeout:
            if self.procs[spec.name].poll() is not None:
                reason = f"exited with {self.procs[spec.name].returncode}"
                break
            reason = spec.health()
            if reason is None:
                return
            time.sleep(0.3)
        tail = "\n".join(self.log(spec.name).read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{spec.name} not healthy: {reason}\n--- {self.log(spec.name)} ---\n{tail}")

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> int:
        """Send ``sig`` to ``name``'s process group (SIGKILL: a crash, for tests) and wait until it is gone;
        returns the pid it had."""
        p = self.procs.pop(name)
        os.killpg(p.pid, sig)
        p.wait(60)
        return p.pid

    @contextmanager
    def outage(self, name: str, sig: signal.Signals = signal.SIGKILL, timeout: float = 120) -> Iterator[int]:
        """``name`` is down for the block (killed with ``sig``), then started again from its spec: the same
        port and data directory, as supervisord restarts it. It is started again even when the block fails,
        so the rest of a test session keeps its service. Yields the pid it had."""
        pid = self.kill(name, sig)
        try:
            yield pid
        finally:
            self.start(name, timeout=timeout)

    def stop(self, name: str, timeout: float | None = None) -> int | None:
        """Graceful stop as supervisord does it: the spec's stop signal (to the process group, or to the program
        alone), then SIGKILL to the group if it is still running after ``stopwaitsecs`` (or ``timeout``).
        Returns the exit code (None when it was not running)."""
        p = self.procs.pop(name, None)
        if p is None or p.poll() is not None:
            return None
        spec = self.specs()[name]
        sig = getattr(signal, f"SIG{spec.stopsignal}")
        if spec.stopasgroup:
            os.killpg(p.pid, sig)
        else:
            os.kill(p.pid, sig)
        try:
            p.wait(spec.stopwaitsecs if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
        return p.returncode

    def close(self, delete: bool = True) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)
        if delete:
            shutil.rmtree(self.base, ignore_errors=True)

    def kafka(self, user: str = "admin") -> KafkaConnection:
        """How ``user`` (admin, streaming, pipeline) connects to this stack's Kafka (PLAINTEXT without SASL)."""
        return kafka_connection(self.settings, self.creds, user)

    def env(self) -> dict[str, str]:
        """Connection settings for code under test, as the deploy stack exports them, plus MinIO's root (tests
        make a bucket each, which the pipeline's bucket-only user may not)."""
        from infra.services import dagster_env

        root = {"MINIO_ROOT_USER": self.creds.minio_user, "MINIO_ROOT_PASSWORD": self.creds.minio_password}
        # code under test writes to those per-test buckets too: it gets the admin keys as its S3 keys here (the
        # deploy stack's pipeline user and its bucket-only policy are tested in tests/integration/security and e2e)
        return {**dagster_env(self.settings, self.creds, self.layout), **root,
                "S3_ACCESS_KEY": self.creds.minio_user, "S3_SECRET_KEY": self.creds.minio_password}
