"""The installer compiles the pipeline's jar (jvm/src) with the real javac against the installed Spark jars,
reuses it while nothing changed, rebuilds it when a source changes, and names the failing source when one
does not compile."""
from __future__ import annotations

import shutil
import zipfile

import pytest

from infra import jvm_build
from infra.layout import Layout


@pytest.fixture
def layout(tmp_path, monkeypatch):
    real = Layout()
    if not real.spark_jars():
        pytest.fail(f"no Spark jars in {real.spark_jars_dir}: run ./infra/bootstrap.sh first")
    (tmp_path / "cache" / "jars").mkdir(parents=True)
    (tmp_path / "cache" / "jars" / "spark").symlink_to(real.spark_jars_dir)
    sources = tmp_path / "src"
    shutil.copytree(jvm_build.SOURCES, sources)
    monkeypatch.setattr(jvm_build, "SOURCES", sources)
    return Layout(cache=tmp_path / "cache")


def test_the_jar_is_built_reused_and_rebuilt_when_a_source_changes(layout):
    assert jvm_build.build_pipeline_jar(layout).startswith("built")
    jar = layout.pipeline_jars_dir / jvm_build.JAR_NAME
    with zipfile.ZipFile(jar) as z:
        assert "cryptopipeline/hudi/BronzeTableWriter.class" in z.namelist()
    assert jvm_build.build_pipeline_jar(layout) == "cached"

    src = next(jvm_build.SOURCES.rglob("BronzeTableWriter.java"))
    src.write_text(src.read_text() + "\n// changed\n")
    assert jvm_build.build_pipeline_jar(layout).startswith("built")

    src.write_text(src.read_text().replace("public final class", "public final klass", 1))
    with pytest.raises(jvm_build.BuildError, match="BronzeTableWriter.java"):
        jvm_build.build_pipeline_jar(layout)
    assert jar.exists(), "a failed build must leave the last good jar in place"
