import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.FinalizedVersionRange;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidRegularExpression;

/**
 * Transactions v2 (KIP-890 part 2) is what the Java client uses: describeFeatures shows
 * transaction.version 2 finalized; every transaction end bumps the producer epoch — after a
 * commit, an abort and a commit, describeTransactions shows the epoch one higher each time and
 * describeProducers shows the partition's producer at that epoch (the markers carry it);
 * read_committed readers see the two committed transactions only. The topic has three
 * partitions, so on a cluster of three their leaders differ and those that do not coordinate
 * the transaction add their partition to it through the coordinator.
 */
final class TransactionsV2Scenario {
    private final Compat c;

    TransactionsV2Scenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String out = c.topic("txn2-out");
        String txnId = "compat-java-txn2-" + c.suffix;
        List<TopicPartition> partitions = List.of(
                new TopicPartition(out, 0), new TopicPartition(out, 1), new TopicPartition(out, 2));
        try (Admin admin = c.admin()) {
            c.createTopic(admin, out, partitions.size());
            FeatureMetadata features = admin.describeFeatures().featureMetadata().get();
            FinalizedVersionRange tv = features.finalizedFeatures().get("transaction.version");
            Check.that(tv != null, "transaction.version is finalized: %s", features.finalizedFeatures());
            Check.eq("finalized transaction.version", (short) 2, tv.maxVersionLevel());
            Check.ok("describeFeatures: transaction.version %d finalized", tv.maxVersionLevel());

            List<Short> epochs = new ArrayList<>();
            try (KafkaProducer<byte[], byte[]> producer = c.producer(Map.of(
                    ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId))) {
                producer.initTransactions();
                epochs.add(txnEpoch(admin, txnId));
                String[][] rounds = {{"a1", "a2"}, {"b1"}, {"c1", "c2"}};
                for (int i = 0; i < rounds.length; i++) {
                    producer.beginTransaction();
                    for (String v : rounds[i]) {
                        for (TopicPartition p : partitions) {
                            producer.send(new ProducerRecord<>(out, p.partition(), null, Compat.utf8(v)));
                        }
                    }
                    producer.flush();
                    if (i == 1) producer.abortTransaction(); else producer.commitTransaction();
                    short epoch = txnEpoch(admin, txnId);
                    epochs.add(epoch);
                    // Kafka answers EndTxn before its markers are written: wait for the markers.
                    for (TopicPartition p : partitions) {
                        Compat.waitFor(() -> {
                            try {
                                return partitionEpoch(admin, p) == epoch;
                            } catch (Exception e) {
                                throw new RuntimeException(e);
                            }
                        }, p + " producer's epoch " + epoch + " after end " + (i + 1));
                    }
                }
            }
            Short first = epochs.get(0);
            List<Short> want = List.of(first, (short) (first + 1), (short) (first + 2), (short) (first + 3));
            Check.eq("producer epoch after init, commit, abort, commit", want, epochs);
            Check.ok("every transaction end bumped the producer epoch: %s", epochs);
            // ListTransactions v2 (KIP-1152): the whole id must match the pattern.
            Check.eq("listTransactions by pattern", List.of(txnId), listed(admin, "compat-java-txn2-" + c.suffix + ".*"));
            Check.eq("a pattern matching a prefix only", List.of(), listed(admin, "compat-java-txn2"));
            Throwable error = null;
            try {
                listed(admin, "compat-(");
            } catch (ExecutionException e) {
                error = e.getCause();
            }
            Check.raised("an invalid pattern", InvalidRegularExpression.class, error);
            Check.ok("listTransactions filtered by an id pattern; an invalid one is InvalidRegularExpression");
        }
        List<String> want = new ArrayList<>();
        for (TopicPartition p : partitions) {
            for (String v : List.of("a1", "a2", "c1", "c2")) want.add(p.partition() + ":" + v);
        }
        Check.eq("read_committed output (partition:value)", want, readCommitted(partitions, want.size()));
        Check.ok("read_committed sees the committed transactions only");
    }

    private static List<String> listed(Admin admin, String pattern) throws Exception {
        return admin.listTransactions(new ListTransactionsOptions().filterOnTransactionalIdPattern(pattern)).all().get()
                .stream().map(TransactionListing::transactionalId).sorted().toList();
    }

    private static short txnEpoch(Admin admin, String txnId) throws Exception {
        TransactionDescription d = admin.describeTransactions(List.of(txnId)).description(txnId).get();
        return (short) d.producerEpoch();
    }

    private static short partitionEpoch(Admin admin, TopicPartition p) throws Exception {
        List<ProducerState> producers = admin.describeProducers(List.of(p)).partitionResult(p).get().activeProducers();
        Check.eq("producers on " + p, 1, producers.size());
        return (short) producers.get(0).producerEpoch();
    }

    /** "partition:value" of every record read, by partition, in offset order. */
    private List<String> readCommitted(List<TopicPartition> partitions, int want) {
        List<String> got = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(null, Map.of("isolation.level", "read_committed"))) {
            consumer.assign(partitions);
            consumer.seekToBeginning(consumer.assignment());
            long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos();
            long settle = Long.MAX_VALUE;
            while (System.nanoTime() < Math.min(deadline, settle)) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    got.add(r.partition() + ":" + new String(r.value(), java.nio.charset.StandardCharsets.UTF_8));
                }
                if (got.size() >= want && settle == Long.MAX_VALUE) settle = System.nanoTime() + 1_000_000_000L;
            }
        }
        // Records of one partition come in offset order; partitions interleave.
        got.sort(java.util.Comparator.comparing(v -> v.substring(0, v.indexOf(':'))));
        return got;
    }
}
