"""Bad-input paths of the installer: half-finished install, corrupt cache, changed pins, missing tools,
taken ports, full disk. Each gives a message naming the problem and the fix."""
import socket
import zipfile
from collections import namedtuple

import pytest

from infra import install, preflight
from infra.install import InstallError, _verify_jars, _write_manifest, manifest_problem
from infra.preflight import PreflightError


def _folder(tmp_path, pins=("a:b:1",)):
    d = tmp_path / "libs"
    d.mkdir()
    with zipfile.ZipFile(d / "a.jar", "w") as zf:
        zf.writestr("x.class", b"\xca\xfe\xba\xbe" * 100)
    _write_manifest(d, list(pins))
    return d


def test_complete_install_has_no_problem(tmp_path):
    d = _folder(tmp_path)
    assert manifest_problem(d, ["a:b:1"]) is None


def test_half_finished_install_is_detected(tmp_path):
    d = _folder(tmp_path)
    (d / "manifest.json").unlink()
    assert "half-finished" in manifest_problem(d, ["a:b:1"])


def test_truncated_file_is_detected_as_corrupt_cache(tmp_path):
    d = _folder(tmp_path)
    data = (d / "a.jar").read_bytes()
    (d / "a.jar").write_bytes(data[:10])
    assert "corrupt cache" in manifest_problem(d, ["a:b:1"])


def test_changed_pin_triggers_reinstall(tmp_path):
    d = _folder(tmp_path)
    assert "pins changed" in manifest_problem(d, ["a:b:2"])


def test_corrupt_jar_is_removed_here_and_from_the_maven_cache(tmp_path):
    d = tmp_path / "j"
    d.mkdir()
    (d / "bad.jar").write_bytes(b"not a zip")
    repo = tmp_path / "m2" / "org" / "x" / "bad" / "1"
    repo.mkdir(parents=True)
    (repo / "bad.jar").write_bytes(b"not a zip")
    with pytest.raises(InstallError, match="bad.jar is corrupt.*re-run"):
        _verify_jars(d, tmp_path / "m2")
    assert not (d / "bad.jar").exists() and not (repo / "bad.jar").exists()


def test_missing_tool_names_the_tool_and_the_fix(monkeypatch):
    monkeypatch.setattr(preflight.shutil, "which", lambda tool: None)
    with pytest.raises(PreflightError, match=r"`mvn` not found.*apt-get install maven"):
        preflight.require_maven()
    with pytest.raises(PreflightError, match=r"`go` not found"):
        preflight.require_go()
    with pytest.raises(PreflightError, match=r"`java` not found.*openjdk-17"):
        preflight.require_java(17)


def test_old_java_is_refused(monkeypatch):
    monkeypatch.setattr(preflight.shutil, "which", lambda tool: "/usr/bin/java")
    R = namedtuple("R", "stderr")
    monkeypatch.setattr(preflight.subprocess, "run", lambda *a, **k: R('openjdk version "11.0.2" 2019'))
    with pytest.raises(PreflightError, match="too old"):
        preflight.require_java(17)


def test_taken_port_is_named():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PreflightError, match=rf"kafka port {port} already in use.*config/stack.yaml"):
            preflight.require_free_ports({"kafka": port})


def test_full_disk_is_reported(monkeypatch, tmp_path):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda p: Usage(10, 10, 5 * 1024 * 1024))
    with pytest.raises(PreflightError, match=r"only 5 MiB free.*needs at least 1024 MiB"):
        preflight.require_disk(tmp_path, 1024, "the stack's data")


def test_unknown_component_is_rejected():
    with pytest.raises(SystemExit):
        install.main(["--only", "kafka,nope"])
