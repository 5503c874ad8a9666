import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ShareGroupDescription;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * share.version 2 with the Java client's KafkaShareConsumer (ShareFetch/ShareAcknowledge v2),
 * explicit acknowledgement, the group's share.auto.offset.reset=earliest and
 * share.record.lock.duration.ms=15000 (Kafka's least) set with incrementalAlterConfigs:
 * <ol>
 * <li>RENEW: a consumer holds a record 9 s, renews its lock (AcknowledgeType.RENEW), gets it
 * back from poll with delivery count 1, holds it 9 s more (18 s in all, past the first lock)
 * and accepts it: the commit succeeds, the record never comes again (to it or to a second
 * consumer), its delivery count stayed 1;</li>
 * <li>share.acquire.mode=record_limit with max.poll.records=3: of 10 records in one batch, two
 * consumers of the group each hold 3 different ones at once (batch_optimized would give one of
 * them the whole batch), no poll returns more than 3, each record comes once.</li>
 * </ol>
 */
final class ShareV2Scenario {
    private final Compat c;

    ShareV2Scenario(Compat c) {
        this.c = c;
    }

    KafkaShareConsumer<byte[], byte[]> consumer(String name, String group, String topic, Map<String, Object> extra) {
        Properties p = c.common("share-v2-" + name);
        p.put("group.id", group);
        p.put("share.acknowledgement.mode", "explicit");
        p.put("fetch.max.wait.ms", 100);
        p.putAll(extra);
        KafkaShareConsumer<byte[], byte[]> consumer =
                new KafkaShareConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        consumer.subscribe(List.of(topic));
        return consumer;
    }

    void configure(Admin admin, String group) throws Exception {
        Compat.setGroupConfigs(admin, group, Map.of(
                "share.auto.offset.reset", "earliest", "share.record.lock.duration.ms", "15000"));
    }

    static List<ConsumerRecord<byte[], byte[]>> poll(KafkaShareConsumer<byte[], byte[]> consumer) {
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
        consumer.poll(Duration.ofMillis(100)).forEach(got::add);
        return got;
    }

    static String key(ConsumerRecord<byte[], byte[]> r) {
        return r.partition() + "@" + r.offset();
    }

    static short deliveries(ConsumerRecord<byte[], byte[]> r) {
        return r.deliveryCount().orElse((short) -1);
    }

    /** Acknowledgements committed without an error for any partition. */
    static void commit(KafkaShareConsumer<byte[], byte[]> consumer, String what) {
        Map<TopicIdPartition, Optional<KafkaException>> result = consumer.commitSync(Compat.TIMEOUT);
        result.forEach((tp, e) -> Check.that(e.isEmpty(), "%s: %s answered %s", what, tp, e.map(Compat::describe).orElse("")));
    }

    void renew(Admin admin, KafkaProducer<byte[], byte[]> producer) throws Exception {
        String topic = c.topic("share-renew");
        String group = c.group("share-renew");
        c.createTopic(admin, topic, 1);
        configure(admin, group);
        producer.send(new ProducerRecord<>(topic, 0, null, Compat.utf8("renewed"))).get();
        try (KafkaShareConsumer<byte[], byte[]> a = consumer("a", group, topic, Map.of("max.poll.records", 10))) {
            List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
            Compat.waitFor(() -> {
                got.addAll(poll(a));
                return !got.isEmpty();
            }, "the record at the first consumer");
            Check.eq("first poll", "0@0", key(got.get(0)));
            Check.eq("first delivery count", (short) 1, deliveries(got.get(0)));
            long acquired = System.nanoTime();
            Thread.sleep(9_000);
            a.acknowledge(got.get(0), AcknowledgeType.RENEW);
            List<ConsumerRecord<byte[], byte[]>> back = new ArrayList<>();
            Compat.waitFor(() -> {
                back.addAll(poll(a));
                return !back.isEmpty();
            }, "the renewed record back from poll");
            Check.eq("renewed", "0@0", key(back.get(0)));
            Check.eq("delivery count after RENEW", (short) 1, deliveries(back.get(0)));
            Check.eq("records after RENEW", 1, back.size());
            Check.ok("RENEW after 9 s: poll gives the record back, delivery count 1");
            Thread.sleep(9_000);
            long held = (System.nanoTime() - acquired) / 1_000_000;
            Check.that(held > 15_000, "held only %d ms", held);
            a.acknowledge(back.get(0), AcknowledgeType.ACCEPT);
            commit(a, "ACCEPT after RENEW");
            Check.ok("accepted %d ms after it was acquired (lock 15000 ms): the renewed lock held", held);
            try (KafkaShareConsumer<byte[], byte[]> b = consumer("b", group, topic, Map.of("max.poll.records", 10))) {
                List<ConsumerRecord<byte[], byte[]>> again = new ArrayList<>();
                long until = System.nanoTime() + Duration.ofSeconds(3).toNanos();
                while (System.nanoTime() < until) {
                    for (KafkaShareConsumer<byte[], byte[]> x : List.of(a, b)) {
                        List<ConsumerRecord<byte[], byte[]>> now = poll(x);
                        for (ConsumerRecord<byte[], byte[]> r : now) x.acknowledge(r, AcknowledgeType.ACCEPT);
                        again.addAll(now);
                    }
                }
                Check.eq("redelivered after ACCEPT", List.of(), again.stream().map(ShareV2Scenario::key).toList());
            }
            Check.ok("never delivered again, to it or to a second consumer");
        }
    }

    void recordLimit(Admin admin, KafkaProducer<byte[], byte[]> producer) throws Exception {
        String topic = c.topic("share-record-limit");
        String group = c.group("share-record-limit");
        c.createTopic(admin, topic, 1);
        configure(admin, group);
        Map<String, Object> limited = Map.of("max.poll.records", 3, "share.acquire.mode", "record_limit");
        try (KafkaShareConsumer<byte[], byte[]> a = consumer("limit-a", group, topic, limited);
                KafkaShareConsumer<byte[], byte[]> b = consumer("limit-b", group, topic, limited)) {
            Compat.waitFor(() -> {
                poll(a);
                poll(b);
                try {
                    ShareGroupDescription d = Compat.get(admin.describeShareGroups(List.of(group)).all()).get(group);
                    return d.members().size() == 2
                            && d.members().stream().allMatch(m -> !m.assignment().topicPartitions().isEmpty());
                } catch (Exception e) {
                    return false;
                }
            }, "2 share members, each assigned");
            // Every member learns its assignment on its next heartbeat (5 s apart).
            long settle = System.nanoTime() + Duration.ofSeconds(6).toNanos();
            while (System.nanoTime() < settle) {
                poll(a);
                poll(b);
            }
            // One batch of 10 records.
            for (int i = 0; i < 10; i++) producer.send(new ProducerRecord<>(topic, 0, null, Compat.utf8("l" + i)));
            producer.flush();
            List<ConsumerRecord<byte[], byte[]>> firstA = new ArrayList<>();
            List<ConsumerRecord<byte[], byte[]>> firstB = new ArrayList<>();
            Compat.waitFor(() -> {
                if (firstA.isEmpty()) firstA.addAll(poll(a));
                if (firstB.isEmpty()) firstB.addAll(poll(b));
                return !firstA.isEmpty() && !firstB.isEmpty();
            }, "records at both consumers before either acknowledges", () -> firstA.size() + " and " + firstB.size());
            Check.eq("first poll of a", 3, firstA.size());
            Check.eq("first poll of b", 3, firstB.size());
            Set<String> seen = new TreeSet<>();
            List<Integer> sizes = new ArrayList<>(List.of(firstA.size(), firstB.size()));
            for (ConsumerRecord<byte[], byte[]> r : firstA) Check.that(seen.add(key(r)), "%s twice", key(r));
            for (ConsumerRecord<byte[], byte[]> r : firstB) Check.that(seen.add(key(r)), "%s twice", key(r));
            Check.ok("record_limit: a and b hold 3 different records of one batch at once: %s", seen);
            for (ConsumerRecord<byte[], byte[]> r : firstA) a.acknowledge(r, AcknowledgeType.ACCEPT);
            for (ConsumerRecord<byte[], byte[]> r : firstB) b.acknowledge(r, AcknowledgeType.ACCEPT);
            Compat.waitFor(() -> {
                for (KafkaShareConsumer<byte[], byte[]> x : List.of(a, b)) {
                    List<ConsumerRecord<byte[], byte[]>> now = poll(x);
                    if (!now.isEmpty()) sizes.add(now.size());
                    for (ConsumerRecord<byte[], byte[]> r : now) {
                        Check.that(seen.add(key(r)), "%s delivered twice", key(r));
                        Check.eq("delivery count of " + key(r), (short) 1, deliveries(r));
                        x.acknowledge(r, AcknowledgeType.ACCEPT);
                    }
                }
                return seen.size() >= 10;
            }, "all 10 records", seen::toString);
            Check.eq("records delivered", 10, seen.size());
            Check.that(sizes.stream().allMatch(n -> n <= 3), "a poll returned more than 3: %s", sizes);
            Check.ok("10 records once each, poll sizes %s (max.poll.records=3)", sizes);
        }
    }

    void run() throws Exception {
        try (var admin = c.admin(); KafkaProducer<byte[], byte[]> producer = c.producer(Map.of("linger.ms", 200))) {
            renew(admin, producer);
            recordLimit(admin, producer);
        }
    }
}
