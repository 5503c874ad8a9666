import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;

/**
 * KIP-848's consumer group protocol (group.protocol=consumer, the broker's uniform assignor)
 * on a 6-partition topic, driven from one thread that polls every member in turn:
 * <ol>
 * <li>three consumers join: each gets 2 partitions, together all 6; 5 records per partition
 * are read exactly once across the members, each by its partition's owner; they commit;</li>
 * <li>describeConsumerGroups: type CONSUMER, Stable, 3 members whose assignments are the
 * partitions they own;</li>
 * <li>one member closes: the other two own all 6 (3 each) and read the 5 new records of every
 * partition exactly once, from the committed offsets (no record before them again);</li>
 * <li>they commit and close; a new member resumes every partition at the committed offset.</li>
 * </ol>
 */
final class ConsumerProtocolScenario {
    private static final int PARTITIONS = 6;
    private final Compat c;
    private final String topic;
    private final String groupId;

    ConsumerProtocolScenario(Compat c) {
        this.c = c;
        this.topic = c.topic("kip848");
        this.groupId = c.group("kip848");
    }

    final class Member {
        final String name;
        final KafkaConsumer<byte[], byte[]> consumer;
        final List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();

        Member(String name) {
            this.name = name;
            Map<String, Object> conf = new HashMap<>();
            conf.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
            conf.put(ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, "uniform");
            conf.put(ConsumerConfig.CLIENT_ID_CONFIG, "gregor-compat-java-kip848-" + name);
            this.consumer = c.consumer(groupId, conf);
            consumer.subscribe(List.of(topic));
        }

        void poll() {
            consumer.poll(Duration.ofMillis(50)).forEach(got::add);
        }

        Set<Integer> partitions() {
            return consumer.assignment().stream().map(TopicPartition::partition).collect(Collectors.toCollection(TreeSet::new));
        }

        @Override
        public String toString() {
            return name + "(" + partitions() + ", read " + got.size() + ")";
        }
    }

