import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;

/**
 * The online migration of a live group between the classic and the consumer protocol (KIP-848;
 * Kafka 4's default group.consumer.migration.policy, bidirectional), driven from one thread
 * that polls every member in turn, as a rolling upgrade of an application does it:
 * <ol>
 * <li>two classic consumers (group.protocol=classic) share a 4-partition topic and read its
 * records;</li>
 * <li>a consumer with group.protocol=consumer joins the same group: describeConsumerGroups
 * shows type CONSUMER with 3 members, two of them not upgraded (classic) and one upgraded;
 * the three own disjoint partitions covering all 4, the new one some;</li>
 * <li>new records are read by the three, every one of them;</li>
 * <li>the consumer-protocol member leaves: the group is CLASSIC again with the two classic
 * members, who own all 4 partitions and read the next records, every one;</li>
 * <li>the group committed the end of every partition.</li>
 * </ol>
 */
final class GroupMigrationScenario {
    private static final int PARTITIONS = 4;
    private static final int PER_ROUND = 40;
    private final Compat c;
    private final String topic;
    private final String groupId;
    private final Set<String> seen = new HashSet<>();

    GroupMigrationScenario(Compat c) {
        this.c = c;
        this.topic = c.topic("migrate");
        this.groupId = c.group("migrate");
    }

    final class Member {
        final String name;
        final KafkaConsumer<byte[], byte[]> consumer;

        Member(String name, String protocol) {
            this.name = name;
            Map<String, Object> conf = new HashMap<>();
            conf.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
            conf.put(ConsumerConfig.CLIENT_ID_CONFIG, "gregor-compat-java-migrate-" + name);
            if (protocol.equals("classic")) {
                conf.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500);
                conf.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10_000);
            }
            consumer = c.consumer(groupId, conf);
            consumer.subscribe(List.of(topic));
        }

        Set<TopicPartition> owned() {
            return consumer.assignment();
        }

        /** One poll; what it returns is recorded and committed at once. */
        void poll() {
            var records = consumer.poll(Duration.ofMillis(100));
            for (ConsumerRecord<byte[], byte[]> r : records) {
                seen.add(new String(r.value(), java.nio.charset.StandardCharsets.UTF_8));
            }
            if (!records.isEmpty()) {
                try {
                    consumer.commitSync();
                } catch (KafkaException e) {
                    // A rebalance under way: the next poll's commit covers these records.
                    System.out.println("  (" + name + ": commit during a rebalance: " + e.getClass().getSimpleName() + ")");
                }
            }
        }
    }

    void run() throws Exception {
        try (Admin admin = c.admin()) {
            c.createTopic(admin, topic, PARTITIONS);
            produce(0);
            Member a = new Member("a", "classic");
            Member b = new Member("b", "classic");
            List<Member> classic = List.of(a, b);
            readAll(classic, 0, "the classic members");
            Check.eq("group type with classic members only", GroupType.CLASSIC, describe(admin).type());
            Check.ok("two classic consumers read the first %d records", PER_ROUND);

            Member x = new Member("x", "consumer");
            List<Member> all = List.of(a, b, x);
            Compat.waitFor(() -> {
                all.forEach(Member::poll);
                return covered(all) && !x.owned().isEmpty() && upgradedCount(admin) == 1;
            }, "the upgraded group's three members owning disjoint partitions, x some", () -> owners(all));
            ConsumerGroupDescription d = describe(admin);
            Check.eq("group type after a consumer-protocol member joined", GroupType.CONSUMER, d.type());
            Check.eq("members", 3, d.members().size());
            Check.ok("a consumer-protocol member joined the classic group: type CONSUMER, 3 members (1 upgraded), %s",
                    owners(all));

            produce(1);
            readAll(all, 1, "the migrated group's members");
            Check.ok("the three members read the next %d records", PER_ROUND);

            x.consumer.close();
            Compat.waitFor(() -> {
                classic.forEach(Member::poll);
                ConsumerGroupDescription now = describe(admin);
                return covered(classic) && now.type() == GroupType.CLASSIC && now.members().size() == 2;
            }, "a classic group of the two classic members owning all partitions", () -> owners(classic));
            Check.ok("the consumer-protocol member left: type CLASSIC, the two classic members own %s", owners(classic));

            produce(2);
            readAll(classic, 2, "the downgraded group's members");
            Check.ok("the two classic members read the last %d records", PER_ROUND);
            for (Member m : classic) m.consumer.close();
            checkCommitted(admin);
        }
    }

    private void produce(int round) {
        try (KafkaProducer<byte[], byte[]> p = c.producer(Map.of())) {
            for (int i = 0; i < PER_ROUND; i++) {
                String v = "r" + round + "-" + i;
                p.send(new ProducerRecord<>(topic, i % PARTITIONS, null, Compat.utf8(v)));
            }
            p.flush();
        }
    }

    /** Polls the members until every record of rounds 0..round has been read. */
    private void readAll(List<Member> members, int round, String who) {
        Set<String> want = new TreeSet<>();
        for (int r = 0; r <= round; r++) {
            for (int i = 0; i < PER_ROUND; i++) want.add("r" + r + "-" + i);
        }
        Compat.waitFor(() -> {
            members.forEach(Member::poll);
            return seen.containsAll(want);
        }, "every record read by " + who, () -> {
            Set<String> missing = new TreeSet<>(want);
            missing.removeAll(seen);
            return "missing " + missing + "; " + owners(members);
        });
    }

    /** The members own disjoint partitions that together are the topic's. */
    private static boolean covered(List<Member> members) {
        Set<TopicPartition> union = new HashSet<>();
        int total = 0;
        for (Member m : members) {
            union.addAll(m.owned());
            total += m.owned().size();
        }
        return union.size() == PARTITIONS && total == PARTITIONS;
    }

    private static String owners(List<Member> members) {
        StringBuilder sb = new StringBuilder();
        for (Member m : members) {
            List<Integer> ps = new ArrayList<>();
            m.owned().forEach(tp -> ps.add(tp.partition()));
            ps.sort(null);
            sb.append(m.name).append('=').append(ps).append(' ');
        }
        return sb.toString().trim();
    }

    private ConsumerGroupDescription describe(Admin admin) {
        try {
            return Compat.get(admin.describeConsumerGroups(List.of(groupId)).all()).get(groupId);
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    /** Members described as upgraded (on the consumer protocol); -1 unless type CONSUMER. */
    private int upgradedCount(Admin admin) {
        ConsumerGroupDescription d = describe(admin);
        if (d.type() != GroupType.CONSUMER) return -1;
        int upgraded = 0;
        for (MemberDescription m : d.members()) {
            if (m.upgraded().orElse(false)) upgraded++;
        }
        return d.members().size() == 3 ? upgraded : -1;
    }

    private void checkCommitted(Admin admin) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> committed =
                Compat.get(admin.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata());
        for (int p = 0; p < PARTITIONS; p++) {
            TopicPartition tp = new TopicPartition(topic, p);
            long end = Compat.get(admin.listOffsets(Map.of(tp, OffsetSpec.latest())).all()).get(tp).offset();
            Check.that(committed.get(tp) != null, "no committed offset for %s", tp);
            Check.eq("committed offset of " + tp, end, committed.get(tp).offset());
        }
        Check.ok("the group committed the end of all %d partitions across the migration", PARTITIONS);
    }
}
