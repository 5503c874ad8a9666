import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;

import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The share group's side of the cluster kill tests (compat-tests/python/test_cluster_pg.py): a
 * KafkaShareConsumer (explicit acknowledgement) in group GROUP reads TOPIC until the file
 * STOPFILE exists, accepting every record it gets and committing after each poll. It prints
 * {@code got PARTITION OFFSET DELIVERY_COUNT} for every record delivered, then {@code acked
 * PARTITION OFFSET} for each record whose commit the leader answered without error (or
 * {@code unacked PARTITION OFFSET ERROR}). The test checks that no acknowledged record comes
 * again and that every record is acknowledged in the end. Nothing is asserted here: brokers
 * are being killed meanwhile.
 */
final class ShareConsumeScenario {
    private final Compat c;
    private final String topic;
    private final String group;
    private final Path stopFile;

    ShareConsumeScenario(Compat c, String topic, String group, Path stopFile) {
        this.c = c;
        this.topic = topic;
        this.group = group;
        this.stopFile = stopFile;
    }

    void run() throws Exception {
        Properties p = c.common("share-consume");
        p.put("group.id", group);
        p.put("share.acknowledgement.mode", "explicit");
        p.put("max.poll.records", 50);
        p.put("fetch.max.wait.ms", 100);
        try (KafkaShareConsumer<byte[], byte[]> consumer =
                     new KafkaShareConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.subscribe(List.of(topic));
            while (!Files.exists(stopFile)) {
                List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
                try {
                    consumer.poll(Duration.ofMillis(200)).forEach(got::add);
                } catch (KafkaException e) {
                    System.out.printf("error poll %s%n", e.toString().replace('\n', ' '));
                    continue;
                }
                if (got.isEmpty()) continue;
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    System.out.printf("got %d %d %d%n", r.partition(), r.offset(), r.deliveryCount().orElse((short) -1));
                    consumer.acknowledge(r, AcknowledgeType.ACCEPT);
                }
                Map<TopicIdPartition, Optional<KafkaException>> outcome;
                try {
                    outcome = consumer.commitSync(Compat.TIMEOUT);
                } catch (KafkaException e) {
                    for (ConsumerRecord<byte[], byte[]> r : got) {
                        System.out.printf("unacked %d %d %s%n", r.partition(), r.offset(), e.toString().replace('\n', ' '));
                    }
                    continue;
                }
                // One topic: each partition's outcome by its index.
                Map<Integer, Optional<KafkaException>> byPartition = new HashMap<>();
                outcome.forEach((tp, error) -> byPartition.put(tp.partition(), error));
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    Optional<KafkaException> error = byPartition.get(r.partition());
                    if (error == null) {
                        System.out.printf("unacked %d %d no outcome%n", r.partition(), r.offset());
                    } else if (error.isPresent()) {
                        System.out.printf("unacked %d %d %s%n", r.partition(), r.offset(), error.get().toString().replace('\n', ' '));
                    } else {
                        System.out.printf("acked %d %d%n", r.partition(), r.offset());
                    }
                }
                System.out.flush();
            }
        }
    }
}