    void run() throws Exception {
        try (var admin = c.admin(); KafkaProducer<byte[], byte[]> producer = c.producer(Map.of())) {
            c.createTopic(admin, topic, PARTITIONS);
            // ---------------------------------------------------------------- three join
            List<Member> members = new ArrayList<>(List.of(new Member("a"), new Member("b"), new Member("c")));
            awaitBalanced(members, 2, "3 members");
            Check.ok("3 consumers joined %s: %s", groupId, members);

            produce(producer, 0, 5);
            pollUntil(members, () -> total(members) >= PARTITIONS * 5, "30 records");
            pollFor(members, 300);
            checkExactlyOnce(members, 0, 5);
            for (Member m : members) {
                for (ConsumerRecord<byte[], byte[]> r : m.got) {
                    Check.that(m.partitions().contains(r.partition()), "%s read %d@%d, not its partition", m.name,
                            r.partition(), r.offset());
                }
            }
            Check.ok("30 records read exactly once across the members, each by its partition's owner");
            for (Member m : members) m.consumer.commitSync(Compat.TIMEOUT);
            Map<TopicPartition, OffsetAndMetadata> committed = members.get(0).consumer.committed(all(), Compat.TIMEOUT);
            for (TopicPartition tp : all()) Check.eq("committed " + tp, 5L, committed.get(tp).offset());
            Check.ok("every member committed its positions: 5 on every partition");

            // ---------------------------------------------------------------- describe
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(groupId)).all()
                    .get(Compat.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).get(groupId);
            Check.eq("group type", GroupType.CONSUMER, d.type());
            Check.eq("group state", GroupState.STABLE, d.groupState());
            Check.eq("assignor", "uniform", d.partitionAssignor());
            Check.eq("members described", 3, d.members().size());
            Map<String, Set<Integer>> described = new TreeMap<>();
            for (MemberDescription m : d.members()) {
                described.put(m.clientId(), m.assignment().topicPartitions().stream()
                        .map(TopicPartition::partition).collect(Collectors.toCollection(TreeSet::new)));
            }
            Map<String, Set<Integer>> owned = new TreeMap<>();
            for (Member m : members) owned.put("gregor-compat-java-kip848-" + m.name, m.partitions());
            Check.eq("described assignments", owned, described);
            Check.ok("describeConsumerGroups: CONSUMER, Stable, uniform, members and assignments %s", described);

            // ---------------------------------------------------------------- one closes
            Member gone = members.remove(0);
            gone.consumer.close();
            for (Member m : members) m.got.clear();
            produce(producer, 5, 5);
            awaitBalanced(members, 3, "2 members after " + gone.name + " closed");
            pollUntil(members, () -> total(members) >= PARTITIONS * 5, "30 new records");
            pollFor(members, 300);
            checkExactlyOnce(members, 5, 10);
            Check.ok("%s closed: %s own all 6 and read offsets 5..9 of each exactly once", gone.name, members);

            // ---------------------------------------------------------------- commit, resume
            for (Member m : members) m.consumer.commitSync(Compat.TIMEOUT);
            for (Member m : members) m.consumer.close();
            produce(producer, 10, 1);
            Member late = new Member("d");
            try {
                List<Member> one = List.of(late);
                awaitBalanced(one, PARTITIONS, "the new member alone");
                pollUntil(one, () -> late.got.size() >= PARTITIONS, "6 new records");
                pollFor(one, 300);
                checkExactlyOnce(one, 10, 11);
                Check.ok("a new member resumed every partition at the committed 10");
            } finally {
                late.consumer.close();
            }
        }
    }

    private Set<TopicPartition> all() {
        Set<TopicPartition> out = new HashSet<>();
        for (int p = 0; p < PARTITIONS; p++) out.add(new TopicPartition(topic, p));
        return out;
    }

    private static int total(List<Member> members) {
        return members.stream().mapToInt(m -> m.got.size()).sum();
    }

    /** Every partition's offsets from..to-1 read once across the members, nothing else. */
    private void checkExactlyOnce(List<Member> members, long from, long to) {
        Map<Integer, List<Long>> read = new TreeMap<>();
        for (Member m : members) {
            for (ConsumerRecord<byte[], byte[]> r : m.got) {
                read.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r.offset());
                Check.eq("value at " + r.partition() + "@" + r.offset(), r.partition() + "/" + r.offset(),
                        new String(r.value(), java.nio.charset.StandardCharsets.UTF_8));
            }
        }
        Map<Integer, List<Long>> want = new TreeMap<>();
        for (int p = 0; p < PARTITIONS; p++) {
            List<Long> offsets = new ArrayList<>();
            for (long o = from; o < to; o++) offsets.add(o);
            want.put(p, offsets);
        }
        for (List<Long> l : read.values()) l.sort(null);
        Check.eq("offsets read by partition", want, read);
    }

    /** Polls until every member owns `each` partitions and together all of them, disjoint. */
    private void awaitBalanced(List<Member> members, int each, String what) {
        long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos();
        while (true) {
            for (Member m : members) m.poll();
            List<Integer> owned = members.stream().flatMap(m -> m.partitions().stream()).sorted().toList();
            boolean sizes = members.stream().allMatch(m -> m.partitions().size() == each);
            if (sizes && owned.equals(List.of(0, 1, 2, 3, 4, 5))) return;
            Check.that(System.nanoTime() < deadline, "timed out after %d s waiting for %s with %d partitions each: %s",
                    Compat.TIMEOUT.toSeconds(), what, each, members);
        }
    }

    private void pollUntil(List<Member> members, java.util.function.BooleanSupplier cond, String what) {
        long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos();
        while (!cond.getAsBoolean()) {
            Check.that(System.nanoTime() < deadline, "timed out after %d s waiting for %s: %s",
                    Compat.TIMEOUT.toSeconds(), what, members);
            for (Member m : members) m.poll();
        }
    }

    private void pollFor(List<Member> members, long millis) {
        long end = System.nanoTime() + millis * 1_000_000;
        while (System.nanoTime() < end) for (Member m : members) m.poll();
    }

    private void produce(KafkaProducer<byte[], byte[]> producer, int from, int count) throws Exception {
        List<java.util.concurrent.Future<?>> acks = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            for (int i = from; i < from + count; i++) {
                acks.add(producer.send(new ProducerRecord<>(topic, p, Compat.utf8("key-" + i), Compat.utf8(p + "/" + i))));
            }
        }
        producer.flush();
        for (var f : acks) f.get(Compat.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }
}
