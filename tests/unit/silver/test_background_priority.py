"""Batch layers run below the bronze stream's CPU priority (checked in a child process, so the test
session itself keeps its priority)."""
import subprocess
import sys

CODE = """
import os, threading, time
from crypto_pipeline.resources.spark import run_as_background
t = threading.Thread(target=time.sleep, args=(2,)); t.start()
target = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 3)  # the test session may already run reniced
print("target", target)
n = run_as_background(object(), target)   # no JVM behind object(): only this process's threads
later = threading.Thread(target=lambda: print("later", os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
later.start(); later.join()
print(n, os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), os.getpriority(os.PRIO_PROCESS, t.native_id))
"""


def test_every_thread_and_later_threads_get_the_lower_priority():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60, check=True).stdout
    target, later, last = out.strip().splitlines()
    want = int(target.split()[1])
    n, main, other = map(int, last.split())
    assert n >= 2 and main == want and other == want and later == f"later {want}"


def test_zero_turns_it_off():
    code = "from crypto_pipeline.resources.spark import run_as_background; print(run_as_background(object(), 0))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True).stdout.strip() == "0"
