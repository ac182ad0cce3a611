"""Build the pipeline's own jar (``jvm/src``: the bronze writer's Hudi Java write client) with the JDK's
``javac`` against the jars Spark runs with, into the cache; rebuilt only when a source or a pin changes.

Why javac and not a Maven project: the classes compile against exactly the jars they run with (PySpark's
and the installed Spark jars), so there is nothing more to download and no second dependency tree to
keep in line with ``infra/versions.toml``."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

from infra.layout import Layout
from infra.preflight import PreflightError, require_javac

JAR_NAME = "crypto-pipeline-jvm.jar"
SOURCES = Path(__file__).resolve().parents[1] / "jvm" / "src"


class BuildError(RuntimeError):
    pass


def pyspark_jars() -> list[Path]:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("pyspark is not installed in this Python; run ./infra/bootstrap.sh (it syncs .venv first)")
    return sorted(Path(next(iter(spec.submodule_search_locations))).joinpath("jars").glob("*.jar"))


def _digest(sources: list[Path], classpath: list[Path], java_release: int) -> str:
    h = hashlib.sha256(f"release {java_release}\n".encode())
    for jar in classpath:
        h.update(f"{jar.name}\n".encode())
    for src in sources:
        h.update(str(src.relative_to(SOURCES)).encode() + b"\0" + src.read_bytes())
    return h.hexdigest()


def build_pipeline_jar(layout: Layout) -> str:
    release = int(layout.versions["java"]["min_major"])
    sources = sorted(SOURCES.rglob("*.java"))
    classpath = [*pyspark_jars(), *layout.spark_jars()]
    out_dir = layout.pipeline_jars_dir
    stamp = out_dir / (JAR_NAME + ".json")
    digest = _digest(sources, classpath, release)
    if (out_dir / JAR_NAME).exists() and stamp.exists() and json.loads(stamp.read_text()).get("sha256") == digest:
        return "cached"
    try:
        javac = require_javac()
    except PreflightError as e:
        raise BuildError(str(e)) from e
    work = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    (work / "classes").mkdir(parents=True)
    cmd = [javac, "--release", str(release), "-nowarn", "-encoding", "UTF-8", "-d", str(work / "classes"),
           "-cp", ":".join(str(j) for j in classpath), *map(str, sources)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise BuildError(f"javac failed for {SOURCES} (exit {res.returncode}):\n{res.stderr[-3000:]}")
    with zipfile.ZipFile(work / JAR_NAME, "w", zipfile.ZIP_DEFLATED) as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: infra/jvm_build.py\n\n")
        for cls in sorted((work / "classes").rglob("*.class")):
            jar.write(cls, cls.relative_to(work / "classes").as_posix())
    shutil.rmtree(work / "classes")
    (work / (JAR_NAME + ".json")).write_text(json.dumps({"sha256": digest, "sources": len(sources)}))
    shutil.rmtree(out_dir, ignore_errors=True)
    work.rename(out_dir)
    return f"built from {len(sources)} source file(s)"
