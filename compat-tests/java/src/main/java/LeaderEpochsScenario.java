import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.LogTruncationException;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * Leader epochs as the Java consumer uses them (KIP-320). A new topic's leader writes at epoch
 * 0: consumed records and offsetsForTimes carry it. A position that names an epoch is
 * validated with OffsetForLeaderEpoch before the consumer fetches from it: epoch 0 holds
 * (fetching resumes there, also from a committed offset with its epoch); an epoch the log
 * never had is a truncation the consumer cannot place — LogTruncationException without a
 * reset policy, a reset to the earliest offset with auto.offset.reset=earliest. A broker
 * that does not serve OffsetForLeaderEpoch skips the validation and reads on.
 */
final class LeaderEpochsScenario {
    private final Compat c;
    /** The epoch of the leader that wrote the records. */
    private int epoch;

    LeaderEpochsScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String topic = c.topic("epochs");
        TopicPartition tp = new TopicPartition(topic, 0);
        try (Admin admin = c.admin()) {
            c.createTopic(admin, topic, 1);
        }
        try (KafkaProducer<byte[], byte[]> producer = c.producer(Map.of())) {
            for (int i = 0; i < 5; i++) {
                producer.send(new ProducerRecord<>(topic, 0, Compat.utf8("k" + i), Compat.utf8("v" + i)));
            }
            producer.flush();
        }

        try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(null, Map.of())) {
            consumer.assign(List.of(tp));
            List<ConsumerRecord<byte[], byte[]>> got = poll(consumer, 5);
            // One broker: a new topic's leader writes at epoch 0 (as Kafka). A cluster's leader
            // has an epoch of its own; one leader wrote every record.
            epoch = c.brokerCount() == 1 ? 0 : got.get(0).leaderEpoch().orElse(-1);
            Check.that(epoch >= 0, "leader epoch %d", epoch);
            for (ConsumerRecord<byte[], byte[]> r : got) {
                Check.eq("leaderEpoch of offset " + r.offset(), Optional.of(epoch), r.leaderEpoch());
            }
            OffsetAndTimestamp found = consumer.offsetsForTimes(Map.of(tp, 0L), Compat.TIMEOUT).get(tp);
            Check.eq("offsetsForTimes(0) offset", 0L, found.offset());
            Check.eq("offsetsForTimes(0) leaderEpoch", Optional.of(epoch), found.leaderEpoch());
        }
        Check.ok("records and offsetsForTimes carry the leader's epoch (%d)", epoch);

        String group = c.group("epochs");
        try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(group, Map.of())) {
            consumer.assign(List.of(tp));
            consumer.commitSync(Map.of(tp, new OffsetAndMetadata(3, Optional.of(epoch), "")));
        }
        try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(group, Map.of("auto.offset.reset", "none"))) {
            consumer.assign(List.of(tp));
            Check.eq("committed", Optional.of(epoch), consumer.committed(java.util.Set.of(tp)).get(tp).leaderEpoch());
            Check.eq("first offset after resuming at the committed (3, its epoch)", 3L, poll(consumer, 2).get(0).offset());
            consumer.seek(tp, new OffsetAndMetadata(1, Optional.of(epoch), ""));
            Check.eq("first offset after seek(1, the epoch)", 1L, poll(consumer, 4).get(0).offset());
        }
        Check.ok("a position of the leader's epoch validates: resuming from a commit and after seek");

        try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(null, Map.of("auto.offset.reset", "none"))) {
            consumer.assign(List.of(tp));
            consumer.seek(tp, new OffsetAndMetadata(2, Optional.of(epoch + 7), ""));
            Throwable thrown = null;
            long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos();
            while (thrown == null && System.nanoTime() < deadline) {
                try {
                    if (!consumer.poll(Duration.ofMillis(200)).isEmpty()) break;
                } catch (LogTruncationException e) {
                    thrown = e;
                }
            }
            Check.raised("poll after seek(2, an epoch 7 past the leader's) without a reset policy",
                    LogTruncationException.class, thrown);
        }
        try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(null, Map.of())) {
            consumer.assign(List.of(tp));
            consumer.seek(tp, new OffsetAndMetadata(2, Optional.of(epoch + 7), ""));
            Check.eq("first offset after seek(2, an unknown epoch), reset earliest", 0L, poll(consumer, 5).get(0).offset());
        }
        Check.ok("a position of an epoch the log never had: LogTruncationException, or the reset policy");
    }

    /** Polls until at least {@code n} records came (fails after the timeout). */
    private static List<ConsumerRecord<byte[], byte[]>> poll(KafkaConsumer<byte[], byte[]> consumer, int n) {
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
        long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos();
        while (got.size() < n && System.nanoTime() < deadline) {
            consumer.poll(Duration.ofMillis(200)).forEach(got::add);
        }
        Check.that(got.size() >= n, "polled %d records, wanted %d", got.size(), n);
        return got;
    }
}
