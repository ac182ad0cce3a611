"""Kafka KRaft single-node (combined broker+controller) configuration and one-time storage format.

With ``creds`` the node authenticates every connection (docs/security.md), and the KRaft StandardAuthorizer
denies what no ACL allows:
* the services log in with SASL/SCRAM-SHA-512 on the client listener: users and salted keys live in the metadata
  log, set by provisioning (infra/kafka_acl.py) through the Admin API;
* the admin (provisioning, health checks, ./monitor.sh) logs in with SASL/PLAIN on the same listener, against a
  static entry in this file: it must work before any SCRAM user exists — on a fresh storage, and on one formatted
  by an older deploy without SASL (Kafka can add SCRAM users neither to an existing storage offline nor through
  the controller listener). PLAIN sends the password in the clear over loopback, which only root can capture;
* the broker logs in to its controller with SASL/PLAIN too (SCRAM cannot serve the controller listener, which
  authenticates the broker before the metadata log is read).
Secrets live only in the 0600 server.properties, never on a command line or in an environment (the JAAS configs
are listener properties, not KAFKA_OPTS)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from infra.credentials import Credentials
from infra.layout import Layout

MECHANISM = "SCRAM-SHA-512"   # the services'
ADMIN_MECHANISM = "PLAIN"     # the admin's (see above)
# user names (fixed; the passwords are generated into .env). admin and controller are super users.
ADMIN_USER, STREAMING_USER, PIPELINE_USER, CONTROLLER_USER = "admin", "streaming", "pipeline", "controller"


def scram_users(creds: Credentials) -> dict[str, str]:
    """SCRAM user -> password: the streaming service (writes the raw topics), the pipeline (bronze, Dagster, the
    live ticker consumer: reads them)."""
    return {STREAMING_USER: creds.kafka_streaming_password, PIPELINE_USER: creds.kafka_pipeline_password}


def _sasl_properties(creds: Credentials) -> dict[str, str]:
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    adm, ctl = creds.kafka_admin_password, creds.kafka_controller_password
    return {
        "listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT",
        "inter.broker.listener.name": "CLIENT",
        # what this node would log in to another broker with (there is none: single node): the admin's PLAIN
        "sasl.mechanism.inter.broker.protocol": ADMIN_MECHANISM,
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.client.sasl.enabled.mechanisms": f"{MECHANISM},{ADMIN_MECHANISM}",
        # SCRAM's server side needs no secret of its own (the users' keys are in the metadata log)
        f"listener.name.client.{MECHANISM.lower()}.sasl.jaas.config": f"{scram} required;",
        # PLAIN: the admin is the only user this listener knows statically
        "listener.name.client.plain.sasl.jaas.config":
            f'{plain} required username="{ADMIN_USER}" password="{adm}" user_{ADMIN_USER}="{adm}";',
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        # both sides of the broker -> controller connection: the broker logs in as `controller`, which the
        # controller checks against user_controller
        "listener.name.controller.plain.sasl.jaas.config":
            f'{plain} required username="{CONTROLLER_USER}" password="{ctl}" user_{CONTROLLER_USER}="{ctl}";',
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN_USER};User:{CONTROLLER_USER}",
        "allow.everyone.if.no.acl.found": "false",
    }


def server_properties(data_dir: Path, host: str, port: int, controller_port: int,
                      creds: Credentials | None = None) -> str:
    """The node's configuration; ``creds``: SASL + ACLs (the deploy stack), None: PLAINTEXT (test fixtures)."""
    client = "CLIENT" if creds else "PLAINTEXT"
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "listeners": f"{client}://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"{client}://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        **(_sasl_properties(creds) if creds else {}),
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        # one node: every internal topic has a single replica
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "log.retention.hours": "168",
        "log.segment.bytes": str(256 * 1024 * 1024),
        "num.io.threads": "4",
        "num.network.threads": "2",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def java_cmd(layout: Layout, main: str, heap: str, *args: str) -> list[str]:
    java = shutil.which("java") or "java"
    return [java, f"-Xmx{heap}", "-Xms128m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={layout.root / 'infra' / 'templates' / 'log4j2.properties'}",
            "-cp", f"{layout.kafka_libs}/*", main, *args]


def format_storage(layout: Layout, props_file: Path, data_dir: Path, cluster_id: str) -> bool:
    """Format KRaft storage once. Returns True when it formatted, False when already formatted."""
    if (data_dir / "meta.properties").exists():
        return False
    data_dir.mkdir(parents=True, exist_ok=True)
    # "--cluster-id=<id>": a generated id is base64url and starts with "-" one time in 64, which the tool's
    # argument parser would otherwise take for an option
    cmd = java_cmd(layout, "kafka.tools.StorageTool", "256m", "format", f"--cluster-id={cluster_id}",
                   "-c", str(props_file))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"kafka storage format failed for {data_dir}:\n{(r.stdout + r.stderr)[-2000:]}")
    return True
