"""Stage 1 of the installer: Kafka, MinIO, PostgreSQL and the Spark jars, idempotent and cached.

Each component is installed into a temporary folder beside its final place and renamed into place only
when complete, with a manifest of what it holds. A warm run checks the manifest (names and sizes) and
downloads nothing; a half-finished or corrupt install fails the check and is redone from the local
download caches (.cache/m2, .cache/go), which themselves only refetch what is missing.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from infra.apt import apt_install, missing_packages
from infra.frontend_install import npm_fetch
from infra.jvm_build import BuildError, build_pipeline_jar
from infra.layout import Layout
from infra.preflight import PreflightError, require_go, require_java, require_maven
from infra.postgres_install import find_postgres_bindir, install_postgres

MANIFEST = "manifest.json"
DEP_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def say(msg: str) -> None:
    print(f"\033[1;34m[install]\033[0m {msg}", flush=True)


class InstallError(RuntimeError):
    """An install step failed; the message names the step and the fix."""


# -- manifest helpers ------------------------------------------------------------------------
def _write_manifest(folder: Path, pins: object) -> None:
    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps({"pins": pins, "files": files}, indent=1))


def manifest_problem(folder: Path, pins: object) -> str | None:
    """Why `folder` is not a complete install of `pins`, or None when it is."""
    mf = folder / MANIFEST
    if not folder.exists():
        return "not installed"
    if not mf.exists():
        return f"half-finished install at {folder} (no {MANIFEST})"
    try:
        data = json.loads(mf.read_text())
    except ValueError:
        return f"corrupt manifest {mf}"
    if data.get("pins") != pins:
        return "pins changed in infra/versions.toml"
    for name, size in data.get("files", {}).items():
        p = folder / name
        if not p.exists() or p.stat().st_size != size:
            return f"corrupt cache: {p} missing or truncated"
    return None


def _verify_jars(folder: Path, repo: Path | None = None) -> None:
    """Every jar must open as a zip. A corrupt one is removed here and from the local Maven repo it was
    copied from, so the re-run downloads it again instead of copying the same broken file."""
    for jar in folder.glob("*.jar"):
        try:
            with zipfile.ZipFile(jar) as zf:
                zf.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            jar.unlink(missing_ok=True)
            for cached in (repo.rglob(jar.name) if repo and repo.exists() else []):
                cached.unlink(missing_ok=True)
            raise InstallError(f"downloaded jar {jar.name} is corrupt ({exc}); removed it from the cache, "
                               "re-run to fetch it again")


def _fresh_tmp(final: Path) -> Path:
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def _promote(tmp: Path, final: Path) -> None:
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)


def run_logged(cmd: list[str], log: Path, label: str, env: dict | None = None, every: float = 30.0) -> int:
    """Run a long step with its output in `log`, printing a progress line every `every` seconds."""
    t0 = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        while True:
            try:
                return proc.wait(timeout=every)
            except subprocess.TimeoutExpired:
                say(f"  {label}: still working ({time.monotonic() - t0:.0f}s, log {log})")


# -- maven ---------------------------------------------------------------------------------------
def _pom(coords: list[str], transitive: bool = True) -> str:
    # non-transitive: exclude every dependency up front, so Maven does not even read their POMs (some name
    # repositories other than Maven Central, which a machine reaching only Central cannot resolve)
    none = "" if transitive else ("<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId>"
                                  "</exclusion></exclusions>")
    deps = []
    for c in coords:
        g, a, v = c.split(":")
        deps.append(f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version>{none}"
                    "</dependency>")
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>crypto-data-pipeline</groupId><artifactId>deps</artifactId><version>1</version>"
        f"<packaging>pom</packaging><dependencies>{''.join(deps)}</dependencies></project>"
    )


def maven_copy(layout: Layout, coords: list[str], dest: Path, transitive: bool) -> None:
    """Copy `coords` (and, if transitive, their runtime deps) from Maven Central into dest."""
    require_maven()
    work = dest.parent / (dest.name + ".pom")
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(_pom(coords, transitive))
    cmd = [
        "mvn", "-B", "-q", "-f", str(work / "pom.xml"), f"-Dmaven.repo.local={layout.maven_repo}",
        f"{DEP_PLUGIN}:copy-dependencies", f"-DoutputDirectory={dest}", "-DincludeScope=runtime",
    ]
    if not transitive:
        cmd.append("-DexcludeTransitive=true")
    log = work / "mvn.log"
    rc = run_logged(cmd, log, "maven")
    if rc != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise InstallError(
            f"maven could not fetch {', '.join(coords)} (log: {log}):\n{tail}\n"
            "Fix: check that Maven Central is reachable; a corrupt local repo can be removed with "
            f"rm -rf {layout.maven_repo}; then re-run."
        )
    _verify_jars(dest, layout.maven_repo)


# -- components ----------------------------------------------------------------------------
def _install_maven_component(layout: Layout, label: str, pins: dict, coords: list[str], final: Path,
                             transitive: bool, what: str) -> str:
    problem = manifest_problem(final, pins)
    if problem is None:
        return f"cached ({len(list(final.glob('*.jar')))} jars)"
    say(f"{label}: {problem}; fetching {what} from Maven Central")
    tmp = _fresh_tmp(final)
    maven_copy(layout, coords, tmp, transitive=transitive)
    _write_manifest(tmp, pins)
    _promote(tmp, final)
    return f"installed ({len(list(final.glob('*.jar')))} jars)"


def install_kafka(layout: Layout) -> str:
    pins = layout.versions["kafka"]
    require_java(layout.versions["java"]["min_major"])
    return _install_maven_component(layout, f"kafka {pins['version']}", pins, pins["artifacts"], layout.kafka_libs,
                                    transitive=True, what="broker and tools jars")


def install_spark_jars(layout: Layout) -> str:
    pins = layout.versions["spark"]
    return _install_maven_component(layout, "spark jars", pins, pins["jars"], layout.spark_jars_dir,
                                    transitive=False, what="Hudi, S3A and Kafka connector jars")


def install_minio(layout: Layout) -> str:
    pins = layout.versions["minio"]
    final = layout.minio_bin.parent
    problem = manifest_problem(final, pins)
    if problem is None:
        return "cached"
    require_go()
    say(f"minio {pins['version']}: {problem}; building from the Go module proxy (a few minutes on 2 cores)")
    tmp = _fresh_tmp(final)
    go = layout.go_dir
    env = dict(os.environ, GOBIN=str(tmp), GOPATH=str(go), GOMODCACHE=str(go / "mod"),
               GOCACHE=str(go / "build"), CGO_ENABLED="0", GOFLAGS="-buildvcs=false")
    log = final.parent / "go-install.log"
    rc = run_logged(["go", "install", f"{pins['module']}@{pins['version']}"], log, "go install minio", env=env)
    if rc != 0 or not (tmp / "minio").exists():
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise InstallError(f"building MinIO failed (log: {log}):\n{tail}\n"
                           f"Fix: check the Go module proxy is reachable; rm -rf {go / 'build'} if the build cache is corrupt; re-run.")
    _write_manifest(tmp, pins)
    _promote(tmp, final)
    return "built"


def install_pg(layout: Layout) -> str:
    major = layout.versions["postgres"]["major"]
    if find_postgres_bindir(major):
        return f"found PostgreSQL {major} server binaries"
    say(f"postgresql {major}: server not found; installing from Debian packages")
    install_postgres(major)
    return "installed from Debian packages"


def install_dashboard_assets(layout: Layout) -> str:
    pins = layout.versions["dashboard"]
    final = layout.dashboard_vendor
    problem = manifest_problem(final, pins)
    if problem is None:
        return "cached"
    say(f"lightweight-charts {pins['lightweight_charts']}: {problem}; fetching from the npm registry")
    tmp = _fresh_tmp(final)
    npm_fetch(layout.cache, pins["lightweight_charts"], tmp, final.parent / "npm-install.log")
    _write_manifest(tmp, pins)
    _promote(tmp, final)
    return "installed"


def install_test_tools(layout: Layout) -> str:
    missing = missing_packages(layout.versions["test_tools"]["apt"])
    if not missing:
        return "found"
    say(f"test tools: installing Debian packages {', '.join(missing)}")
    apt_install(missing, "the browser tests and benchmarks")
    return f"installed {', '.join(missing)} from Debian packages"


def install_pipeline_jar(layout: Layout) -> str:
    try:
        return build_pipeline_jar(layout)
    except BuildError as e:
        raise InstallError(str(e)) from e


COMPONENTS = {
    "kafka": install_kafka,
    "minio": install_minio,
    "postgres": install_pg,
    "spark-jars": install_spark_jars,
    "pipeline-jar": install_pipeline_jar,   # compiled against the Spark jars: after them
    "dashboard-assets": install_dashboard_assets,
}
# only for ./test.sh and the benchmarks: a deployed stack needs no browser
TEST_COMPONENTS = {"test-tools": install_test_tools}


def install(layout: Layout, only: list[str] | None = None, with_test_tools: bool = False) -> None:
    layout.cache.mkdir(parents=True, exist_ok=True)
    components = {**COMPONENTS, **(TEST_COMPONENTS if with_test_tools or only else {})}
    for name, fn in components.items():
        if only and name not in only:
            continue
        t0 = time.monotonic()
        result = fn(layout)
        say(f"{name:<11} {result} [{time.monotonic() - t0:.1f}s]")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="infra.install", description=__doc__)
    every = [*COMPONENTS, *TEST_COMPONENTS]
    ap.add_argument("--only", help=f"comma-separated subset of {','.join(every)}")
    ap.add_argument("--with-test-tools", action="store_true",
                    help="also install what tests and benchmarks need (Debian chromium, wrk)")
    args = ap.parse_args(argv)
    only = args.only.split(",") if args.only else None
    if only:
        unknown = set(only) - set(every)
        if unknown:
            ap.error(f"unknown component(s) {sorted(unknown)}; choose from {every}")
    try:
        install(Layout(), only, args.with_test_tools)
    except (InstallError, PreflightError) as exc:
        print(f"\033[1;31m[install] ERROR:\033[0m {exc}", file=sys.stderr)
        return 1
    say("all components ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
