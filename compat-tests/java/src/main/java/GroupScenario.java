import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * A classic consumer group (Range assignor, eager) on a 2-partition topic, driven from one
 * thread that polls every member in turn:
 * <ol>
 * <li>three consumers join: exactly two get one partition each, the third none; records
 * produced then are read by their partition's owner only, offsets 0..9;</li>
 * <li>the owners commit p0=7 and p1=3; the owner of p0 leaves: the two left share both
 * partitions in a new generation and resume exactly at 7 and 3; they commit their positions
 * (10, 10);</li>
 * <li>both leave, 4 more records go to each partition, and a new consumer in the group reads
 * exactly offsets 10..13 of each.</li>
 * </ol>
 */
final class GroupScenario {
    private final Compat c;
    private final String topic;
    private final String groupId;
    private final TopicPartition p0;
    private final TopicPartition p1;

    GroupScenario(Compat c) {
        this.c = c;
        this.topic = c.topic("group");
        this.groupId = c.group("group");
        this.p0 = new TopicPartition(topic, 0);
        this.p1 = new TopicPartition(topic, 1);
    }

    final class Member {
        final String name;
        final KafkaConsumer<byte[], byte[]> consumer;
        final List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();

        Member(String name) {
            this.name = name;
            Map<String, Object> conf = new HashMap<>();
            conf.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
            conf.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, RangeAssignor.class.getName());
            conf.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 6000);
            conf.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 1000);
            conf.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, 20000); // also the rebalance timeout
            conf.put(ConsumerConfig.CLIENT_ID_CONFIG, "gregor-compat-java-" + name);
            this.consumer = c.consumer(groupId, conf);
            consumer.subscribe(List.of(topic));
        }

        void poll() {
            consumer.poll(Duration.ofMillis(50)).forEach(got::add);
        }

        Set<Integer> partitions() {
            return consumer.assignment().stream().map(TopicPartition::partition).collect(Collectors.toCollection(TreeSet::new));
        }

        int generation() {
            return consumer.groupMetadata().generationId();
        }

        /** partition → offsets read, in order. */
        Map<Integer, List<Long>> offsets() {
            Map<Integer, List<Long>> m = new TreeMap<>();
            for (ConsumerRecord<byte[], byte[]> r : got) m.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r.offset());
            return m;
        }

        @Override
        public String toString() {
            return name + "(gen " + generation() + ", " + partitions() + ", read " + offsets() + ")";
        }
    }

    void run() throws Exception {
        try (var admin = c.admin()) {
            c.createTopic(admin, topic, 2);
        }
        try (KafkaProducer<byte[], byte[]> producer = c.producer(Map.of())) {
            // ---------------------------------------------------------------- three join
            List<Member> members = new ArrayList<>(List.of(new Member("a"), new Member("b"), new Member("c")));
            int gen1 = awaitStable(members, 0, "3 members");
            List<Member> active = members.stream().filter(m -> !m.partitions().isEmpty()).toList();
            List<Member> idle = members.stream().filter(m -> m.partitions().isEmpty()).toList();
            Check.eq("members with partitions when 3 joined", 2, active.size());
            Check.eq("idle members", 1, idle.size());
            for (Member m : active) Check.eq(m.name + "'s partition count", 1, m.partitions().size());
            Member owner0 = active.stream().filter(m -> m.partitions().contains(0)).findFirst().orElseThrow();
            Member owner1 = active.stream().filter(m -> m.partitions().contains(1)).findFirst().orElseThrow();
            Member spare = idle.get(0);
            String ids = members.stream().map(m -> m.consumer.groupMetadata().memberId()).distinct().count() + "";
            Check.eq("distinct member ids", "3", ids);
            Check.ok("3 consumers joined %s (generation %d): %s has p0, %s has p1, %s has none", groupId, gen1,
                    owner0.name, owner1.name, spare.name);

            produce(producer, 0, 10);
            pollUntil(members, () -> owner0.got.size() >= 10 && owner1.got.size() >= 10, "10 records each on p0, p1");
            pollFor(members, 200);
            Check.eq(owner0.name + " read (p0)", Map.of(0, range(0, 10)), owner0.offsets());
            Check.eq(owner1.name + " read (p1)", Map.of(1, range(0, 10)), owner1.offsets());
            Check.eq(spare.name + " (idle) read", Map.of(), spare.offsets());
            checkValues(owner0.got);
            checkValues(owner1.got);
            Check.ok("records produced after the join: %s read p0 offsets 0..9, %s p1 offsets 0..9, %s nothing",
                    owner0.name, owner1.name, spare.name);

            owner0.consumer.commitSync(Map.of(p0, new OffsetAndMetadata(7, "from " + owner0.name)), Compat.TIMEOUT);
            owner1.consumer.commitSync(Map.of(p1, new OffsetAndMetadata(3)), Compat.TIMEOUT);
            Map<TopicPartition, OffsetAndMetadata> committed = spare.consumer.committed(Set.of(p0, p1), Compat.TIMEOUT);
            Check.eq("committed p0 (seen by the idle member)", 7L, committed.get(p0).offset());
            Check.eq("committed p0 metadata", "from " + owner0.name, committed.get(p0).metadata());
            Check.eq("committed p1", 3L, committed.get(p1).offset());
            Check.ok("committed p0=7, p1=3 (with metadata); committed() agrees");

            // ---------------------------------------------------------------- one leaves
            owner0.consumer.close();
            members.remove(owner0);
            for (Member m : members) m.got.clear();
            int gen2 = awaitStable(members, gen1, "2 members after " + owner0.name + " left");
            for (Member m : members) Check.eq(m.name + "'s partition count after the rebalance", 1, m.partitions().size());
            Member newOwner0 = members.stream().filter(m -> m.partitions().contains(0)).findFirst().orElseThrow();
            Member newOwner1 = members.stream().filter(m -> m.partitions().contains(1)).findFirst().orElseThrow();
            Check.ok("%s left: generation %d, %s has p0, %s has p1 (%s got a partition)", owner0.name, gen2,
                    newOwner0.name, newOwner1.name, spare.name);

            pollUntil(members, () -> newOwner0.got.size() >= 3 && newOwner1.got.size() >= 7,
                    "p0 from 7 and p1 from 3");
            pollFor(members, 200);
            Check.eq(newOwner0.name + " read after the rebalance", Map.of(0, range(7, 10)), newOwner0.offsets());
            Check.eq(newOwner1.name + " read after the rebalance", Map.of(1, range(3, 10)), newOwner1.offsets());
            Check.ok("after the rebalance %s resumed p0 at the committed 7, %s p1 at the committed 3", newOwner0.name,
                    newOwner1.name);

            for (Member m : members) m.consumer.commitSync(Compat.TIMEOUT);
            committed = newOwner0.consumer.committed(Set.of(p0, p1), Compat.TIMEOUT);
            Check.eq("committed p0 after commitSync()", 10L, committed.get(p0).offset());
            Check.eq("committed p1 after commitSync()", 10L, committed.get(p1).offset());
            Check.ok("commitSync() of the positions: committed p0=10, p1=10");

            // ---------------------------------------------------------------- a new consumer resumes
            for (Member m : members) m.consumer.close();
            produce(producer, 10, 4);
            Member late = new Member("d");
            try {
                List<Member> one = List.of(late);
                awaitStable(one, 0, "the new member alone");
                Check.eq("the new member's partitions", Set.of(0, 1), late.partitions());
                pollUntil(one, () -> late.got.size() >= 8, "8 new records");
                pollFor(one, 300);
                Check.eq("the new member read", Map.of(0, range(10, 14), 1, range(10, 14)), late.offsets());
                checkValues(late.got);
                Check.ok("a new consumer in the group got p0 and p1 and read exactly offsets 10..13 of each");
            } finally {
                late.consumer.close();
            }
        }
    }

    /** Polls every member until all are in one generation above `after` and own p0, p1 between them. */
    private int awaitStable(List<Member> members, int after, String what) {
        long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos();
        while (true) {
            for (Member m : members) m.poll();
            Set<Integer> gens = members.stream().map(Member::generation).collect(Collectors.toSet());
            if (gens.size() == 1) {
                int gen = gens.iterator().next();
                List<Integer> owned = members.stream().flatMap(m -> m.partitions().stream()).sorted().toList();
                if (gen > after && owned.equals(List.of(0, 1))) return gen;
            }
            Check.that(System.nanoTime() < deadline, "timed out after %d s waiting for a stable group of %s: %s",
                    Compat.TIMEOUT.toSeconds(), what, members);
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

    /** Keeps polling for a while, so that records beyond the expected would show up. */
    private void pollFor(List<Member> members, long millis) {
        long end = System.nanoTime() + millis * 1_000_000;
        while (System.nanoTime() < end) for (Member m : members) m.poll();
    }

    private void produce(KafkaProducer<byte[], byte[]> producer, int from, int count) throws Exception {
        List<java.util.concurrent.Future<?>> acks = new ArrayList<>();
        for (int p = 0; p < 2; p++) {
            for (int i = from; i < from + count; i++) {
                acks.add(producer.send(new ProducerRecord<>(topic, p, Compat.utf8("key-" + i), Compat.utf8(p + "/" + i))));
            }
        }
        producer.flush();
        for (var f : acks) f.get(Compat.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static void checkValues(List<ConsumerRecord<byte[], byte[]>> got) {
        for (ConsumerRecord<byte[], byte[]> r : got) {
            Check.eq("value at " + r.partition() + "@" + r.offset(), r.partition() + "/" + r.offset(),
                    new String(r.value(), java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    private static List<Long> range(long from, long to) {
        List<Long> out = new ArrayList<>();
        for (long i = from; i < to; i++) out.add(i);
        return out;
    }
}
