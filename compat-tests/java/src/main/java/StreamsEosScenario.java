import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * Kafka Streams with exactly_once_v2, as users run it: a word count (a repartition topic, a
 * RocksDB store with its compacted changelog topic) in a child JVM. It counts a first batch of
 * lines; while a second batch is being produced it is killed with SIGKILL in the middle of its
 * work (a transaction open), and started again on the same state directory (the same
 * transactional ids: the new producer fences the old one and its open transaction is aborted).
 * With the store's cache off every input word emits its new count, so a read_committed reader
 * of the output must see, for each word, exactly the counts 1, 2, ..., n: no count twice (the
 * killed instance's uncommitted work is invisible and redone once), none missing.
 */
final class StreamsEosScenario {
    private static final int LINES = 300;
    private final Compat c;

    StreamsEosScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String in = c.topic("streams-in");
        String out = c.topic("streams-out");
        String appId = "compat-java-streams-" + c.suffix;
        Path stateDir = Files.createTempDirectory("gregor-compat-streams-");
        Path log = stateDir.resolveSibling(stateDir.getFileName() + ".log");
        try (Admin admin = c.admin()) {
            c.createTopic(admin, in, 2);
            c.createTopic(admin, out, 2);
            produce(in, 0, LINES / 2, 0);
            try (OutputReader reader = new OutputReader(c, out)) {
                Process first = startApp(appId, in, out, stateDir, log);
                reader.await(expected(LINES / 2), "the first " + LINES / 2 + " lines counted", first, log);
                Check.ok("the first instance counted the first %d lines (%d words)", LINES / 2,
                        expected(LINES / 2).size());

                // The second half goes in slowly, so the kill lands while records are processed.
                Thread producer = new Thread(() -> produce(in, LINES / 2, LINES, 10), "compat-streams-producer");
                producer.start();
                int before = reader.records();
                Compat.waitFor(() -> reader.poll() > before, "output from the second half");
                first.destroyForcibly().waitFor();
                Check.ok("killed the first instance (SIGKILL) after %d of the second half's output records",
                        reader.records() - before);

                Process second = startApp(appId, in, out, stateDir, log);
                producer.join();
                reader.await(expected(LINES), "all " + LINES + " lines counted after the restart", second, log);
                second.destroyForcibly().waitFor();
                reader.checkExactlyOnce();
                Check.ok("after the restart: every word's committed counts are exactly 1..n (%d output records)",
                        reader.records());
            }
            checkInternalTopics(admin, appId);
            checkCommitted(admin, appId, in);
        }
    }

    /** Line i: 1 to 4 words of a 13-word vocabulary, so counts differ from word to word. */
    private static String line(int i) {
        StringBuilder sb = new StringBuilder();
        for (int j = 0; j <= i % 4; j++) {
            if (j > 0) sb.append(' ');
            sb.append("w").append((i * 7 + j * 3) % 13);
        }
        return sb.toString();
    }

    private static Map<String, Long> expected(int lines) {
        Map<String, Long> counts = new TreeMap<>();
        for (int i = 0; i < lines; i++) {
            for (String w : line(i).split(" ")) counts.merge(w, 1L, Long::sum);
        }
        return counts;
    }

    private void produce(String topic, int from, int to, long pauseMs) {
        try (KafkaProducer<byte[], byte[]> p = c.producer(Map.of())) {
            for (int i = from; i < to; i++) {
                p.send(new ProducerRecord<>(topic, Compat.utf8("line-" + i), Compat.utf8(line(i))));
                if (pauseMs > 0) {
                    p.flush();
                    Thread.sleep(pauseMs);
                }
            }
            p.flush();
        } catch (InterruptedException e) {
            throw new RuntimeException(e);
        }
    }

    /** The word count in its own JVM (`Compat java streams_app:...`), output to `log`. */
    private Process startApp(String appId, String in, String out, Path stateDir, Path log) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = List.of(java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), "Compat", "java",
                "streams_app:" + appId + ":" + in + ":" + out + ":" + stateDir, c.bootstrap);
        return new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }

    /** The child's side: runs the topology until it is killed (or the watchdog ends it). */
    static void runApp(Compat c, String appId, String in, String out, String stateDir) throws Exception {
        StreamsBuilder b = new StreamsBuilder();
        b.stream(in, Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(v -> Arrays.asList(v.split(" ")))
                .groupBy((k, w) -> w, Grouped.with(Serdes.String(), Serdes.String()))
                .count(Materialized.as("counts"))
                .toStream()
                .to(out, Produced.with(Serdes.String(), Serdes.Long()));
        Properties p = new Properties();
        p.putAll(c.common("streams"));
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        // The killed instance's member leaves the group when its session ends: keep that short.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1000);
        CountDownLatch running = new CountDownLatch(1);
        KafkaStreams streams = new KafkaStreams(b.build(), p);
        streams.setStateListener((now, was) -> {
            System.out.println("streams state " + was + " -> " + now);
            if (now == KafkaStreams.State.RUNNING) running.countDown();
        });
        streams.start();
        running.await();
        new CountDownLatch(1).await();
    }

    /** Changelog compacted, repartition topic deleting, both made by Streams itself. */
    private void checkInternalTopics(Admin admin, String appId) throws Exception {
        String changelog = appId + "-counts-changelog";
        String repartition = appId + "-counts-repartition";
        Map<ConfigResource, Config> configs = Compat.get(admin.describeConfigs(List.of(
                new ConfigResource(ConfigResource.Type.TOPIC, changelog),
                new ConfigResource(ConfigResource.Type.TOPIC, repartition))).all());
        Check.eq(changelog + " cleanup.policy", "compact",
                configs.get(new ConfigResource(ConfigResource.Type.TOPIC, changelog)).get("cleanup.policy").value());
        Check.eq(repartition + " cleanup.policy", "delete",
                configs.get(new ConfigResource(ConfigResource.Type.TOPIC, repartition)).get("cleanup.policy").value());
        Check.ok("Streams made its changelog topic compacted and its repartition topic deleting");
    }

    /** The application's group committed the end of its input, in the transactions. */
    private void checkCommitted(Admin admin, String appId, String in) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> committed =
                Compat.get(admin.listConsumerGroupOffsets(appId).partitionsToOffsetAndMetadata());
        for (int p = 0; p < 2; p++) {
            TopicPartition tp = new TopicPartition(in, p);
            long end = Compat.get(admin.listOffsets(Map.of(tp, OffsetSpec.latest())).all()).get(tp).offset();
            OffsetAndMetadata o = committed.get(tp);
            Check.that(o != null, "no committed offset for %s: %s", tp, committed);
            Check.eq("committed offset of " + tp, end, o.offset());
        }
        Check.ok("the group %s committed the end of both input partitions", appId);
    }

    /** A read_committed reader of the output: every count each word was given, in order. */
    private static final class OutputReader implements AutoCloseable {
        private final KafkaConsumer<byte[], byte[]> consumer;
        private final Map<String, List<Long>> counts = new HashMap<>();
        private int records;

        OutputReader(Compat c, String topic) {
            consumer = c.consumer(null, Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"));
            consumer.assign(List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1)));
            consumer.seekToBeginning(consumer.assignment());
        }

        int records() {
            return records;
        }

        int poll() {
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                String word = new String(r.key(), StandardCharsets.UTF_8);
                long count = java.nio.ByteBuffer.wrap(r.value()).getLong();
                counts.computeIfAbsent(word, w -> new ArrayList<>()).add(count);
                records++;
            }
            return records;
        }

        Map<String, Long> latest() {
            Map<String, Long> m = new TreeMap<>();
            counts.forEach((w, l) -> m.put(w, l.get(l.size() - 1)));
            return m;
        }

        /** Polls until every word's latest count is the wanted one (the app must stay alive). */
        void await(Map<String, Long> want, String what, Process app, Path log) throws Exception {
            long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos() * 2;
            while (!latest().equals(want)) {
                if (!app.isAlive() || System.nanoTime() > deadline) {
                    throw new Check.Failure("waiting for " + what + ": latest counts " + latest() + ", want " + want
                            + (app.isAlive() ? "" : "; the Streams app exited") + "; its log:\n" + tail(log));
                }
                poll();
            }
        }

        void checkExactlyOnce() {
            for (var e : new TreeMap<>(counts).entrySet()) {
                List<Long> want = new ArrayList<>();
                for (long i = 1; i <= e.getValue().size(); i++) want.add(i);
                Check.eq("committed counts of " + e.getKey(), want, e.getValue());
            }
        }

        @Override
        public void close() {
            consumer.close();
        }
    }

    private static String tail(Path log) throws Exception {
        File f = log.toFile();
        if (!f.exists()) return "(none)";
        List<String> lines = Files.readAllLines(log);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    }
}
