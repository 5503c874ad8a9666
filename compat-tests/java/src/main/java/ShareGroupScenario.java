import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ShareGroupDescription;
import org.apache.kafka.clients.admin.SharePartitionOffsetInfo;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * KIP-932's share groups with KafkaShareConsumer (explicit acknowledgement), the group's
 * share.auto.offset.reset=earliest and share.delivery.count.limit=3 set with
 * incrementalAlterConfigs on the GROUP resource:
 * <ol>
 * <li>three consumers of one group on a 2-partition topic: describeShareGroups shows 3
 * members (Stable), listGroups a SHARE group; 40 records (one batch each) are all delivered
 * once, every consumer receives some, each is accepted;</li>
 * <li>one consumer of a second group: of 3 records it accepts the first, releases the second,
 * rejects the third; only the released one comes again, with delivery count 2; released
 * twice more it has had its 3 deliveries and is archived: it never comes again (a new record
 * does);</li>
 * <li>a consumer closes with 3 records acquired and not acknowledged: another consumer of the
 * group gets them, with delivery count 2;</li>
 * <li>KIP-1191: the second group's dead-letter topic (errors.deadletterqueue.topic.name, with
 * copy.record.enable; the topic created with errors.deadletterqueue.group.enable=true) holds
 * the rejected record and the one archived at its delivery limit, in that order, with their
 * key and value and the __dlq.errors.* headers naming topic, partition, offset, group,
 * delivery count and why.</li>
 * </ol>
 */
final class ShareGroupScenario {
    private final Compat c;
    private final String topic;
    private final String topic2;
    private final String group;
    private final String group2;
    private final String dlq;

    ShareGroupScenario(Compat c) {
        this.c = c;
        this.topic = c.topic("share");
        this.topic2 = c.topic("share-retry");
        this.group = c.group("share");
        this.group2 = c.group("share-retry");
        this.dlq = "dlq." + topic2;
    }

    final class Member {
        final String name;
        final KafkaShareConsumer<byte[], byte[]> consumer;
        final List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();

        Member(String name, String groupId, String topicName, int maxPollRecords) {
            this.name = name;
            Properties p = c.common("share-" + name);
            p.put("group.id", groupId);
            p.put("share.acknowledgement.mode", "explicit");
            p.put("max.poll.records", maxPollRecords);
            p.put("fetch.max.wait.ms", 100);
            this.consumer = new KafkaShareConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
            consumer.subscribe(List.of(topicName));
        }

        /** One poll; every record is acknowledged with `type` (null: left unacknowledged). */
        List<ConsumerRecord<byte[], byte[]>> poll(AcknowledgeType type) {
            List<ConsumerRecord<byte[], byte[]>> now = new ArrayList<>();
            consumer.poll(Duration.ofMillis(100)).forEach(now::add);
            if (type != null) {
                for (ConsumerRecord<byte[], byte[]> r : now) consumer.acknowledge(r, type);
                if (!now.isEmpty()) consumer.commitSync(Compat.TIMEOUT);
            }
            got.addAll(now);
            return now;
        }

        @Override
        public String toString() {
            return name + "(" + got.size() + " records)";
        }
    }

    static String key(ConsumerRecord<byte[], byte[]> r) {
        return r.partition() + "@" + r.offset();
    }

    static short deliveries(ConsumerRecord<byte[], byte[]> r) {
        return r.deliveryCount().orElse((short) -1);
    }

    void configure(Admin admin, String groupId, String deadLetterTopic) throws Exception {
        Map<String, String> configs = new HashMap<>(Map.of(
                "share.auto.offset.reset", "earliest", "share.delivery.count.limit", "3"));
        if (deadLetterTopic != null) {
            configs.put("errors.deadletterqueue.topic.name", deadLetterTopic);
            configs.put("errors.deadletterqueue.copy.record.enable", "true");
        }
        Compat.setGroupConfigs(admin, groupId, configs);
    }

