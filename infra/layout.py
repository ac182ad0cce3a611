"""Where things live on disk.

Everything the installer downloads goes under the cache folder (git-ignored, safe to delete); everything
a running stack writes (data, logs, pids, sockets) goes under the var folder. Test fixtures build a
Layout whose var folder is a temporary directory so tests never touch a deployed stack.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_versions() -> dict:
    """The pins in infra/versions.toml (the single place for jar and binary versions)."""
    with open(ROOT / "infra" / "versions.toml", "rb") as fh:
        return tomllib.load(fh)


PIPELINE_JARS = "pipeline"   # folder beside the Spark jars: the jar built from jvm/


@dataclass(frozen=True)
class Layout:
    root: Path = ROOT
    cache: Path = Path(os.environ.get("CDP_CACHE_DIR", ROOT / ".cache"))
    var: Path = Path(os.environ.get("CDP_VAR_DIR", ROOT / "var"))

    @cached_property
    def versions(self) -> dict:
        return load_versions()

    # -- installed artifacts (cache) -------------------------------------------------------
    @property
    def kafka_home(self) -> Path:
        return self.cache / "kafka" / self.versions["kafka"]["version"]

    @property
    def kafka_libs(self) -> Path:
        return self.kafka_home / "libs"

    @property
    def minio_bin(self) -> Path:
        return self.cache / "minio" / self.versions["minio"]["version"] / "minio"

    @property
    def spark_jars_dir(self) -> Path:
        return self.cache / "jars" / "spark"

    @property
    def pipeline_jars_dir(self) -> Path:
        """The pipeline's own jar (infra/jvm_build.py), put on spark.jars beside the Spark jars."""
        return self.cache / "jars" / PIPELINE_JARS

    @property
    def dashboard_vendor(self) -> Path:
        """Front-end libraries of the dashboard, installed from npm (no CDN at run time)."""
        return self.cache / "npm" / f"lightweight-charts-{self.versions['dashboard']['lightweight_charts']}"

    @property
    def maven_repo(self) -> Path:
        return self.cache / "m2"

    @property
    def go_dir(self) -> Path:
        return self.cache / "go"

    # -- runtime state (var) ---------------------------------------------------------------
    def data(self, name: str) -> Path:
        return self.var / "data" / name

    @property
    def logs(self) -> Path:
        return self.var / "log"

    @property
    def run(self) -> Path:
        return self.var / "run"

    @property
    def etc(self) -> Path:
        """Rendered config files (server.properties, supervisord.conf, dagster.yaml)."""
        return self.var / "etc"

    @property
    def env_file(self) -> Path:
        """Generated credentials; git-ignored; read by deploy, tests and docker compose."""
        return Path(os.environ.get("CDP_ENV_FILE", self.root / ".env"))

    def spark_jars(self) -> list[Path]:
        return sorted(self.spark_jars_dir.glob("*.jar"))
