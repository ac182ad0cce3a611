"""Kafka KRaft single-node (combined broker+controller) configuration and one-time storage format."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from infra.layout import Layout


def server_properties(data_dir: Path, host: str, port: int, controller_port: int) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
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
