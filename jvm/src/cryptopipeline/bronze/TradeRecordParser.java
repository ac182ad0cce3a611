package cryptopipeline.bronze;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Kafka records of the trade stream to bronze trades rows, without Spark, for the bronze-writer's fast loop.
 *
 * <p>Why a second parser: each Spark query the fast loop ran per cycle (records to a DataFrame, JSON
 * parsing, collect) cost CPU for planning, generated code and its compilation whatever the batch size.
 * This parser is deliberately narrow: it accepts only a record it understands completely — a valid
 * envelope and trade payload of exactly the expected JSON types, no unknown key, exact decimals — and
 * produces exactly the row {@code crypto_pipeline/bronze/parse.py} would (a differential test holds the
 * two to that). Any other record makes {@link #parse} name it and return nothing, and the caller parses
 * the whole batch with Spark instead, which judges and quarantines it. So the Spark path stays the one
 * authority on bad input; this is a fast path for input it would accept unchanged.
 */
public final class TradeRecordParser {
  /** A parsed batch: the rows (column name to value), or why the batch must go through Spark. */
  public static final class Result {
    public final List<Map<String, Object>> rows;
    public final String fallback;

    Result(List<Map<String, Object>> rows, String fallback) {
      this.rows = rows;
      this.fallback = fallback;
    }
  }

  private static final Set<String> ENVELOPE_KEYS = Set.of("schema_version", "source", "exchange", "stream",
      "symbol", "event_type", "event_time_ms", "ingest_time_ms", "payload");
  private static final Pattern SYMBOL = Pattern.compile("[A-Za-z0-9]{1,40}");
  // exact in Spark's decimal(18,8) and decimal(19,8) casts (price, quantity), so their product is exact
  private static final int PRICE_INT_DIGITS = 10;
  private static final int QTY_INT_DIGITS = 11;
  private static final int MAX_FRACTION = 8;
  private static final int QUOTE_INT_DIGITS = 20;     // decimal(38,18)
  // times (and ids) outside [0, year 10000) are left to Spark: its dates and arithmetic differ from Java's there
  private static final long MAX_TIME_MS = 253_402_300_800_000L;

  private final ObjectMapper json = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
  private final int schemaVersion;
  private final Set<String> sources;
  private final Set<String> knownPayloadKeys;
  private final Pattern decimal;
  private final long lateMs;
  private final DateTimeFormatter day;

  /**
   * @param schemaVersion the envelope version bronze accepts
   * @param sources the envelope's accepted {@code source} values
   * @param knownPayloadKeys keys a trade payload may carry (another is drift: Spark's path penalises it)
   * @param decimalPattern the pipeline's one decimal grammar (shared/decimals.py), a full-match regex
   * @param lateMs an event later than this (ingest minus event time) is penalised
   * @param timeZone Spark's session time zone (the {@code dt} partition is the trade time's day there)
   */
  public TradeRecordParser(int schemaVersion, List<String> sources, List<String> knownPayloadKeys,
                           String decimalPattern, long lateMs, String timeZone) {
    this.schemaVersion = schemaVersion;
    this.sources = new HashSet<>(sources);
    this.knownPayloadKeys = new HashSet<>(knownPayloadKeys);
    this.decimal = Pattern.compile(decimalPattern);
    this.lateMs = lateMs;
    this.day = DateTimeFormatter.ofPattern("yyyy-MM-dd", Locale.ROOT).withZone(ZoneId.of(timeZone));
  }

  /**
   * Parses a frame of records: per record, a UTF-8 topic (int length + bytes), the partition (int), the
   * offset (long) and the value (int length + bytes), big-endian.
   */
  public Result parse(byte[] frame) {
    ByteBuffer in = ByteBuffer.wrap(frame);
    List<Map<String, Object>> rows = new ArrayList<>();
    Map<String, String> topics = new HashMap<>();
    while (in.hasRemaining()) {
      byte[] t = new byte[in.getInt()];
      in.get(t);
      String topic = topics.computeIfAbsent(new String(t, StandardCharsets.UTF_8), s -> s);
      int partition = in.getInt();
      long offset = in.getLong();
      byte[] value = new byte[in.getInt()];
      in.get(value);
      Object row = row(topic, partition, offset, value);
      if (row instanceof String) {
        return new Result(List.of(), topic + "/" + partition + "@" + offset + ": " + row);
      }
      @SuppressWarnings("unchecked")
      Map<String, Object> r = (Map<String, Object>) row;
      rows.add(r);
    }
    return new Result(rows, null);
  }

  /** The row of one record, or a String saying why this parser leaves the record to Spark. */
  private Object row(String topic, int partition, long offset, byte[] value) {
    JsonNode env;
    try {
      String text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(value)).toString();
      JsonParser p = json.createParser(text);
      env = json.readTree(p);
      if (env == null || p.nextToken() != null) {
        return "not a single JSON document";
      }
    } catch (CharacterCodingException e) {
      return "not UTF-8";
    } catch (Exception e) {
      return "not strict JSON (" + e.getClass().getSimpleName() + ")";
    }
    if (!env.isObject()) {
      return "envelope is not an object";
    }
    for (Iterator<String> it = env.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!ENVELOPE_KEYS.contains(k)) {
        return "envelope key " + k;
      }
    }
    JsonNode version = env.get("schema_version");
    if (version == null || !version.isInt() || version.intValue() != schemaVersion) {
      return "schema_version";
    }
    String source = text(env, "source");
    if (source == null || !sources.contains(source)) {
      return "source";
    }
    if (!optionalText(env, "exchange") || !optionalText(env, "stream")) {
      return "exchange or stream not a string";
    }
    String symbol = text(env, "symbol");
    if (symbol == null || !SYMBOL.matcher(symbol).matches()) {
      return "symbol";
    }
    symbol = symbol.toUpperCase(Locale.ROOT);
    if (!"trade".equals(text(env, "event_type"))) {
      return "event_type";
    }
    Long ingest = time(env, "ingest_time_ms");
    Long envEvent = time(env, "event_time_ms");
    if (ingest == null || present(env, "event_time_ms") && envEvent == null) {
      return "ingest_time_ms or event_time_ms";
    }
    JsonNode pay = env.get("payload");
    if (pay == null || !pay.isObject()) {
      return "payload is not an object";
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = pay.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> f = it.next();
      if (!knownPayloadKeys.contains(f.getKey())) {
        return "payload key " + f.getKey();
      }
      if (!f.getValue().isValueNode() || f.getValue().isFloatingPointNumber()) {
        return "payload." + f.getKey() + " is not a plain value";
      }
    }
    JsonNode e = pay.get("e");
    if (e != null && !e.isNull() && !"trade".equals(e.textValue()) || !optionalBoolean(pay, "m")
        || !optionalBoolean(pay, "M")) {
      return "payload.e, .m or .M";
    }
    JsonNode s = pay.get("s");
    if (s != null && !s.isNull() && (!s.isTextual() || !s.textValue().toUpperCase(Locale.ROOT).equals(symbol))) {
      return "payload.s";
    }
    Long tradeId = time(pay, "t");
    Long tradeTime = time(pay, "T");
    Long payEvent = time(pay, "E");
    if (tradeId == null || tradeTime == null || present(pay, "E") && payEvent == null) {
      return "payload.t, .T or .E";
    }
    BigDecimal price = exact(pay, "p", PRICE_INT_DIGITS);
    BigDecimal qty = exact(pay, "q", QTY_INT_DIGITS);
    if (price == null || qty == null || price.signum() <= 0 || qty.signum() <= 0) {
      return "payload.p or .q";
    }
    BigDecimal quote = price.multiply(qty);
    if (quote.precision() - quote.scale() > QUOTE_INT_DIGITS) {
      return "quote quantity";
    }
    Long event = payEvent != null ? payEvent : envEvent;
    // the same terms in the same order as parse.stream_rows (double arithmetic is not associative); the
    // exactness penalty and the drift penalty are 0 for every record this parser accepts
    Long lag = event == null ? null : ingest - event;
    double quality = 1.0 - 0.0 - 0.0 - (event == null ? 0.3 : 0.0) - (lag != null && lag > lateMs ? 0.2 : 0.0)
        - (lag != null && lag < -1000 ? 0.2 : 0.0);
    Map<String, Object> row = new HashMap<>();
    row.put("symbol", symbol);
    row.put("trade_id", tradeId);
    row.put("price", price);
    row.put("quantity", qty);
    row.put("quote_quantity", quote);
    row.put("trade_time_ms", tradeTime);
    row.put("event_time_ms", event);
    JsonNode m = pay.get("m");
    row.put("is_buyer_maker", m == null || m.isNull() ? null : m.booleanValue());
    row.put("source", source);
    row.put("ingest_time_ms", ingest);
    row.put("kafka_topic", topic);
    row.put("kafka_partition", partition);
    row.put("kafka_offset", offset);
    row.put("quality_score", Math.max(0.0, quality));
    row.put("stream", text(env, "stream"));
    row.put("payload_json", pay.toString());   // compact, as Spark's from_json keeps a nested object
    row.put("dt", day.format(Instant.ofEpochMilli(tradeTime)));
    return row;
  }

  private static boolean present(JsonNode o, String key) {
    return o.has(key) && !o.get(key).isNull();
  }

  private static String text(JsonNode o, String key) {
    JsonNode v = o.get(key);
    return v != null && v.isTextual() ? v.textValue() : null;
  }

  private static boolean optionalText(JsonNode o, String key) {
    JsonNode v = o.get(key);
    return v == null || v.isNull() || v.isTextual();
  }

  private static boolean optionalBoolean(JsonNode o, String key) {
    JsonNode v = o.get(key);
    return v == null || v.isNull() || v.isBoolean();
  }

  /** An integer in [0, MAX_TIME_MS), or null (missing, null, another type or out of range). */
  private static Long time(JsonNode o, String key) {
    JsonNode v = o.get(key);
    if (v == null || !v.isIntegralNumber() || !v.canConvertToLong()) {
      return null;
    }
    long x = v.longValue();
    return x >= 0 && x < MAX_TIME_MS ? x : null;
  }

  /** A decimal string in the grammar that Spark's narrow casts hold exactly, or null. */
  private BigDecimal exact(JsonNode o, String key, int intDigits) {
    JsonNode v = o.get(key);
    if (v == null || !v.isTextual() || !decimal.matcher(v.textValue()).matches()) {
      return null;
    }
    BigDecimal d = new BigDecimal(v.textValue());
    BigDecimal stripped = d.signum() == 0 ? BigDecimal.ZERO : d.stripTrailingZeros();
    if (Math.max(0, stripped.scale()) > MAX_FRACTION || d.precision() - d.scale() > intDigits) {
      return null;
    }
    return d;
  }
}
