import java.util.Map;
import java.util.concurrent.Future;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * Writes COUNT records to partition 0 of an existing topic with the Java client's KafkaProducer
 * (its defaults: idempotent, acks=all): record N has key {@code jkN}, value {@code jvN} and a
 * header {@code h} = {@code N}. Prints {@code ack OFFSET} for each, in send order, for the caller
 * to read back through another path (the HTTP gateway's consumer instances).
 */
final class WriteScenario {
    private final Compat c;
    private final String topic;
    private final int count;

    WriteScenario(Compat c, String topic, int count) {
        this.c = c;
        this.topic = topic;
        this.count = count;
    }

    void run() throws Exception {
        Future<?>[] sent = new Future<?>[count];
        try (KafkaProducer<byte[], byte[]> producer = c.producer(Map.of())) {
            for (int i = 0; i < count; i++) {
                ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(topic, 0,
                        Compat.utf8("jk" + i), Compat.utf8("jv" + i));
                record.headers().add("h", Compat.utf8(Integer.toString(i)));
                sent[i] = producer.send(record);
            }
            producer.flush();
            for (Future<?> f : sent) {
                System.out.printf("ack %d%n", ((RecordMetadata) f.get()).offset());
            }
        }
        Check.ok("wrote %d records to %s", count, topic);
    }
}
