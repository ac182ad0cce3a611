package cryptopipeline.py4j;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import py4j.reflection.ClassLoadingStrategy;

/**
 * py4j's class loading with the names that were not found remembered, per class loader.
 *
 * <p>Why: py4j resolves every attribute Python reads from the JVM view ({@code jvm.org.apache.hadoop.fs.Path}
 * is five of them, and PySpark asks for {@code functions} or {@code StorageLevel} on most calls) by trying
 * {@code Class.forName} on the name, then under {@code java.lang} and each of PySpark's wildcard imports. A
 * class loader does not remember a miss: each one searches every jar on the class path (~260) again. In the
 * bronze writer those searches were about a quarter of the CPU of the threads that serve Python's calls
 * (docs/benchmarks-bronze.md). A name that was missing once stays missing for the JVM's life here: nothing
 * adds jars to a running session.
 */
public final class MissCachingClassLoadingStrategy implements ClassLoadingStrategy {
  /** Bounds the memory if some caller asks for ever new names; past it the cache starts afresh. */
  static final int MAX_MISSES = 100_000;

  private final ClassLoadingStrategy delegate;
  private final Map<ClassLoader, Set<String>> misses = new ConcurrentHashMap<>();

  public MissCachingClassLoadingStrategy(ClassLoadingStrategy delegate) {
    this.delegate = delegate;
  }

  @Override
  public Class<?> classForName(String className) throws ClassNotFoundException {
    ClassLoader loader = delegate.getClassLoader();
    Set<String> missed = loader == null ? null : misses.computeIfAbsent(loader, l -> ConcurrentHashMap.newKeySet());
    if (missed != null && missed.contains(className)) {
      throw new Missing(className);
    }
    try {
      return delegate.classForName(className);
    } catch (ClassNotFoundException e) {
      if (missed != null) {
        if (missed.size() >= MAX_MISSES) {
          missed.clear();
        }
        missed.add(className);
      }
      throw e;
    }
  }

  @Override
  public ClassLoader getClassLoader() {
    return delegate.getClassLoader();
  }

  /** A remembered miss: no stack trace (py4j only catches it), so answering it costs no stack walk. */
  private static final class Missing extends ClassNotFoundException {
    private static final long serialVersionUID = 1L;

    Missing(String className) {
      super(className);
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
      return this;
    }
  }

  /** The names remembered as missing (for tests and diagnostics). */
  public int missCount() {
    return misses.values().stream().mapToInt(Set::size).sum();
  }
}
