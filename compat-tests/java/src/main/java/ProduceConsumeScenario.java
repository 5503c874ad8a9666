import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.utils.Utils;

/**
 * KafkaProducer (its defaults: idempotent, acks=all) with one compression codec writes 60
 * records to a 2-partition topic: keyed and key-less, tombstones, explicit partitions and
 * timestamps, headers (none, repeated keys, empty and null values, binary). A group-less
 * KafkaConsumer reads them back: key, value, headers and timestamps identical, offsets
 * contiguous from 0 per partition in send order, a key always on murmur2(key) % 2.
 */
final class ProduceConsumeScenario {
    static final int RECORDS = 60;
    static final int PARTITIONS = 2;

    private final Compat c;
    private final String codec;

    ProduceConsumeScenario(Compat c, String codec) {
        this.c = c;
        this.codec = codec;
    }

    record Sent(int index, Integer partition, byte[] key, byte[] value, List<Header> headers, Long timestamp) {
    }

    static List<Sent> records(long baseTs) {
        List<Sent> out = new ArrayList<>();
        for (int i = 0; i < RECORDS; i++) {
            Integer partition = null;
            byte[] key;
            if (i % 11 == 3) {
                partition = i % PARTITIONS;
                key = Compat.utf8("explicit-" + i);
            } else if (i % 10 == 9) {
                key = null;
            } else {
                key = Compat.utf8("order-" + (i % 7));
            }
            byte[] value;
            if (i % 13 == 5) {
                value = null; // tombstone
            } else if (i % 20 == 0) {
                value = Compat.utf8(("big record " + i + " ").repeat(300)); // compresses well
            } else {
                value = Compat.utf8("value " + i + " ünïcødé " + "z".repeat(i % 40));
            }
            List<Header> headers = new ArrayList<>();
            switch (i % 4) {
                case 1 -> {
                    headers.add(new RecordHeader("source", Compat.utf8("java")));
                    headers.add(new RecordHeader("i", Compat.utf8(Integer.toString(i))));
                }
                case 2 -> {
                    headers.add(new RecordHeader("dup", Compat.utf8("a")));
                    headers.add(new RecordHeader("dup", Compat.utf8("b")));
                    headers.add(new RecordHeader("empty", new byte[0]));
                }
                case 3 -> {
                    headers.add(new RecordHeader("bin", new byte[] {0, 1, 2, (byte) 0xff, (byte) 0x80}));
                    headers.add(new RecordHeader("null", null));
                }
                default -> {
                }
            }
            Long ts = i % 5 == 0 ? baseTs + i : null;
            out.add(new Sent(i, partition, key, value, headers, ts));
        }
        return out;
    }

    void run() throws Exception {
        String topic = c.topic("pc-" + codec);
        try (Admin admin = c.admin()) {
            c.createTopic(admin, topic, PARTITIONS);
        }
        long baseTs = System.currentTimeMillis() / 1000 * 1000 - 60_000;
        List<Sent> sent = records(baseTs);
        List<RecordMetadata> md = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = c.producer(Map.of(
                ProducerConfig.COMPRESSION_TYPE_CONFIG, codec,
                ProducerConfig.LINGER_MS_CONFIG, 20))) {
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            for (Sent s : sent) {
                futures.add(producer.send(new ProducerRecord<>(topic, s.partition, s.timestamp, s.key, s.value,
                        s.headers)));
            }
            producer.flush();
            for (Future<RecordMetadata> f : futures) md.add(f.get(Compat.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS));
        }

