import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;

/**
 * A producer above its client-id producer_byte_rate quota is throttled to it (issue 16): with
 * producer_byte_rate = 100 kB/s for its client id, a KafkaProducer sending 10 kB records as fast
 * as it can for 20 s gets acknowledgements at less than twice the quota and more than a tenth of
 * it (throttled, not stalled) over seconds 11-20, and its produce-throttle-time-max metric shows
 * the broker's throttle_time_ms > 0. Then the quota is removed.
 *
 * Why from second 11: Kafka's rate never takes its window as shorter than ten of its eleven
 * one-second samples, so the first ten seconds' worth (1 MB) passes at once and is paid back
 * until the window has really filled; from then on any 11 s hold about 11 s of quota.
 */
final class QuotaThrottleScenario {
    private static final double QUOTA = 100_000;
    private static final int RECORD = 10_000;
    private static final long RUN_MS = 20_000;
    private static final long MEASURE_FROM_MS = 11_000;

    private final Compat c;

    QuotaThrottleScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String clientId = "compat-java-throttled-" + c.suffix;
        String topic = c.topic("quota-throttle");
        ClientQuotaEntity entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, clientId));
        try (Admin admin = c.admin()) {
            c.createTopic(admin, topic, 1);
            Compat.get(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                    List.of(new ClientQuotaAlteration.Op("producer_byte_rate", QUOTA))))).all());
            ClientQuotaFilter filter = ClientQuotaFilter.containsOnly(
                    List.of(ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.CLIENT_ID, clientId)));
            Compat.waitFor(() -> {
                try {
                    return Map.of("producer_byte_rate", QUOTA).equals(
                            Compat.get(admin.describeClientQuotas(filter).entities()).get(entity));
                } catch (Exception e) {
                    return false;
                }
            }, "describeClientQuotas to show the quota");
            // Kafka applies the quota when its broker has the new metadata; a moment's grace.
            Thread.sleep(1000);
            Check.ok("producer_byte_rate=%.0f for client-id %s", QUOTA, clientId);

            AtomicLong measured = new AtomicLong();
            AtomicLong failed = new AtomicLong();
            long start = System.nanoTime();
            double throttleMax;
            try (KafkaProducer<byte[], byte[]> producer = c.producer(Map.of(
                    ProducerConfig.CLIENT_ID_CONFIG, clientId,
                    ProducerConfig.ACKS_CONFIG, "1",
                    ProducerConfig.BUFFER_MEMORY_CONFIG, 256 * 1024,
                    ProducerConfig.BATCH_SIZE_CONFIG, 32 * 1024))) {
                byte[] value = new byte[RECORD];
                while (elapsedMs(start) < RUN_MS) {
                    producer.send(new ProducerRecord<>(topic, 0, null, value), (md, e) -> {
                        if (e != null) {
                            failed.incrementAndGet();
                        } else if (elapsedMs(start) >= MEASURE_FROM_MS && elapsedMs(start) < RUN_MS) {
                            measured.addAndGet(RECORD);
                        }
                    });
                }
                throttleMax = metric(producer, "produce-throttle-time-max");
            }
            double seconds = (RUN_MS - MEASURE_FROM_MS) / 1000.0;
            double rate = measured.get() / seconds;
            Check.that(failed.get() == 0, "%d sends failed", failed.get());
            Check.that(rate < 2 * QUOTA, "acknowledged %.0f B/s over %.0f s: not throttled to %.0f B/s",
                    rate, seconds, QUOTA);
            Check.that(rate > QUOTA / 10, "acknowledged %.0f B/s over %.0f s: stalled, not throttled to %.0f B/s",
                    rate, seconds, QUOTA);
            Check.ok("acknowledged %.0f B/s over seconds %d-%d (quota %.0f B/s)", rate, MEASURE_FROM_MS / 1000,
                    RUN_MS / 1000, QUOTA);
            Check.that(throttleMax > 0, "produce-throttle-time-max = %s: no throttle_time_ms seen", throttleMax);
            Check.ok("produce-throttle-time-max = %.0f ms", throttleMax);

            Compat.get(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                    List.of(new ClientQuotaAlteration.Op("producer_byte_rate", null))))).all());
            Check.ok("quota removed");
        }
    }

    private static long elapsedMs(long start) {
        return (System.nanoTime() - start) / 1_000_000;
    }

    /** A producer-metrics value (NaN when the metric is absent). */
    private static double metric(KafkaProducer<byte[], byte[]> producer, String name) {
        for (Map.Entry<MetricName, ? extends Metric> m : producer.metrics().entrySet()) {
            if (m.getKey().name().equals(name) && m.getKey().group().equals("producer-metrics")) {
                Object v = m.getValue().metricValue();
                return v instanceof Double d ? d : Double.NaN;
            }
        }
        return Double.NaN;
    }
}
