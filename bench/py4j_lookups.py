"""py4j class-name lookups with and without the pipeline's miss cache
(jvm/src/cryptopipeline/py4j/MissCachingClassLoadingStrategy.java), in one Spark session with the
pipeline's jars on the class path, alternating the two strategies round by round.

    .venv/bin/python bench/py4j_lookups.py --calls 300 --rounds 4

A call is what the pipeline's Python does many times a cycle: ``jvm.org.apache.hadoop.fs.Path(...)`` (five
names py4j resolves one by one) and ``StorageLevel`` through PySpark (``persist``). Prints wall and JVM
CPU per call for py4j's own strategy (the reference) and the cache, then the ratio. Asserts nothing."""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args()

    from py4j.java_gateway import JavaClass

    from crypto_pipeline.resources.spark import (MISS_CACHING_STRATEGY, default_jars_dir, local_session,
                                                 spark_conf)

    spark = local_session(spark_conf(default_jars_dir(), "http://127.0.0.1:1", "", "", "local[1]", "1g", 1),
                          "bench-py4j-lookups")
    client = spark.sparkContext._gateway._gateway_client
    util = JavaClass("py4j.reflection.ReflectionUtil", client)
    cached = util.getClassLoadingStrategy()
    if cached.getClass().getName() != MISS_CACHING_STRATEGY:
        sys.exit(f"the session did not install {MISS_CACHING_STRATEGY}: build the pipeline jar (./infra/bootstrap.sh)")
    plain = JavaClass("py4j.reflection.CurrentThreadClassLoadingStrategy", client)()
    jvm = psutil.Process(int(spark._jvm.java.lang.ProcessHandle.current().pid()))
    jvm_cpu = lambda: sum(jvm.cpu_times()[:2])  # noqa: E731 - user + system seconds
    print(f"jars on the class path: {len(spark.sparkContext.getConf().get('spark.jars').split(','))} "
          f"(plus pyspark's)")

    def calls() -> None:
        for i in range(a.calls):
            spark._jvm.org.apache.hadoop.fs.Path(f"/x/{i}")
            spark.sparkContext._getJavaStorageLevel(__import__("pyspark").StorageLevel.MEMORY_AND_DISK)

    results: dict[str, list[tuple[float, float]]] = {"py4j's own (reference)": [], "miss cache": []}
    for r in range(a.rounds + 1):  # round 0 warms both up
        for name, strategy in (("py4j's own (reference)", plain), ("miss cache", cached)):
            util.setClassLoadingStrategy(strategy)
            t0, c0 = time.perf_counter(), jvm_cpu()
            calls()
            if r:
                results[name].append(((time.perf_counter() - t0) / a.calls, (jvm_cpu() - c0) / a.calls))
    util.setClassLoadingStrategy(cached)
    for name, rs in results.items():
        print(f"{name:<24} wall {1000 * statistics.median(w for w, _ in rs):7.2f} ms/call   "
              f"JVM CPU {1000 * statistics.median(c for _, c in rs):7.2f} ms/call")
    ref, new = (statistics.median(c for _, c in results[k]) for k in results)
    print(f"ratio JVM CPU miss cache / reference = {new / ref:.3f}" if ref else "reference took no measurable CPU")
    spark.stop()


if __name__ == "__main__":
    main()
