"""Kafka KRaft single-node (combined broker+controller) configuration and one-time storage format.

With ``creds`` the node authenticates every connection (docs/security.md): SASL/SCRAM-SHA-512 on the client
listener (users and passwords in the metadata log, created at format time and by provisioning), SASL/PLAIN on
the controller listener (a static secret in this file: SCRAM cannot serve the controller, which must
authenticate the broker before it has read the metadata log), and the KRaft StandardAuthorizer denying what no
ACL allows. Secrets live only in the 0600 server.properties and in a 0600 argument file of the format step,
never on a command line or in an environment (the JAAS configs are listener properties, not KAFKA_OPTS)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from infra.credentials import Credentials
from infra.layout import Layout
from infra.private_files import write_private

MECHANISM = "SCRAM-SHA-512"
# SCRAM user names (fixed; the passwords are generated into .env). admin and controller are super users.
ADMIN_USER, STREAMING_USER, PIPELINE_USER, CONTROLLER_USER = "admin", "streaming", "pipeline", "controller"


def scram_users(creds: Credentials) -> dict[str, str]:
    """SCRAM user -> password: the admin (provisioning, monitor), the streaming service (writes the raw
    topics), the pipeline (bronze, the live ticker consumer: reads them)."""
    return {ADMIN_USER: creds.kafka_admin_password, STREAMING_USER: creds.kafka_streaming_password,
            PIPELINE_USER: creds.kafka_pipeline_password}


def _sasl_properties(creds: Credentials) -> dict[str, str]:
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    ctl = creds.kafka_controller_password
    return {
        "listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT",
        "inter.broker.listener.name": "CLIENT",
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.client.sasl.enabled.mechanisms": MECHANISM,
        # server side of SCRAM needs no secret; username/password are what this node would log in with to
        # another broker (there is none: single node), so the admin's
        f"listener.name.client.{MECHANISM.lower()}.sasl.jaas.config":
            f'{scram} required username="{ADMIN_USER}" password="{creds.kafka_admin_password}";',
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


def format_storage(layout: Layout, props_file: Path, data_dir: Path, cluster_id: str,
                   users: dict[str, str] | None = None) -> bool:
    """Format KRaft storage once, with the SCRAM ``users`` (name -> password) in its first metadata records.
    Returns True when it formatted, False when already formatted."""
    if (data_dir / "meta.properties").exists():
        return False
    data_dir.mkdir(parents=True, exist_ok=True)
    # "--cluster-id=<id>": a generated id is base64url and starts with "-" one time in 64, which the tool's
    # argument parser would otherwise take for an option
    args = ["format", f"--cluster-id={cluster_id}", "-c", str(props_file)]
    for name, password in (users or {}).items():
        args += ["--add-scram", f"{MECHANISM}=[name={name},password={password}]"]
    cmd = java_cmd(layout, "kafka.tools.StorageTool", "256m", *args)
    # the passwords must not be on the command line, even of this short-lived JVM: the java launcher reads
    # its arguments from a 0600 file (`java @file`) instead
    argfile = props_file.parent / f".{props_file.name}.format-args"
    write_private(argfile, "\n".join(_argfile_quote(a) for a in cmd[1:]) + "\n")
    try:
        r = subprocess.run([cmd[0], f"@{argfile}"], capture_output=True, text=True)
    finally:
        argfile.unlink(missing_ok=True)
    if r.returncode != 0:
        out = r.stdout + r.stderr
        for password in (users or {}).values():
            out = out.replace(password, "***")
        raise RuntimeError(f"kafka storage format failed for {data_dir}:\n{out[-2000:]}")
    return True


def _argfile_quote(arg: str) -> str:
    # java @argfiles split on whitespace and treat quotes and backslashes specially; quote every argument
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'

