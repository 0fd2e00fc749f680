package scoreboard.kstreams;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.time.temporal.IsoFields;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;

/**
 * Bench 10's baseline: Scoreboard's worker job done the idiomatic Kafka Streams way, under exactly_once_v2.
 *
 * <p>Why it exists: a team choosing a Kafka-native leaderboard compares our Python worker with Kafka Streams, so
 * bench/kstreams_bench.py runs this app on the same score-events records as our worker and compares events/s,
 * events per CPU-second and end-to-end latency. It does the same job, in the same shape as ours:
 *
 * <ul>
 *   <li>Stage 1, one task per score-events partition: parse the JSON value, look the action up in the catalog,
 *       drop an event id already seen (a changelogged store of event ids, like our idempotency keys), add the
 *       points to the user's all-time, UTC-day and ISO-week totals (one changelogged RocksDB store keyed by
 *       user_id, cached), and keep every user of the partition in an in-memory ordered index per board. Every
 *       {@code emit.interval.ms} (wall clock) each changed board's local top-K goes downstream.
 *   <li>Stage 2, one task (a one-partition repartition topic keyed by board): keep the latest local top-K of each
 *       source partition (a changelogged store) and emit the merged global top-K of the board to the output topic.
 *       Exact for the same reason as ours: a user in the global top K is in its own partition's top K.
 * </ul>
 *
 * <p>Configuration: one properties file (the first argument) holding the Kafka Streams settings and
 * {@code scoreboard.*} keys: input, output, catalog (a JSON file of action_id to points), top.k, emit.interval.ms,
 * retention.days, health.port. {@code GET /readyz} on health.port answers 200 while the app is RUNNING.
 */
public final class ScoreboardStreams {
  static final JsonFactory JSON = new JsonFactory();
  static final long DAY_MS = 86_400_000L;
  static final String ALLTIME = "alltime";

