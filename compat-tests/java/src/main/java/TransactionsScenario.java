import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * Transactions: a consume-transform-produce loop (read_committed group member, transactional
 * producer, sendOffsetsToTransaction) over 30 input records, one round of it aborted and redone;
 * then one more aborted transaction. read_committed readers of the output see each input
 * transformed exactly once; read_uncommitted readers also see the aborted records; the group's
 * committed offset is the end of the input.
 */
final class TransactionsScenario {
    private static final int INPUTS = 30;
    private final Compat c;

    TransactionsScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String in = c.topic("txn-in");
        String out = c.topic("txn-out");
        String group = c.group("txn");
        TopicPartition inP = new TopicPartition(in, 0);
        try (Admin admin = c.admin()) {
            c.createTopic(admin, in, 1);
            c.createTopic(admin, out, 1);
        }
        try (KafkaProducer<byte[], byte[]> plain = c.producer(Map.of())) {
            for (int i = 0; i < INPUTS; i++) plain.send(new ProducerRecord<>(in, 0, null, Compat.utf8("in-" + i)));
            plain.flush();
        }
        Check.ok("produced %d input records", INPUTS);

        List<String> aborted = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(group, Map.of("isolation.level", "read_committed",
                "max.poll.records", 7));
             KafkaProducer<byte[], byte[]> producer = c.producer(Map.of(
                     ProducerConfig.TRANSACTIONAL_ID_CONFIG, "compat-java-txn-" + c.suffix))) {
            producer.initTransactions();
            // The 4.4 producer names the offsets' topics by id (TxnOffsetCommit v6, KIP-1319)
            // when its metadata holds every one of them: ask for the input topic's.
            Check.eq("input partitions", 1, producer.partitionsFor(in).size());
            consumer.subscribe(List.of(in));
            long done = 0;
            int rounds = 0;
            long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos() * 2;
            while (done < INPUTS && System.nanoTime() < deadline) {
                ConsumerRecords<byte[], byte[]> batch = consumer.poll(Duration.ofMillis(500));
                if (batch.isEmpty()) continue;
                producer.beginTransaction();
                long next = 0;
                for (ConsumerRecord<byte[], byte[]> r : batch) {
                    String v = "out-" + new String(r.value(), java.nio.charset.StandardCharsets.UTF_8);
                    producer.send(new ProducerRecord<>(out, 0, null, Compat.utf8(v)));
                    if (rounds == 1) aborted.add(v);
                    next = r.offset() + 1;
                }
                producer.sendOffsetsToTransaction(Map.of(inP, new OffsetAndMetadata(next)), consumer.groupMetadata());
                if (rounds++ == 1) {
                    producer.flush(); // written, then aborted (unsent records would just be dropped)
                    producer.abortTransaction();
                    OffsetAndMetadata committed = consumer.committed(java.util.Set.of(inP)).get(inP);
                    consumer.seek(inP, committed == null ? 0 : committed.offset());
                    continue;
                }
                producer.commitTransaction();
                done = next;
            }
            Check.eq("inputs processed", (long) INPUTS, done);
            Check.that(!aborted.isEmpty(), "one round was aborted");
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(out, 0, null, Compat.utf8("out-aborted")));
            producer.flush();
            producer.abortTransaction();
            aborted.add("out-aborted");
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(java.util.Set.of(inP));
            Check.eq("group's committed offset", (long) INPUTS, committed.get(inP).offset());
        }
        Check.ok("consume-transform-produce in %d-record transactions, one round aborted and redone", 7);

        List<String> want = new ArrayList<>();
        for (int i = 0; i < INPUTS; i++) want.add("out-in-" + i);
        Check.eq("read_committed output", want, readAll(out, "read_committed", want.size()));
        List<String> all = readAll(out, "read_uncommitted", want.size() + aborted.size());
        Check.eq("read_uncommitted output size", want.size() + aborted.size(), all.size());
        Check.that(all.containsAll(aborted) && all.containsAll(want), "read_uncommitted sees aborted records too");
        Check.ok("read_committed sees each input once; read_uncommitted also the %d aborted records", aborted.size());
    }

    private List<String> readAll(String topic, String isolation, int want) {
        List<String> got = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(null, Map.of("isolation.level", isolation))) {
            consumer.assign(List.of(new TopicPartition(topic, 0)));
            consumer.seekToBeginning(consumer.assignment());
            long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos();
            long settle = Long.MAX_VALUE;
            while (System.nanoTime() < Math.min(deadline, settle)) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    got.add(new String(r.value(), java.nio.charset.StandardCharsets.UTF_8));
                }
                if (got.size() >= want && settle == Long.MAX_VALUE) settle = System.nanoTime() + 1_000_000_000L;
            }
        }
        return got;
    }
}
