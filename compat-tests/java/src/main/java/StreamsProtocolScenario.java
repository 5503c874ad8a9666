import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.StreamsGroupDescription;
import org.apache.kafka.clients.admin.StreamsGroupMemberDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
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
 * Kafka Streams 4.4 with the streams rebalance protocol (KIP-1071, `group.protocol=streams`):
 * a word count (a repartition topic and a store with its changelog) whose internal topics the
 * BROKER creates from the topology the members send. One instance with two stream threads
 * counts 100 lines; the output's latest counts must be the exact ones; the AdminClient's
 * describeStreamsGroups shows the group Stable with both threads as members and the 4 tasks
 * (2 subtopologies x 2 partitions) each active once; the internal topics exist with 2
 * partitions and the changelog is compacted; closing the instance leaves the group Empty.
 */
final class StreamsProtocolScenario {
    private static final int LINES = 100;
    private final Compat c;

    StreamsProtocolScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String in = c.topic("streams-proto-in");
        String out = c.topic("streams-proto-out");
        String appId = "compat-java-streams-proto-" + c.suffix;
        Path stateDir = Files.createTempDirectory("gregor-compat-streams-proto-");
        try (Admin admin = c.admin()) {
            c.createTopic(admin, in, 2);
            c.createTopic(admin, out, 2);
            // No initial rebalance delay (3 s by default) for this group.
            ConfigResource group = new ConfigResource(ConfigResource.Type.GROUP, appId);
            Compat.get(admin.incrementalAlterConfigs(Map.of(group, List.of(new AlterConfigOp(
                    new ConfigEntry("streams.initial.rebalance.delay.ms", "0"), AlterConfigOp.OpType.SET)))).all());
            produce(in);
            KafkaStreams streams = start(appId, in, out, stateDir);
            try {
                Map<String, Long> want = expected();
                Map<String, Long> latest = new TreeMap<>();
                try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(null, Map.of())) {
                    consumer.assign(List.of(new TopicPartition(out, 0), new TopicPartition(out, 1)));
                    consumer.seekToBeginning(consumer.assignment());
                    long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos() * 2;
                    while (!latest.equals(want)) {
                        Check.that(System.nanoTime() < deadline, "latest counts %s, want %s (streams %s)",
                                latest, want, streams.state());
                        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                            latest.put(new String(r.key(), StandardCharsets.UTF_8),
                                    java.nio.ByteBuffer.wrap(r.value()).getLong());
                        }
                    }
                }
                Check.ok("the word count over the streams protocol counted %d lines (%d words)", LINES, want.size());
                checkDescribed(admin, appId);
                checkInternalTopics(admin, appId);
            } finally {
                streams.close(Duration.ofSeconds(20));
            }
            Compat.waitFor(() -> {
                try {
                    return describe(admin, appId).groupState() == GroupState.EMPTY;
                } catch (Exception e) {
                    return false;
                }
            }, "the streams group to be empty after close");
            Check.ok("closed: the streams group is Empty");
        }
    }

    private static String line(int i) {
        StringBuilder sb = new StringBuilder();
        for (int j = 0; j <= i % 3; j++) {
            if (j > 0) sb.append(' ');
            sb.append("w").append((i * 5 + j) % 11);
        }
        return sb.toString();
    }

    private static Map<String, Long> expected() {
        Map<String, Long> counts = new TreeMap<>();
        for (int i = 0; i < LINES; i++) {
            for (String w : line(i).split(" ")) counts.merge(w, 1L, Long::sum);
        }
        return counts;
    }

    private void produce(String topic) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = c.producer(Map.of())) {
            for (int i = 0; i < LINES; i++) {
                p.send(new ProducerRecord<>(topic, Compat.utf8("line-" + i), Compat.utf8(line(i))));
            }
            p.flush();
        }
    }

    private KafkaStreams start(String appId, String in, String out, Path stateDir) throws Exception {
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
        p.put(StreamsConfig.GROUP_PROTOCOL_CONFIG, "streams");
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 2);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        p.put(StreamsConfig.APPLICATION_SERVER_CONFIG, "localhost:7070");
        KafkaStreams streams = new KafkaStreams(b.build(), p);
        streams.start();
        return streams;
    }

    private static StreamsGroupDescription describe(Admin admin, String appId) throws Exception {
        return Compat.get(admin.describeStreamsGroups(List.of(appId)).all()).get(appId);
    }

    /** Stable, both threads members, every task active exactly once, the topology. */
    private void checkDescribed(Admin admin, String appId) throws Exception {
        Compat.waitFor(() -> {
            try {
                return describe(admin, appId).groupState() == GroupState.STABLE;
            } catch (Exception e) {
                return false;
            }
        }, "the streams group to be Stable");
        StreamsGroupDescription d = describe(admin, appId);
        Collection<StreamsGroupMemberDescription> members = d.members();
        Check.eq("members", 2, members.size());
        TreeMap<String, Integer> active = new TreeMap<>();
        for (StreamsGroupMemberDescription m : members) {
            Check.eq("member epoch = group epoch", d.groupEpoch(), m.memberEpoch());
            Check.that(m.userEndpoint().isPresent(), "member %s has no user endpoint", m.memberId());
            m.assignment().activeTasks().forEach(t ->
                    t.partitions().forEach(p -> active.merge(t.subtopologyId() + "_" + p, 1, Integer::sum)));
        }
        Check.eq("active tasks", Map.of("0_0", 1, "0_1", 1, "1_0", 1, "1_1", 1), active);
        Check.eq("subtopologies", 2, d.subtopologies().size());
        Check.ok("describeStreamsGroups: Stable at epoch %d, 2 members, tasks %s", d.groupEpoch(), active.keySet());
    }

    /** The broker made them: 2 partitions each, the changelog compacted. */
    private void checkInternalTopics(Admin admin, String appId) throws Exception {
        String changelog = appId + "-counts-changelog";
        String repartition = appId + "-counts-repartition";
        var described = Compat.get(admin.describeTopics(List.of(changelog, repartition)).allTopicNames());
        Check.eq(changelog + " partitions", 2, described.get(changelog).partitions().size());
        Check.eq(repartition + " partitions", 2, described.get(repartition).partitions().size());
        var configs = Compat.get(admin.describeConfigs(List.of(
                new ConfigResource(ConfigResource.Type.TOPIC, changelog))).all());
        Check.eq(changelog + " cleanup.policy", "compact",
                configs.get(new ConfigResource(ConfigResource.Type.TOPIC, changelog)).get("cleanup.policy").value());
        Check.ok("the broker created the internal topics (2 partitions each, changelog compacted)");
    }
}
