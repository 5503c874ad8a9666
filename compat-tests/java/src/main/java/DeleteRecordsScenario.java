import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DeletedRecords;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.OffsetOutOfRangeException;

/**
 * DeleteRecords through the AdminClient: 10 records, deleteRecords before offset 4 → low
 * watermark 4, beginningOffsets 4, a consumer from the beginning reads offsets 4..9; before
 * offset 11 (past the high watermark) → OffsetOutOfRangeException.
 */
final class DeleteRecordsScenario {
    private final Compat c;

    DeleteRecordsScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String topic = c.topic("delete-records");
        TopicPartition p0 = new TopicPartition(topic, 0);
        try (Admin admin = c.admin()) {
            c.createTopic(admin, topic, 1);
            try (KafkaProducer<byte[], byte[]> producer = c.producer(Map.of())) {
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>(topic, 0, Compat.utf8("k"), Compat.utf8("v" + i)));
                }
                producer.flush();
            }
            Check.ok("produced offsets 0..9");

            DeletedRecords deleted = Compat.get(
                    admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(p0));
            Check.eq("low watermark", 4L, deleted.lowWatermark());
            Check.ok("deleteRecords before 4 → low watermark 4");

            try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(null, Map.of())) {
                Check.eq("beginningOffsets", Map.of(p0, 4L), consumer.beginningOffsets(List.of(p0), Compat.TIMEOUT));
                consumer.assign(List.of(p0));
                consumer.seekToBeginning(List.of(p0));
                List<Long> offsets = new ArrayList<>();
                Compat.waitFor(() -> {
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                        offsets.add(r.offset());
                    }
                    return offsets.size() >= 6;
                }, "records 4..9");
                Check.eq("offsets read from the beginning", List.of(4L, 5L, 6L, 7L, 8L, 9L), offsets);
            }
            Check.ok("beginningOffsets 4; a consumer from the beginning reads 4..9");

            Check.raised("deleteRecords past the high watermark", OffsetOutOfRangeException.class,
                    Compat.failure(admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(11))).all()));
        }
    }
}
