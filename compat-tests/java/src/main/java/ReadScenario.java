import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * Reads partition 0 of an existing topic from the beginning with a group-less KafkaConsumer
 * (CRC checks on, its default) until it has COUNT records, and prints each as
 * {@code record OFFSET KEY VALUE} for the caller to compare. Any exception the consumer raises
 * on a stored batch (InvalidRecordException, CorruptRecordException, ...) fails the run, and
 * so does a stall: fewer than COUNT records within the suite's timeout.
 */
final class ReadScenario {
    private final Compat c;
    private final String topic;
    private final int count;

    ReadScenario(Compat c, String topic, int count) {
        this.c = c;
        this.topic = topic;
        this.count = count;
    }

    void run() {
        TopicPartition p0 = new TopicPartition(topic, 0);
        int[] read = {0};
        try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(null, Map.of())) {
            consumer.assign(List.of(p0));
            consumer.seekToBeginning(List.of(p0));
            Compat.waitFor(() -> {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    System.out.printf("record %d %s %s%n", r.offset(), text(r.key()), text(r.value()));
                    read[0]++;
                }
                return read[0] >= count;
            }, count + " records of " + topic);
        }
        Check.ok("read %d records of %s from the beginning", read[0], topic);
    }

    private static String text(byte[] b) {
        return b == null ? "-" : new String(b, StandardCharsets.UTF_8);
    }
}
