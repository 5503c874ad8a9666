import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * ListOffsets: partition 0 gets records with timestamps T, T+1s, …, T+9s in two batches, then
 * one out of order at T+2.5s (offset 10, a third batch); partition 1 stays empty. KafkaConsumer
 * beginningOffsets / endOffsets / offsetsForTimes and AdminClient listOffsets (earliest,
 * latest, forTimestamp, maxTimestamp, earliestLocal, latestTiered, and earliestPendingUpload,
 * which needs ListOffsets v11) must answer exactly.
 */
final class ListOffsetsScenario {
    private final Compat c;

    ListOffsetsScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String topic = c.topic("offsets");
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        long t = System.currentTimeMillis() / 1000 * 1000 - 3_600_000;
        try (Admin admin = c.admin()) {
            c.createTopic(admin, topic, 2);
            try (KafkaProducer<byte[], byte[]> producer = c.producer(Map.of())) {
                List<Future<RecordMetadata>> acks = new ArrayList<>();
                for (int i = 0; i < 11; i++) {
                    long ts = i < 10 ? t + i * 1000L : t + 2500;
                    acks.add(producer.send(new ProducerRecord<>(topic, 0, ts, Compat.utf8("k" + i),
                            Compat.utf8("v" + i))));
                    if (i == 4 || i == 9) producer.flush(); // batches: offsets 0-4, 5-9, 10
                }
                producer.flush();
                for (int i = 0; i < acks.size(); i++) {
                    RecordMetadata m = acks.get(i).get(Compat.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                    Check.eq("offset of record " + i, (long) i, m.offset());
                }
            }
            Check.ok("produced offsets 0..9 at T+0s..T+9s and offset 10 at T+2.5s to partition 0 (T=%d)", t);

            try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(null, Map.of())) {
                List<TopicPartition> tps = List.of(p0, p1);
                Check.eq("beginningOffsets", Map.of(p0, 0L, p1, 0L), consumer.beginningOffsets(tps, Compat.TIMEOUT));
                Check.eq("endOffsets", Map.of(p0, 11L, p1, 0L), consumer.endOffsets(tps, Compat.TIMEOUT));
                Check.ok("KafkaConsumer beginningOffsets {0: 0, 1: 0}, endOffsets {0: 11, 1: 0}");

                long[][] cases = { // query, expected offset (-1 = none), expected timestamp
                        {t - 5000, 0, t},
                        {t, 0, t},
                        {t + 3000, 3, t + 3000},
                        {t + 2500, 3, t + 3000}, // earliest offset with timestamp >= query, not offset 10
                        {t + 3500, 4, t + 4000},
                        {t + 5000, 5, t + 5000}, // first record of the second batch
                        {t + 9000, 9, t + 9000},
                        {t + 9001, -1, -1},
                };
                for (long[] k : cases) {
                    Map<TopicPartition, Long> q = new HashMap<>();
                    q.put(p0, k[0]);
                    q.put(p1, k[0]);
                    Map<TopicPartition, OffsetAndTimestamp> r = consumer.offsetsForTimes(q, Compat.TIMEOUT);
                    String what = "offsetsForTimes(T" + String.format("%+d", k[0] - t) + ")";
                    OffsetAndTimestamp a = r.get(p0);
                    if (k[1] < 0) {
                        Check.eq(what + " on partition 0", null, a);
                    } else {
                        Check.that(a != null, "%s on partition 0: null, expected offset %d", what, k[1]);
                        Check.eq(what + " offset on partition 0", k[1], a.offset());
                        Check.eq(what + " timestamp on partition 0", k[2], a.timestamp());
                    }
                    Check.eq(what + " on the empty partition 1", null, r.get(p1));
                }
                Check.ok("KafkaConsumer offsetsForTimes: before/at/between/across batches/out-of-order/past the "
                        + "end, and the empty partition, all exact");
            }

            Map<TopicPartition, ListOffsetsResultInfo> earliest = list(admin, OffsetSpec.earliest(), p0, p1);
            Check.eq("Admin listOffsets earliest p0", 0L, earliest.get(p0).offset());
            Check.eq("Admin listOffsets earliest p1", 0L, earliest.get(p1).offset());
            Map<TopicPartition, ListOffsetsResultInfo> latest = list(admin, OffsetSpec.latest(), p0, p1);
            Check.eq("Admin listOffsets latest p0", 11L, latest.get(p0).offset());
            Check.eq("Admin listOffsets latest p1", 0L, latest.get(p1).offset());
            Map<TopicPartition, ListOffsetsResultInfo> byTime = list(admin, OffsetSpec.forTimestamp(t + 3500), p0, p1);
            Check.eq("Admin listOffsets forTimestamp(T+3500) p0 offset", 4L, byTime.get(p0).offset());
            Check.eq("Admin listOffsets forTimestamp(T+3500) p0 timestamp", t + 4000, byTime.get(p0).timestamp());
            Check.eq("Admin listOffsets forTimestamp(T+3500) p1 offset", -1L, byTime.get(p1).offset());
            Map<TopicPartition, ListOffsetsResultInfo> past = list(admin, OffsetSpec.forTimestamp(t + 60_000), p0);
            Check.eq("Admin listOffsets forTimestamp(T+60s) p0 offset", -1L, past.get(p0).offset());
            Check.ok("AdminClient listOffsets earliest {0, 0}, latest {11, 0}, forTimestamp(T+3.5s) = 4 @ T+4s, "
                    + "none past the end or on the empty partition");

            Map<TopicPartition, ListOffsetsResultInfo> max = list(admin, OffsetSpec.maxTimestamp(), p0);
            Check.eq("Admin listOffsets maxTimestamp p0 offset", 9L, max.get(p0).offset());
            Check.eq("Admin listOffsets maxTimestamp p0 timestamp", t + 9000, max.get(p0).timestamp());
            Check.ok("AdminClient listOffsets maxTimestamp = offset 9 @ T+9s");

            // A new topic's leader is at epoch 0 on one broker; in a cluster each partition's
            // leader has an epoch of its own, the same for every offset it found.
            Optional<Integer> e0 = c.brokerCount() == 1 ? Optional.of(0) : earliest.get(p0).leaderEpoch();
            Optional<Integer> e1 = c.brokerCount() == 1 ? Optional.of(0) : earliest.get(p1).leaderEpoch();
            Check.that(e0.isPresent() && e0.get() >= 0 && e1.isPresent() && e1.get() >= 0, "epochs %s, %s", e0, e1);
            for (var r : List.of(earliest.get(p0), latest.get(p0), byTime.get(p0), max.get(p0))) {
                Check.eq("leader epoch of a found offset of partition 0 " + r, e0, r.leaderEpoch());
            }
            Check.eq("leader epoch of the empty partition 1's latest offset", e1, latest.get(p1).leaderEpoch());
            Check.eq("leader epoch when no offset matches the timestamp", Optional.empty(), past.get(p0).leaderEpoch());
            Check.ok("AdminClient listOffsets: the leader's epoch (one broker: 0) with every offset found, none when nothing matched");

            Map<TopicPartition, ListOffsetsResultInfo> local = list(admin, OffsetSpec.earliestLocal(), p0, p1);
            Check.eq("Admin listOffsets earliestLocal", List.of(0L, 0L), List.of(local.get(p0).offset(), local.get(p1).offset()));
            Map<TopicPartition, ListOffsetsResultInfo> tiered = list(admin, OffsetSpec.latestTiered(), p0, p1);
            Check.eq("Admin listOffsets latestTiered", List.of(-1L, -1L), List.of(tiered.get(p0).offset(), tiered.get(p1).offset()));
            Check.ok("AdminClient listOffsets earliestLocal {0, 0}, latestTiered {-1, -1} (no tiered storage)");

            // KIP-1023 (ListOffsets v11): with no remote storage nothing waits for upload.
            Map<TopicPartition, ListOffsetsResultInfo> pending = list(admin, OffsetSpec.earliestPendingUpload(), p0, p1);
            Check.eq("Admin listOffsets earliestPendingUpload",
                    List.of(-1L, -1L, -1L, Optional.empty()),
                    List.of(pending.get(p0).offset(), pending.get(p1).offset(), pending.get(p0).timestamp(),
                            pending.get(p0).leaderEpoch()));
            Check.ok("AdminClient listOffsets earliestPendingUpload (v11) {-1, -1}, no timestamp, no epoch");
        }
    }

    private static Map<TopicPartition, ListOffsetsResultInfo> list(Admin admin, OffsetSpec spec, TopicPartition... tps)
            throws Exception {
        Map<TopicPartition, OffsetSpec> q = new HashMap<>();
        for (TopicPartition tp : tps) q.put(tp, spec);
        return Compat.get(admin.listOffsets(q).all());
    }
}
