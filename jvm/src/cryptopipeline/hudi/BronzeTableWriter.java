package cryptopipeline.hudi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import cryptopipeline.bronze.TradeRecordParser;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Function;
import org.apache.avro.Conversions;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.hadoop.conf.Configuration;
import org.apache.hudi.client.HoodieJavaWriteClient;
import org.apache.hudi.client.WriteStatus;
import org.apache.hudi.client.common.HoodieJavaEngineContext;
import org.apache.hudi.common.config.TypedProperties;
import org.apache.hudi.common.engine.EngineType;
import org.apache.hudi.common.model.HoodieAvroPayload;
import org.apache.hudi.common.model.HoodieAvroRecord;
import org.apache.hudi.common.model.HoodieKey;
import org.apache.hudi.common.model.HoodieRecord;
import org.apache.hudi.common.table.HoodieTableMetaClient;
import org.apache.hudi.common.table.TableSchemaResolver;
import org.apache.hudi.common.util.Option;
import org.apache.hudi.config.HoodieWriteConfig;
import org.apache.hudi.keygen.BaseKeyGenerator;
import org.apache.hudi.keygen.factory.HoodieAvroKeyGeneratorFactory;
import org.apache.hudi.storage.hadoop.HadoopStorageConfiguration;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * Writes batches of a bronze table through Hudi's Java write client, as inserts: a dense-id table (one row
 * per symbol and id; the ids the table holds are dropped here) or a rising-key table (the caller checks
 * the batch's per-group key minima, returned by {@link #stage}, against the committed marks and commits
 * only a batch wholly above them).
 *
 * <p>Why not Spark's Hudi datasource: a datasource commit runs about a dozen Spark jobs (small-file
 * listing, workload profile, write, commit), which cost more CPU than the few hundred rows of a
 * stream cycle. The rows come from Spark (the pipeline's authority on bad input), collected once, or
 * from {@link TradeRecordParser} for clean trade batches; the write, the commit and the bronze state in
 * the commit's metadata are plain JVM calls here.
 *
 * <p>Used in two steps per cycle: {@link #stage} (or {@link #stageRecords}) collects the rows, drops the ids the table already
 * holds and the duplicates inside the batch, and returns what the caller needs to build the commit's
 * metadata; {@link #commit} writes the staged rows and commits them with that metadata in one instant.
 * The caller runs {@link #maintain} (clean, archive) every so many commits: Hudi would otherwise run
 * both after every commit, each reloading the timeline and taking the table lock.
 */
public final class BronzeTableWriter implements AutoCloseable {
  private final HoodieJavaWriteClient<HoodieAvroPayload> client;
  private final Schema schema;
  private final BaseKeyGenerator keys;
  private final String idColumn;
  private final String risingColumn;
  private final List<String> groupColumns;
  private final String orderingColumn;
  private final String timeColumn;
  private final List<String> partitionColumns;
  private final ObjectMapper json = new ObjectMapper();
  private final Conversions.DecimalConversion decimals = new Conversions.DecimalConversion();
  private List<HoodieRecord<HoodieAvroPayload>> staged = new ArrayList<>();

  /**
   * @param options the table's Hudi write options (the same the datasource path uses)
   * @param idColumn the dense id (its values are unique per symbol), or null for a rising-key table
   * @param keyColumns the record key; of a rising-key table, its last column rises within the others
   * @param orderingColumn of two rows with one key, the one with the larger value is kept
   * @param timeColumn the event time the summary reports (min/max), or null
   * @param partitionColumns the partition columns the summary reports
   */
  public BronzeTableWriter(Configuration hadoop, String basePath, Map<String, String> options, String idColumn,
                           List<String> keyColumns, String orderingColumn, String timeColumn,
                           List<String> partitionColumns) throws Exception {
    TypedProperties props = new TypedProperties();
    props.putAll(options);
    // cleaning and archiving are run by maintain(), not by every commit
    props.put("hoodie.clean.automatic", "false");
    props.put("hoodie.archive.automatic", "false");
    HadoopStorageConfiguration storage = new HadoopStorageConfiguration(hadoop);
    HoodieTableMetaClient meta = HoodieTableMetaClient.builder().setConf(storage).setBasePath(basePath).build();
    String avro = new TableSchemaResolver(meta).getTableSchema(false).toString();
    this.schema = new Schema.Parser().parse(avro);
    // the Java engine's own clustering strategies (inline clustering of the tables not clustered apart)
    HoodieWriteConfig cfg = HoodieWriteConfig.newBuilder().withEngineType(EngineType.JAVA).withPath(basePath)
        .withSchema(avro).withProps(props).build();
    this.client = new HoodieJavaWriteClient<>(new HoodieJavaEngineContext(storage), cfg);
    this.keys = (BaseKeyGenerator) HoodieAvroKeyGeneratorFactory.createKeyGenerator(props);
    this.idColumn = idColumn;
    this.risingColumn = idColumn == null ? keyColumns.get(keyColumns.size() - 1) : null;
    this.groupColumns = new ArrayList<>(keyColumns.subList(0, keyColumns.size() - 1));
    this.orderingColumn = orderingColumn;
    this.timeColumn = timeColumn;
    this.partitionColumns = new ArrayList<>(partitionColumns);
  }

  /**
   * Collects {@code rows} (the table's columns) and keeps the rows to write.
   *
   * @param committedJson the ids a dense-id table holds: {"SYMBOL": [[lo, hi], ...]} ({} for a rising-key table)
   * @return JSON: rows, dropped (ids already committed), ids ({"SYMBOL": [id, ...]} of the kept rows) of a
   *     dense-id table, or key_min/key_max ([[group values..., value], ...]) of a rising-key table's batch,
   *     min/max of the time column, the max ingest_time_ms and the partitions written
   */
  public String stage(Dataset<Row> rows, String committedJson) throws Exception {
    List<GenericData.Record> records = new ArrayList<>();
    for (Row row : rows.collectAsList()) {
      records.add(toAvro(row::getAs));
    }
    return stage(records, committedJson);
  }

  /**
   * As {@link #stage(Dataset, String)}, for raw Kafka records ({@link TradeRecordParser#parse}'s frame)
   * parsed here without Spark. When the parser leaves a record to Spark nothing is staged and the JSON
   * holds only {@code fallback}: the reason, naming the record.
   */
  public String stageRecords(TradeRecordParser parser, byte[] frame, String committedJson) throws Exception {
    TradeRecordParser.Result parsed = parser.parse(frame);
    if (parsed.fallback != null) {
      staged = new ArrayList<>();
      return json.createObjectNode().put("fallback", parsed.fallback).toString();
    }
    List<GenericData.Record> records = new ArrayList<>(parsed.rows.size());
    for (Map<String, Object> row : parsed.rows) {
      records.add(toAvro(row::get));
    }
    return stage(records, committedJson);
  }

  private String stage(List<GenericData.Record> records, String committedJson) throws Exception {
    JsonNode committed = json.readTree(committedJson);
    Map<HoodieKey, GenericData.Record> kept = new LinkedHashMap<>();
    Map<String, TreeSet<Long>> ids = new TreeMap<>();
    TreeSet<String> partitions = new TreeSet<>();
    long dropped = 0;
    Long minTime = null;
    Long maxTime = null;
    Long maxIngest = null;
    Map<List<String>, long[]> keySpan = new TreeMap<>(BronzeTableWriter::compareGroups);
    for (GenericData.Record r : records) {
      if (idColumn != null && holds(committed.get(String.valueOf(r.get("symbol"))),
          ((Number) r.get(idColumn)).longValue())) {
        dropped++;
        continue;
      }
      HoodieKey key = keys.getKey(r);
      GenericData.Record before = kept.get(key);
      if (before != null && compare(before.get(orderingColumn), r.get(orderingColumn)) >= 0) {
        continue;  // a duplicate inside the batch: the row with the larger ordering value stays
      }
      kept.put(key, r);
    }
    staged = new ArrayList<>(kept.size());
    for (Map.Entry<HoodieKey, GenericData.Record> e : kept.entrySet()) {
      GenericData.Record r = e.getValue();
      staged.add(new HoodieAvroRecord<>(e.getKey(), new HoodieAvroPayload(Option.of(r))));
      if (idColumn != null) {
        ids.computeIfAbsent(String.valueOf(r.get("symbol")), s -> new TreeSet<>())
            .add(((Number) r.get(idColumn)).longValue());
      } else {
        List<String> group = new ArrayList<>(groupColumns.size());
        for (String c : groupColumns) {
          group.add(String.valueOf(r.get(c)));
        }
        long v = ((Number) r.get(risingColumn)).longValue();
        keySpan.merge(group, new long[] {v, v}, (a, b) -> new long[] {Math.min(a[0], b[0]), Math.max(a[1], b[1])});
      }
      Long t = timeColumn == null ? null : asLong(r.get(timeColumn));
      Long ingest = asLong(r.get("ingest_time_ms"));
      if (t != null) {   // not a ?: chain: its long arm would unbox a null Long
        minTime = minTime == null ? t : Long.valueOf(Math.min(minTime, t));
        maxTime = maxTime == null ? t : Long.valueOf(Math.max(maxTime, t));
      }
      if (ingest != null) {
        maxIngest = maxIngest == null ? ingest : Long.valueOf(Math.max(maxIngest, ingest));
      }
      StringBuilder p = new StringBuilder();
      for (String c : partitionColumns) {
        p.append(p.length() == 0 ? "" : "\u0000").append(r.get(c));
      }
      partitions.add(p.toString());
    }
    ObjectNode out = json.createObjectNode();
    out.put("rows", staged.size());
    out.put("dropped", dropped);
    ObjectNode idsOut = out.putObject("ids");
    ids.forEach((s, v) -> v.forEach(idsOut.withArray(s)::add));
    ArrayNode keyMin = out.putArray("key_min");
    ArrayNode keyMax = out.putArray("key_max");
    keySpan.forEach((g, span) -> {
      ArrayNode lo = keyMin.addArray();
      ArrayNode hi = keyMax.addArray();
      g.forEach(v -> {
        lo.add(v);
        hi.add(v);
      });
      lo.add(span[0]);
      hi.add(span[1]);
    });
    if (minTime != null) {
      out.put("min_time_ms", minTime);
      out.put("max_time_ms", maxTime);
    }
    if (maxIngest != null) {
      out.put("max_ingest_ms", maxIngest);
    }
    ArrayNode parts = out.putArray("partitions");
    for (String p : partitions) {
      ObjectNode o = parts.addObject();
      String[] values = p.split("\u0000", -1);
      for (int i = 0; i < partitionColumns.size(); i++) {
        o.put(partitionColumns.get(i), values[i]);
      }
    }
    return json.writeValueAsString(out);
  }

  /** Writes the staged rows and commits them with {@code extraMetadata}; returns the commit's instant. */
  public String commit(Map<String, String> extraMetadata) {
    String instant = client.startCommit();
    List<WriteStatus> statuses = client.insert(staged, instant);
    for (WriteStatus s : statuses) {
      if (s.hasErrors()) {
        throw new IllegalStateException("Hudi insert " + instant + " failed for " + s.getTotalErrorRecords()
            + " row(s) of " + s.getPartitionPath() + ": " + s.getGlobalError());
      }
    }
    if (!client.commit(instant, statuses, Option.of(new LinkedHashMap<>(extraMetadata)))) {
      throw new IllegalStateException("Hudi commit " + instant + " was not completed");
    }
    staged = new ArrayList<>();
    return instant;
  }

  /**
   * Cleans (which also rolls back failed writes whose heartbeat expired) and archives the timeline, as
   * the table's options say; both are no-ops until their triggers are met.
   */
  public void maintain() {
    client.clean();
    client.archive();
  }

  private static boolean holds(JsonNode ranges, long id) {
    if (ranges == null) {
      return false;
    }
    for (JsonNode span : ranges) {
      if (span.get(0).asLong() <= id && id <= span.get(1).asLong()) {
        return true;
      }
    }
    return false;
  }

  private static int compareGroups(List<String> a, List<String> b) {
    for (int i = 0; i < Math.min(a.size(), b.size()); i++) {
      int c = a.get(i).compareTo(b.get(i));
      if (c != 0) {
        return c;
      }
    }
    return Integer.compare(a.size(), b.size());
  }

  @SuppressWarnings("unchecked")
  private static int compare(Object a, Object b) {
    if (a == null || b == null) {
      return a == null ? (b == null ? 0 : -1) : 1;
    }
    return ((Comparable<Object>) a).compareTo(b);
  }

  private static Long asLong(Object v) {
    return v == null ? null : ((Number) v).longValue();
  }

  private GenericData.Record toAvro(Function<String, Object> column) {
    GenericData.Record r = new GenericData.Record(schema);
    for (Schema.Field f : schema.getFields()) {
      Object v = column.apply(f.name());
      if (v != null) {
        r.put(f.pos(), value(nonNull(f.schema()), v, f.name()));
      }
    }
    return r;
  }

  private static Schema nonNull(Schema s) {
    if (s.getType() == Schema.Type.UNION) {
      for (Schema t : s.getTypes()) {
        if (t.getType() != Schema.Type.NULL) {
          return t;
        }
      }
    }
    return s;
  }

  private Object value(Schema s, Object v, String name) {
    switch (s.getType()) {
      case STRING:
        return v.toString();
      case LONG:
        return ((Number) v).longValue();
      case INT:
        return ((Number) v).intValue();
      case DOUBLE:
        return ((Number) v).doubleValue();
      case BOOLEAN:
        return v;
      case FIXED:
      case BYTES: {
        if (!(s.getLogicalType() instanceof LogicalTypes.Decimal)) {
          break;
        }
        LogicalTypes.Decimal d = (LogicalTypes.Decimal) s.getLogicalType();
        BigDecimal b = ((BigDecimal) v).setScale(d.getScale());  // exact: the column's scale is the table's
        return s.getType() == Schema.Type.FIXED ? decimals.toFixed(b, s, d) : decimals.toBytes(b, s, d);
      }
      default:
        break;
    }
    throw new IllegalArgumentException("column " + name + ": Avro type " + s + " is not supported by this writer");
  }

  @Override
  public void close() {
    client.close();
  }
}