        // Acknowledgements: offsets 0.. per partition in send order; keys by murmur2; timestamps.
        Map<Integer, Long> next = new TreeMap<>();
        Map<TopicPartition, Map<Long, Sent>> expected = new HashMap<>();
        for (Sent s : sent) {
            RecordMetadata m = md.get(s.index);
            long want = next.getOrDefault(m.partition(), 0L);
            Check.eq("[" + codec + "] offset of record " + s.index + " on partition " + m.partition(), want, m.offset());
            next.put(m.partition(), want + 1);
            if (s.partition != null) {
                Check.eq("[" + codec + "] partition of record " + s.index + " (explicit)", s.partition, m.partition());
            } else if (s.key != null) {
                int byHash = Utils.toPositive(Utils.murmur2(s.key)) % PARTITIONS;
                Check.eq("[" + codec + "] partition of key " + Compat.show(s.key), byHash, m.partition());
            }
            if (s.timestamp != null) {
                Check.eq("[" + codec + "] acknowledged timestamp of record " + s.index, s.timestamp, m.timestamp());
            }
            expected.computeIfAbsent(new TopicPartition(topic, m.partition()), k -> new HashMap<>()).put(m.offset(), s);
        }
        Check.eq("[" + codec + "] partitions written", List.of(0, 1), List.copyOf(next.keySet()));
        Check.ok("[%s] produced %d records (idempotent, acks=all): offsets contiguous from 0 per partition %s, "
                + "one partition per key (murmur2), explicit partitions and timestamps kept", codec, RECORDS, next);

        List<TopicPartition> tps = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1));
        try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(null, Map.of())) {
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
            long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos();
            while (got.size() < RECORDS) {
                Check.that(System.nanoTime() < deadline, "[%s] consumer got %d/%d records after %d s", codec,
                        got.size(), RECORDS, Compat.TIMEOUT.toSeconds());
                consumer.poll(Duration.ofMillis(200)).forEach(got::add);
            }
            int extra = consumer.poll(Duration.ofMillis(300)).count();
            Check.eq("[" + codec + "] records beyond the " + RECORDS + " produced", 0, extra);

            Map<Integer, Long> lastOffset = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : got) {
                String where = "[" + codec + "] record " + r.partition() + "@" + r.offset();
                long prev = lastOffset.getOrDefault(r.partition(), -1L);
                Check.eq(where + ": offset after " + prev, prev + 1, r.offset());
                lastOffset.put(r.partition(), r.offset());
                Sent s = expected.get(new TopicPartition(topic, r.partition())).get(r.offset());
                Check.that(s != null, "%s: not produced", where);
                RecordMetadata m = md.get(s.index);
                Check.that(Compat.same(s.key, r.key()), "%s: key %s, sent %s", where, Compat.show(r.key()),
                        Compat.show(s.key));
                Check.that(Compat.same(s.value, r.value()), "%s: value %s, sent %s", where, Compat.show(r.value()),
                        Compat.show(s.value));
                List<Header> hs = List.of(r.headers().toArray());
                Check.eq(where + ": header count", s.headers.size(), hs.size());
                for (int h = 0; h < hs.size(); h++) {
                    Header a = s.headers.get(h);
                    Header b = hs.get(h);
                    Check.that(a.key().equals(b.key()) && Compat.same(a.value(), b.value()),
                            "%s: header %d is %s=%s, sent %s=%s", where, h, b.key(), Compat.show(b.value()), a.key(),
                            Compat.show(a.value()));
                }
                Check.eq(where + ": timestamp type", TimestampType.CREATE_TIME, r.timestampType());
                Check.eq(where + ": timestamp", m.timestamp(), r.timestamp());
            }
            Check.ok("[%s] KafkaConsumer read all %d back: keys, values (incl. tombstones), headers, CreateTime "
                    + "timestamps identical, in offset order per partition, nothing more", codec, RECORDS);

            Map<TopicPartition, Long> end = consumer.endOffsets(tps, Compat.TIMEOUT);
            Map<TopicPartition, Long> begin = consumer.beginningOffsets(tps, Compat.TIMEOUT);
            for (TopicPartition tp : tps) {
                Check.eq("[" + codec + "] end offset of " + tp, next.get(tp.partition()), end.get(tp));
                Check.eq("[" + codec + "] beginning offset of " + tp, 0L, begin.get(tp));
            }
            Check.ok("[%s] beginning offsets 0, end offsets = counts %s", codec, next);
        }
    }
}
