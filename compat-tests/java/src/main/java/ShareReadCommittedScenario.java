import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * A share group with share.isolation.level=read_committed (and share.auto.offset.reset=earliest)
 * set by incrementalAlterConfigs on the GROUP, and described so: of a committed transaction, an
 * aborted one, an open one and a plain record after it, a KafkaShareConsumer receives exactly
 * the committed records and nothing past the open transaction; once that commits, its record
 * and the plain one follow. The aborted record never comes.
 */
final class ShareReadCommittedScenario {
    /** How long "nothing more comes" is watched. */
    private static final Duration QUIET = Duration.ofSeconds(3);
    private final Compat c;

    ShareReadCommittedScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String topic = c.topic("share-rc");
        String group = c.group("share-rc");
        try (Admin admin = c.admin()) {
            c.createTopic(admin, topic, 1);
            Compat.setGroupConfigs(admin, group, Map.of(
                    "share.auto.offset.reset", "earliest", "share.isolation.level", "read_committed"));
            ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
            Config described = Compat.get(admin.describeConfigs(List.of(resource)).all()).get(resource);
            ConfigEntry level = described.get("share.isolation.level");
            Check.that(level != null, "share.isolation.level is described: %s", described);
            Check.eq("share.isolation.level", "read_committed", level.value());
            Check.eq("its source", ConfigEntry.ConfigSource.DYNAMIC_GROUP_CONFIG, level.source());
            Check.ok("share.isolation.level=read_committed set and described on the group");
        }

        try (KafkaProducer<byte[], byte[]> committed = transactional("c");
             KafkaProducer<byte[], byte[]> aborted = transactional("a");
             KafkaProducer<byte[], byte[]> open = transactional("o");
             KafkaProducer<byte[], byte[]> plain = c.producer(Map.of());
             KafkaShareConsumer<byte[], byte[]> consumer = consumer(group, topic)) {
            committed.beginTransaction();
            send(committed, topic, "committed-1");
            send(committed, topic, "committed-2");
            committed.commitTransaction();
            aborted.beginTransaction();
            send(aborted, topic, "aborted-1");
            aborted.flush();
            aborted.abortTransaction();
            open.beginTransaction();
            send(open, topic, "open-1");
            open.flush();
            plain.send(new ProducerRecord<>(topic, 0, null, Compat.utf8("plain-1"))).get();
            Check.ok("produced: a committed transaction, an aborted one, an open one, a plain record");

            Check.eq("before the open transaction", List.of("committed-1", "committed-2"), take(consumer, 2));
            Check.ok("the share consumer got the committed records only, nothing past the open transaction");

            open.commitTransaction();
            Check.eq("after it commits", List.of("open-1", "plain-1"), take(consumer, 2));
            Check.ok("once committed, the open transaction's record and the plain one came; the aborted one never");
        }
    }

    private KafkaProducer<byte[], byte[]> transactional(String name) {
        KafkaProducer<byte[], byte[]> p = c.producer(Map.of(
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, "compat-java-share-rc-" + name + "-" + c.suffix));
        p.initTransactions();
        return p;
    }

    private static void send(KafkaProducer<byte[], byte[]> p, String topic, String value) {
        p.send(new ProducerRecord<>(topic, 0, null, Compat.utf8(value)));
    }

    private KafkaShareConsumer<byte[], byte[]> consumer(String group, String topic) {
        Properties p = c.common("share-rc");
        p.put("group.id", group);
        p.put("share.acknowledgement.mode", "explicit");
        p.put("fetch.max.wait.ms", 100);
        KafkaShareConsumer<byte[], byte[]> consumer =
                new KafkaShareConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        consumer.subscribe(List.of(topic));
        return consumer;
    }

    /** The values polled until `want` came (accepted and committed), then for QUIET more. */
    private static List<String> take(KafkaShareConsumer<byte[], byte[]> consumer, int want) {
        List<String> got = new ArrayList<>();
        long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos();
        long quiet = Long.MAX_VALUE;
        while (System.nanoTime() < Math.min(deadline, quiet)) {
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                got.add(new String(r.value(), StandardCharsets.UTF_8));
                consumer.acknowledge(r, AcknowledgeType.ACCEPT);
            }
            consumer.commitSync(Compat.TIMEOUT);
            if (got.size() >= want && quiet == Long.MAX_VALUE) quiet = System.nanoTime() + QUIET.toNanos();
        }
        return got;
    }
}