  private ScoreboardStreams() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: ScoreboardStreams <app.properties>");
      System.exit(2);
    }
    Properties props = new Properties();
    try (InputStream in = new FileInputStream(args[0])) {
      props.load(in);
    }
    String input = required(props, "scoreboard.input");
    String output = required(props, "scoreboard.output");
    Map<String, Long> catalog = readCatalog(Path.of(required(props, "scoreboard.catalog")));
    int topK = Integer.parseInt(props.getProperty("scoreboard.top.k", "100"));
    long emitMs = Long.parseLong(props.getProperty("scoreboard.emit.interval.ms", "100"));
    long retentionDays = Long.parseLong(props.getProperty("scoreboard.retention.days", "7"));
    int healthPort = Integer.parseInt(props.getProperty("scoreboard.health.port", "0"));
    Properties streams = new Properties();
    for (String name : props.stringPropertyNames()) {
      if (!name.startsWith("scoreboard.")) {
        streams.put(name, props.getProperty(name));
      }
    }
    streams.putIfAbsent(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);

    StreamsBuilder builder = new StreamsBuilder();
    StoreBuilder<KeyValueStore<String, byte[]>> users =
        Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("users"), Serdes.String(), Serdes.ByteArray())
            .withCachingEnabled();
    StoreBuilder<KeyValueStore<String, Long>> eventIds =
        Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("event-ids"), Serdes.String(), Serdes.Long());
    StoreBuilder<KeyValueStore<String, byte[]>> candidates =
        Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore("candidates"), Serdes.String(), Serdes.ByteArray());
    builder.addStateStore(users);
    builder.addStateStore(eventIds);
    builder.addStateStore(candidates);
    builder.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
        .process(() -> new ScoreProcessor(catalog, topK, emitMs, retentionDays), "users", "event-ids")
        .repartition(Repartitioned.with(Serdes.String(), Serdes.ByteArray())
            .withName("candidates").withNumberOfPartitions(1))
        .process(() -> new MergeProcessor(topK), "candidates")
        .to(output, Produced.with(Serdes.String(), Serdes.ByteArray()));

    KafkaStreams app = new KafkaStreams(builder.build(), streams);
    CountDownLatch done = new CountDownLatch(1);
    app.setStateListener((now, before) -> {
      System.out.println("state " + before + " -> " + now);
      if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
        done.countDown();
      }
    });
    HttpServer health = HttpServer.create(new InetSocketAddress("127.0.0.1", healthPort), 0);
    health.createContext("/readyz", exchange -> {
      boolean ready = app.state() == KafkaStreams.State.RUNNING;
      byte[] body = (ready ? "ready\n" : app.state() + "\n").getBytes();
      exchange.sendResponseHeaders(ready ? 200 : 503, body.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    });
    health.start();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      app.close(Duration.ofSeconds(15));
      health.stop(0);
      done.countDown();
    }));
    app.start();
    done.await();
    health.stop(0);
    System.exit(app.state() == KafkaStreams.State.ERROR ? 1 : 0);
  }

  static String required(Properties props, String name) {
    String value = props.getProperty(name);
    if (value == null || value.isEmpty()) {
      throw new IllegalArgumentException("missing setting " + name);
    }
    return value;
  }

  /** A JSON object of action_id to integer points (what the bench writes from the project's catalog). */
  static Map<String, Long> readCatalog(Path path) throws IOException {
    Map<String, Long> catalog = new HashMap<>();
    try (JsonParser parser = JSON.createParser(Files.readAllBytes(path))) {
      if (parser.nextToken() != JsonToken.START_OBJECT) {
        throw new IOException(path + ": expected a JSON object of action_id to points");
      }
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        String action = parser.currentName();
        if (parser.nextToken() != JsonToken.VALUE_NUMBER_INT) {
          throw new IOException(path + ": the points of " + action + " are not an integer");
        }
        catalog.put(action, parser.getLongValue());
      }
    }
    return catalog;
  }

  /** A user on a board; the ordering is ours: score descending, then who reached it first, then user_id. */
  record Entry(String user, long score, long since) {
    static final Comparator<Entry> ORDER = Comparator.comparingLong((Entry e) -> -e.score)
        .thenComparingLong(Entry::since).thenComparing(Entry::user);
  }

  /** Every user of one partition on one board, ordered, with a lookup to move one. */
  static final class BoardIndex {
    final TreeSet<Entry> ordered = new TreeSet<>(Entry.ORDER);
    final HashMap<String, Entry> byUser = new HashMap<>();

    void put(Entry entry) {
      Entry old = byUser.put(entry.user(), entry);
      if (old != null) {
        ordered.remove(old);
      }
      ordered.add(entry);
    }

    void remove(String user) {
      Entry old = byUser.remove(user);
      if (old != null) {
        ordered.remove(old);
      }
    }

    List<Entry> top(int k) {
      List<Entry> out = new ArrayList<>(Math.min(k, ordered.size()));
      for (Entry e : ordered) {
        if (out.size() == k) {
          break;
        }
        out.add(e);
      }
      return out;
    }
  }

  /** A user's totals: board id to (score, since), as our worker's user state holds them. */
  static final class Totals {
    final LinkedHashMap<String, long[]> boards = new LinkedHashMap<>();

    static Totals decode(byte[] bytes) {
      Totals totals = new Totals();
      if (bytes == null) {
        return totals;
      }
      try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
        int n = in.readUnsignedByte();
        for (int i = 0; i < n; i++) {
          totals.boards.put(in.readUTF(), new long[] {in.readLong(), in.readLong()});
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return totals;
    }

    byte[] encode() {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);
      try (DataOutputStream out = new DataOutputStream(bytes)) {
        out.writeByte(boards.size());
        for (Map.Entry<String, long[]> e : boards.entrySet()) {
          out.writeUTF(e.getKey());
          out.writeLong(e.getValue()[0]);
          out.writeLong(e.getValue()[1]);
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return bytes.toByteArray();
    }
  }

  /** The boards of a UTC day, as schemas/periods.py names them, and when each period stops being kept. */
  record DayBoards(long day, String daily, String weekly, long dailyEnd, long weeklyEnd) {
    static DayBoards of(long day) {
      LocalDate date = LocalDate.ofEpochDay(day);
      int year = date.get(IsoFields.WEEK_BASED_YEAR);
      int week = date.get(IsoFields.WEEK_OF_WEEK_BASED_YEAR);
      long monday = day - (date.getDayOfWeek().getValue() - 1);
      return new DayBoards(day, "daily:" + date, String.format("weekly:%d-W%02d", year, week),
          (day + 1) * DAY_MS, (monday + 7) * DAY_MS);
    }
  }

  /** When a daily/weekly board id's period ends (ms); Long.MAX_VALUE for alltime. */
  static long periodEnd(String board) {
    if (board.startsWith("daily:")) {
      return (LocalDate.parse(board.substring(6)).toEpochDay() + 1) * DAY_MS;
    }
    if (board.startsWith("weekly:")) {
      String period = board.substring(7);
      int year = Integer.parseInt(period.substring(0, 4));
      int week = Integer.parseInt(period.substring(6));
      LocalDate monday = LocalDate.of(year, 1, 4).with(IsoFields.WEEK_OF_WEEK_BASED_YEAR, week)
          .with(java.time.DayOfWeek.MONDAY);
      return (monday.toEpochDay() + 7) * DAY_MS;
    }
    return Long.MAX_VALUE;
  }

  /** Stage 1: one per score-events partition. */
  static final class ScoreProcessor implements Processor<String, byte[], String, byte[]> {
    final Map<String, Long> catalog;
    final int topK;
    final long emitMs;
    final long retentionMs;
    final Map<String, BoardIndex> index = new HashMap<>();
    final Set<String> dirty = new LinkedHashSet<>();
    long rejected;  // our worker dead-letters these; here they are only counted
    ProcessorContext<String, byte[]> context;
    KeyValueStore<String, byte[]> users;
    KeyValueStore<String, Long> eventIds;
    DayBoards lastDay = DayBoards.of(0);
    int partition;

    ScoreProcessor(Map<String, Long> catalog, int topK, long emitMs, long retentionDays) {
      this.catalog = catalog;
      this.topK = topK;
      this.emitMs = emitMs;
      this.retentionMs = retentionDays * DAY_MS;
    }

    @Override
    public void init(ProcessorContext<String, byte[]> context) {
      this.context = context;
      this.users = context.getStateStore("users");
      this.eventIds = context.getStateStore("event-ids");
      this.partition = context.taskId().partition();
      // the store is restored from its changelog before init: the in-memory index is rebuilt from it
      try (KeyValueIterator<String, byte[]> all = users.all()) {
        while (all.hasNext()) {
          KeyValue<String, byte[]> kv = all.next();
          for (Map.Entry<String, long[]> b : Totals.decode(kv.value).boards.entrySet()) {
            boardIndex(b.getKey()).put(new Entry(kv.key, b.getValue()[0], b.getValue()[1]));
            dirty.add(b.getKey());
          }
        }
      }
      context.schedule(Duration.ofMillis(emitMs), PunctuationType.WALL_CLOCK_TIME, now -> emit(now));
    }

    BoardIndex boardIndex(String board) {
      return index.computeIfAbsent(board, b -> new BoardIndex());
    }

    @Override
    public void process(Record<String, byte[]> record) {
      String user = null;
      String action = null;
      String eventId = null;
      String occurredAt = null;
      try (JsonParser parser = JSON.createParser(record.value())) {
        if (parser.nextToken() != JsonToken.START_OBJECT) {
          rejected++;
          return;
        }
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
          String field = parser.currentName();
          JsonToken token = parser.nextToken();
          if (token == JsonToken.VALUE_STRING) {
            switch (field) {
              case "user_id" -> user = parser.getText();
              case "action_id" -> action = parser.getText();
              case "event_id" -> eventId = parser.getText();
              case "occurred_at" -> occurredAt = parser.getText();
              default -> { }
            }
          } else {
            parser.skipChildren();
          }
        }
      } catch (IOException e) {
        rejected++;
        return;
      }
      Long points = action == null ? null : catalog.get(action);
      if (user == null || user.isEmpty() || !user.equals(record.key()) || points == null) {
        rejected++;
        return;
      }
      long at = record.timestamp();
      if (occurredAt != null) {
        try {
          at = OffsetDateTime.parse(occurredAt).toInstant().toEpochMilli();
        } catch (DateTimeParseException e) {
          rejected++;
          return;
        }
      }
      if (eventId != null) {  // an event id seen before is a duplicate: counted once, as our worker does
        if (eventIds.get(eventId) != null) {
          return;
        }
        eventIds.put(eventId, record.timestamp());
      }
      long day = Math.floorDiv(at, DAY_MS);
      if (day != lastDay.day()) {
        lastDay = DayBoards.of(day);
      }
      long now = record.timestamp();
      Totals totals = Totals.decode(users.get(user));
      // periods past their retention are dropped, as ours drops them (this day's boards are never older)
      for (var it = totals.boards.entrySet().iterator(); it.hasNext(); ) {
        String board = it.next().getKey();
        if (board.equals(ALLTIME) || board.equals(lastDay.daily()) || board.equals(lastDay.weekly())) {
          continue;
        }
        if (periodEnd(board) + retentionMs < now) {
          it.remove();
          BoardIndex idx = index.get(board);
          if (idx != null) {
            idx.remove(user);
          }
        }
      }
      add(totals, user, ALLTIME, points, at);
      if (lastDay.dailyEnd() + retentionMs >= now) {
        add(totals, user, lastDay.daily(), points, at);
      }
      if (lastDay.weeklyEnd() + retentionMs >= now) {
        add(totals, user, lastDay.weekly(), points, at);
      }
      users.put(user, totals.encode());
    }

    void add(Totals totals, String user, String board, long points, long at) {
      long[] current = totals.boards.get(board);
      long score = (current == null ? 0 : current[0]) + points;
      long since = (current == null || points != 0) ? at : current[1];
      totals.boards.put(board, new long[] {score, since});
      boardIndex(board).put(new Entry(user, score, since));
      dirty.add(board);
    }

    void emit(long now) {
      for (String board : dirty) {
        context.forward(new Record<>(board, encodeCandidates(partition, index.get(board).top(topK)), now));
      }
      dirty.clear();
    }
  }

  static byte[] encodeCandidates(int partition, List<Entry> entries) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(32 + entries.size() * 40);
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeInt(partition);
      out.writeInt(entries.size());
      for (Entry e : entries) {
        out.writeUTF(e.user());
        out.writeLong(e.score());
        out.writeLong(e.since());
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  static Map.Entry<Integer, List<Entry>> decodeCandidates(byte[] bytes) {
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
      int partition = in.readInt();
      int n = in.readInt();
      List<Entry> entries = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        entries.add(new Entry(in.readUTF(), in.readLong(), in.readLong()));
      }
      return Map.entry(partition, entries);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Stage 2: one task; the latest local top-K of each partition per board, merged into the board's top K. */
  static final class MergeProcessor implements Processor<String, byte[], String, byte[]> {
    final int topK;
    final Map<String, Map<Integer, List<Entry>>> latest = new HashMap<>();
    ProcessorContext<String, byte[]> context;
    KeyValueStore<String, byte[]> store;

    MergeProcessor(int topK) {
      this.topK = topK;
    }

    @Override
    public void init(ProcessorContext<String, byte[]> context) {
      this.context = context;
      this.store = context.getStateStore("candidates");
      try (KeyValueIterator<String, byte[]> all = store.all()) {
        while (all.hasNext()) {
          KeyValue<String, byte[]> kv = all.next();
          String board = kv.key.substring(0, kv.key.lastIndexOf('|'));
          Map.Entry<Integer, List<Entry>> c = decodeCandidates(kv.value);
          latest.computeIfAbsent(board, b -> new HashMap<>()).put(c.getKey(), c.getValue());
        }
      }
    }

    @Override
    public void process(Record<String, byte[]> record) {
      String board = record.key();
      Map.Entry<Integer, List<Entry>> c = decodeCandidates(record.value());
      store.put(board + "|" + c.getKey(), record.value());
      Map<Integer, List<Entry>> lists = latest.computeIfAbsent(board, b -> new HashMap<>());
      lists.put(c.getKey(), c.getValue());
      List<Entry> merged = new ArrayList<>();
      for (List<Entry> list : lists.values()) {
        merged.addAll(list);
      }
      merged.sort(Entry.ORDER);
      List<Entry> top = merged.subList(0, Math.min(topK, merged.size()));
      context.forward(record.withValue(encodeBoard(board, top)).withTimestamp(System.currentTimeMillis()));
    }
  }

  /** The board as JSON in our leaderboard-updates shape (rank, user_id, score; no usernames here). */
  static byte[] encodeBoard(String board, List<Entry> top) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(64 + top.size() * 48);
    try (JsonGenerator out = JSON.createGenerator(bytes)) {
      int colon = board.indexOf(':');
      out.writeStartObject();
      out.writeArrayFieldStart("data");
      int rank = 0;
      for (Entry e : top) {
        out.writeStartObject();
        out.writeNumberField("rank", ++rank);
        out.writeStringField("user_id", e.user());
        out.writeNumberField("score", e.score());
        out.writeEndObject();
      }
      out.writeEndArray();
      out.writeStringField("timestamp", Instant.now().toString());
      out.writeStringField("window", colon < 0 ? board : board.substring(0, colon));
      if (colon < 0) {
        out.writeNullField("period");
      } else {
        out.writeStringField("period", board.substring(colon + 1));
      }
      out.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

}
