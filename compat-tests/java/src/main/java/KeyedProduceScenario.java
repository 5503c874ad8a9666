import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The Java client's side of the cluster kill tests (compat-tests/python/test_cluster_pg.py):
 * an idempotent acks=all KafkaProducer (its defaults) writes record SEQ = 0, 1, ... with key
 * {@code k(SEQ % KEYS)} to partition {@code (SEQ % KEYS) % PARTITIONS} and value SEQ, as the
 * librdkafka producer there does, until the file STOPFILE exists; then it flushes and closes.
 * Every delivery report is printed ({@code ack SEQ PARTITION OFFSET} or {@code fail SEQ
 * ERROR}), then {@code sent N}; the test checks each acknowledged record is read back once,
 * at its offset, in send order. Nothing is asserted here: brokers are being killed meanwhile.
 */
final class KeyedProduceScenario {
    private static final int KEYS = 8;
    private static final long INTERVAL_MS = 5;

    private final Compat c;
    private final String topic;
    private final int partitions;
    private final Path stopFile;

    KeyedProduceScenario(Compat c, String topic, int partitions, Path stopFile) {
        this.c = c;
        this.topic = topic;
        this.partitions = partitions;
        this.stopFile = stopFile;
    }

    void run() throws Exception {
        AtomicLong failed = new AtomicLong();
        long seq = 0;
        // Long enough to outlast a broker's session and the move of its partitions.
        Map<String, Object> extra = Map.of(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 300_000,
                ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 30_000);
        try (KafkaProducer<byte[], byte[]> producer = c.producer(extra)) {
            while (!Files.exists(stopFile)) {
                final long s = seq++;
                int key = (int) (s % KEYS);
                producer.send(new ProducerRecord<>(topic, key % partitions, Compat.utf8("k" + key),
                        Compat.utf8(Long.toString(s))), (md, e) -> {
                    synchronized (System.out) {
                        if (e == null) {
                            System.out.printf("ack %d %d %d%n", s, md.partition(), md.offset());
                        } else {
                            failed.incrementAndGet();
                            System.out.printf("fail %d %s%n", s, e.toString().replace('\n', ' '));
                        }
                    }
                });
                Thread.sleep(INTERVAL_MS);
            }
            producer.flush();
        }
        synchronized (System.out) {
            System.out.printf("sent %d%n", seq);
            System.out.flush();
        }
        Check.ok("sent %d records, %d failed", seq, failed.get());
    }
}
