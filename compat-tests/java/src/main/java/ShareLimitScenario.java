import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.GroupMaxSizeReachedException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * group.share.max.size (issue 17), on a broker whose share groups hold one member at most: a
 * KafkaShareConsumer of a group gets records; a second consumer of the same group has its poll
 * fail with GroupMaxSizeReachedException and gets nothing, while the first goes on receiving
 * (a record produced after the refusal reaches it).
 */
final class ShareLimitScenario {
    private final Compat c;
    private final String topic;
    private final String group;

    ShareLimitScenario(Compat c) {
        this.c = c;
        this.topic = c.topic("share-limit");
        this.group = c.group("share-limit");
    }

    KafkaShareConsumer<byte[], byte[]> member(String name) {
        Properties p = c.common("share-" + name);
        p.put("group.id", group);
        p.put("fetch.max.wait.ms", 100);
        KafkaShareConsumer<byte[], byte[]> consumer =
                new KafkaShareConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        consumer.subscribe(List.of(topic));
        return consumer;
    }

    static int poll(KafkaShareConsumer<byte[], byte[]> consumer, List<String> got) {
        int n = 0;
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
            got.add(new String(r.value(), java.nio.charset.StandardCharsets.UTF_8));
            n++;
        }
        return n;
    }

    void run() throws Exception {
        try (var admin = c.admin(); KafkaProducer<byte[], byte[]> producer = c.producer(Map.of())) {
            c.createTopic(admin, topic, 1);
            Compat.setGroupConfigs(admin, group, Map.of("share.auto.offset.reset", "earliest"));
            for (int i = 0; i < 5; i++) producer.send(new ProducerRecord<>(topic, ("r" + i).getBytes())).get();

            List<String> first = new ArrayList<>();
            List<String> second = new ArrayList<>();
            try (var a = member("a"); var b = member("b")) {
                Compat.waitFor(() -> poll(a, first) >= 0 && first.size() >= 5, "the first member's 5 records",
                        first::toString);
                Check.ok("the first member of %s got the 5 records", group);
                Throwable[] refusal = {null};
                Compat.waitFor(() -> {
                    poll(a, first);
                    try {
                        poll(b, second);
                    } catch (RuntimeException e) {
                        refusal[0] = e;
                        return true;
                    }
                    return false;
                }, "the second member's poll to fail", second::toString);
                Check.raised("the second member's poll", GroupMaxSizeReachedException.class, refusal[0]);
                Check.eq("records the second member got", List.of(), second);
                Check.ok("the second member's poll: %s", refusal[0].getMessage());
                producer.send(new ProducerRecord<>(topic, "after".getBytes())).get();
                Compat.waitFor(() -> poll(a, first) >= 0 && first.contains("after"),
                        "the first member to get the record produced after the refusal", first::toString);
                Check.ok("the first member goes on: it got the record produced after the refusal");
            }
        }
    }
}