    static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null || h.value() == null ? null : new String(h.value(), java.nio.charset.StandardCharsets.UTF_8);
    }

    /** The dead letters of group2: the rejected offset 2, then offset 1 at its delivery limit. */
    void checkDeadLetters() {
        try (KafkaConsumer<byte[], byte[]> reader = c.consumer(null, Map.of())) {
            TopicPartition tp = new TopicPartition(dlq, 0);
            reader.assign(List.of(tp));
            reader.seekToBeginning(List.of(tp));
            List<ConsumerRecord<byte[], byte[]>> letters = new ArrayList<>();
            Compat.waitFor(() -> {
                reader.poll(Duration.ofMillis(200)).forEach(letters::add);
                return letters.size() >= 2;
            }, "2 records on " + dlq, () -> letters.size() + " records");
            Check.eq("dead letters", 2, letters.size());
            String[][] expected = {
                {"2", "1", "Offset rejected by client.", "r2"},
                {"1", "3", "Offset delivery count exceeded the threshold.", "r1"},
            };
            for (int i = 0; i < 2; i++) {
                ConsumerRecord<byte[], byte[]> r = letters.get(i);
                String[] e = expected[i];
                Check.eq("__dlq.errors.topic", topic2, header(r, "__dlq.errors.topic"));
                Check.eq("__dlq.errors.partition", "0", header(r, "__dlq.errors.partition"));
                Check.eq("__dlq.errors.offset", e[0], header(r, "__dlq.errors.offset"));
                Check.eq("__dlq.errors.group", group2, header(r, "__dlq.errors.group"));
                Check.eq("__dlq.errors.delivery.count", e[1], header(r, "__dlq.errors.delivery.count"));
                Check.eq("__dlq.errors.message", e[2], header(r, "__dlq.errors.message"));
                Check.eq("dead letter value", e[3], new String(r.value(), java.nio.charset.StandardCharsets.UTF_8));
            }
        }
        Check.ok("%s: the rejected record (offset 2) and the exhausted one (offset 1) with their values and __dlq.errors.* headers", dlq);
    }

    static void pollUntil(List<Member> members, AcknowledgeType type, BooleanSupplier done, String what) {
        Compat.waitFor(() -> {
            for (Member m : members) m.poll(type);
            return done.getAsBoolean();
        }, what, members::toString);
    }

    void run() throws Exception {
        try (var admin = c.admin(); KafkaProducer<byte[], byte[]> producer = c.producer(Map.of())) {
            c.createTopic(admin, topic, 2);
            c.createTopic(admin, topic2, 1);
            Compat.get(admin.createTopics(List.of(new NewTopic(dlq, 1, (short) 1)
                    .configs(Map.of("errors.deadletterqueue.group.enable", "true")))).all());
            c.waitPartitions(admin, dlq, 1);
            configure(admin, group, null);
            configure(admin, group2, dlq);
            Check.ok("share.auto.offset.reset=earliest, share.delivery.count.limit=3 set on %s and %s", group, group2);

            // ---------------------------------------------------------------- three members
            List<Member> members = List.of(new Member("a", group, topic, 2), new Member("b", group, topic, 2),
                    new Member("c", group, topic, 2));
            Compat.waitFor(() -> {
                for (Member m : members) m.poll(AcknowledgeType.ACCEPT);
                try {
                    ShareGroupDescription d = Compat.get(admin.describeShareGroups(List.of(group)).all()).get(group);
                    return d.members().size() == 3 && d.groupState() == GroupState.STABLE
                            && d.members().stream().allMatch(m -> !m.assignment().topicPartitions().isEmpty());
                } catch (Exception e) {
                    return false;
                }
            }, "3 share members, each with an assignment");
            // Every member learns its assignment on its next heartbeat (5 s apart).
            long until = System.nanoTime() + Duration.ofSeconds(6).toNanos();
            while (System.nanoTime() < until) for (Member m : members) m.poll(AcknowledgeType.ACCEPT);
            boolean listed = false;
            for (GroupListing g : Compat.get(admin.listGroups().all())) {
                if (g.groupId().equals(group)) {
                    Check.eq("listed group type", GroupType.SHARE, g.type().orElse(null));
                    listed = true;
                }
            }
            Check.that(listed, "listGroups lacks %s", group);
            Check.ok("describeShareGroups: 3 members, Stable, each assigned; listGroups: SHARE");

            for (int i = 0; i < 40; i++) {
                producer.send(new ProducerRecord<>(topic, i % 2, null, Compat.utf8("v" + i)));
                producer.flush();
            }
            pollUntil(members, AcknowledgeType.ACCEPT, () -> members.stream().mapToInt(m -> m.got.size()).sum() >= 40,
                    "40 records across the share consumers");
            Set<String> seen = new TreeSet<>();
            for (Member m : members) {
                Check.that(!m.got.isEmpty(), "%s received nothing: %s", m.name, members);
                for (ConsumerRecord<byte[], byte[]> r : m.got) {
                    Check.that(seen.add(key(r)), "%s delivered twice", key(r));
                    Check.eq("delivery count of " + key(r), (short) 1, deliveries(r));
                }
            }
            Check.eq("records delivered", 40, seen.size());
            Check.ok("40 records delivered once each, accepted, every consumer got some: %s", members);
            for (Member m : members) m.consumer.close(Duration.ofSeconds(5));

            // ---------------------------------------------------------------- lag
            for (int i = 40; i < 45; i++) producer.send(new ProducerRecord<>(topic, i % 2, null, Compat.utf8("v" + i)));
            producer.flush();
            Map<TopicPartition, SharePartitionOffsetInfo> offsets = Compat.get(admin.listShareGroupOffsets(
                    Map.of(group, new ListShareGroupOffsetsSpec())).partitionsToOffsetInfo(group));
            // The start offset stored may stay behind records already acknowledged (Kafka's does
            // until its share coordinator writes the state again): the lag leaves those out.
            Map<Integer, Long> lags = new TreeMap<>();
            offsets.forEach((tp, info) -> lags.put(tp.partition(), info.lag().orElse(-1L)));
            Check.eq("share lag of " + group, Map.of(0, 3L, 1, 2L), lags);
            Check.ok("listShareGroupOffsets: the lag is the 5 records produced since (3 and 2)");

            // ---------------------------------------------------------------- release, reject
            for (int i = 0; i < 3; i++) producer.send(new ProducerRecord<>(topic2, 0, null, Compat.utf8("r" + i)));
            producer.flush();
            Member a = new Member("retry-a", group2, topic2, 10);
            List<Member> one = List.of(a);
            pollUntil(one, null, () -> a.got.size() >= 3, "3 records of " + topic2);
            Map<Long, AcknowledgeType> acks = Map.of(0L, AcknowledgeType.ACCEPT, 1L, AcknowledgeType.RELEASE,
                    2L, AcknowledgeType.REJECT);
            for (ConsumerRecord<byte[], byte[]> r : a.got) {
                Check.eq("first delivery of " + key(r), (short) 1, deliveries(r));
                a.consumer.acknowledge(r, acks.get(r.offset()));
            }
            a.consumer.commitSync(Compat.TIMEOUT);
            for (short round = 2; round <= 3; round++) {
                a.got.clear();
                pollUntil(one, AcknowledgeType.RELEASE, () -> !a.got.isEmpty(), "the released record again");
                Check.eq("redelivered", "0@1", String.join(",", a.got.stream().map(ShareGroupScenario::key).toList()));
                Check.eq("delivery count", round, deliveries(a.got.get(0)));
            }
            Check.ok("accept 0, release 1, reject 2: only offset 1 came back, with delivery counts 2 and 3");
            a.got.clear();
            producer.send(new ProducerRecord<>(topic2, 0, null, Compat.utf8("r3"))).get();
            pollUntil(one, AcknowledgeType.ACCEPT, () -> !a.got.isEmpty(), "the new record");
            long deadline = System.nanoTime() + Duration.ofSeconds(2).toNanos();
            while (System.nanoTime() < deadline) a.poll(AcknowledgeType.ACCEPT);
            Check.eq("after the limit", "0@3", String.join(",", a.got.stream().map(ShareGroupScenario::key).toList()));
            Check.ok("released at its 3rd delivery, offset 1 is archived: only the new record 3 comes");

            // ---------------------------------------------------------------- close in flight
            a.got.clear();
            // One batch, so that one fetch acquires all three (explicit mode: no poll may follow
            // records left unacknowledged).
            for (int i = 4; i < 7; i++) producer.send(new ProducerRecord<>(topic2, 0, null, Compat.utf8("r" + i)));
            producer.flush();
            pollUntil(one, null, () -> a.got.size() >= 3, "records 4..6");
            a.consumer.close(Duration.ofSeconds(5));
            Member b = new Member("retry-b", group2, topic2, 10);
            List<Member> other = List.of(b);
            pollUntil(other, AcknowledgeType.ACCEPT, () -> b.got.size() >= 3, "records 4..6 at another consumer");
            Map<String, Short> counts = new TreeMap<>();
            for (ConsumerRecord<byte[], byte[]> r : b.got) counts.put(key(r), deliveries(r));
            Check.eq("redelivered after close", Map.of("0@4", (short) 2, "0@5", (short) 2, "0@6", (short) 2), counts);
            Check.ok("a consumer closed with 3 records in flight: another got them, delivery count 2");
            b.consumer.close(Duration.ofSeconds(5));

            // ---------------------------------------------------------------- dead letters
            checkDeadLetters();
        }
    }
}
