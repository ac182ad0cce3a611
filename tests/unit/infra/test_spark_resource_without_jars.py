"""The code location loads before the installer has fetched the Spark jars (the UI can show it); a run that needs
Spark then fails with the fix named, not a JVM ClassNotFoundException."""
import pytest

from crypto_pipeline.resources.spark import pyspark_resource, spark_conf


def test_the_resource_builds_without_jars_and_its_session_names_the_fix(tmp_path):
    res = pyspark_resource("http://127.0.0.1:9", "key", "secret", jars_dir=str(tmp_path))
    assert "hudi" not in res.spark_config["spark.jars"]
    with pytest.raises(FileNotFoundError, match=r"no Hudi bundle in .*bootstrap\.sh"):
        res.setup_for_execution(None)


def test_a_session_conf_still_requires_the_jars(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Hudi bundle"):
        spark_conf(str(tmp_path), "http://127.0.0.1:9", "", "", "local[1]", "1g", 1)
    (tmp_path / "hudi-spark3.5-bundle_2.12-1.2.0.jar").write_bytes(b"")
    assert "hudi-spark" in spark_conf(str(tmp_path), "http://127.0.0.1:9", "", "", "local[1]", "1g", 1)["spark.jars"]
