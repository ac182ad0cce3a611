"""py4j remembers the class names it did not find (the pipeline's ClassLoadingStrategy, installed by every
session): lookups answer as before, a miss is searched through the jars once."""
from py4j.java_gateway import JavaClass, JavaPackage, java_import

from crypto_pipeline.resources.spark import MISS_CACHING_STRATEGY, cache_class_misses


def _strategy(spark):
    util = JavaClass("py4j.reflection.ReflectionUtil", spark.sparkContext._gateway._gateway_client)
    return util.getClassLoadingStrategy()


def test_every_session_installs_the_cache_once(spark):
    strategy = _strategy(spark)
    assert strategy.getClass().getName() == MISS_CACHING_STRATEGY
    assert cache_class_misses(spark) is True          # a reused session: nothing stacked on top
    assert _strategy(spark).equals(strategy)


def test_lookups_answer_as_before_and_a_miss_is_remembered(spark):
    jvm = spark._jvm
    assert jvm.org.apache.hadoop.fs.Path("/a/b").getName() == "b"            # a class by its full path
    assert jvm.java.util.ArrayList().size() == 0
    assert isinstance(jvm.org.example.no.such.Thing, JavaPackage)           # unknown: a package, as py4j says
    before = _strategy(spark).missCount()
    assert isinstance(jvm.com.example.nowhere.Missing, JavaPackage)
    grown = _strategy(spark).missCount()
    assert grown > before                                                     # the misses were remembered
    assert isinstance(jvm.com.example.nowhere.Missing, JavaPackage)
    assert _strategy(spark).missCount() == grown                              # and not searched again
    # names imported into the view still resolve (PySpark's `functions`, the pipeline's exact imports)
    java_import(jvm, "org.apache.hadoop.fs.Path")
    assert jvm.Path("/c").getName() == "c"
    assert jvm.functions.lit(1).toString() == "1"
