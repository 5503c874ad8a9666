import java.io.EOFException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.message.FindCoordinatorRequestData;
import org.apache.kafka.common.message.InitProducerIdRequestData;
import org.apache.kafka.common.message.OffsetCommitRequestData;
import org.apache.kafka.common.message.OffsetCommitResponseData;
import org.apache.kafka.common.message.OffsetFetchRequestData;
import org.apache.kafka.common.message.OffsetFetchResponseData;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.requests.ApiVersionsRequest;
import org.apache.kafka.common.requests.ApiVersionsResponse;
import org.apache.kafka.common.requests.FindCoordinatorRequest;
import org.apache.kafka.common.requests.InitProducerIdRequest;
import org.apache.kafka.common.requests.OffsetCommitRequest;
import org.apache.kafka.common.requests.OffsetCommitResponse;
import org.apache.kafka.common.requests.OffsetFetchRequest;
import org.apache.kafka.common.requests.OffsetFetchResponse;

/**
 * The versions Kafka 4.4 serves to its 4.4 clients, and what they do with them:
 * <ol>
 * <li>ApiVersions: OffsetCommit and OffsetFetch up to v10, ListOffsets up to v11,
 * InitProducerId up to v5 (v6, KIP-939's two-phase commit, is unstable in 4.4);</li>
 * <li>a KafkaConsumer with group.protocol=consumer (which commits and fetches offsets by
 * topic id, v10, when the broker offers it) reads 10 records, commits {p0: 3, p1: 2} with
 * metadata, reads them back with committed(); a second member resumes exactly there; the
 * AdminClient (by name, v9) lists the same offsets;</li>
 * <li>raw OffsetCommit v10 (the client's message classes over a socket) for a known topic id
 * and one no topic has → NONE and UNKNOWN_TOPIC_ID; raw OffsetFetch v10 asking for the unknown
 * id first → the known topic's offsets, then UNKNOWN_TOPIC_ID; every topic → listed by id;</li>
 * <li>a raw InitProducerId v6 asking for two-phase commit → the connection is closed, and a
 * new one is served.</li>
 * </ol>
 */
final class OffsetsByTopicIdScenario {
    private final Compat c;

    OffsetsByTopicIdScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String topic = c.topic("offsets-v10");
        String group = c.group("offsets-v10");
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);

        try (RawConnection raw = new RawConnection(c, "compat-offsets-v10")) {
            ApiVersionsResponse v = raw.call(new ApiVersionsRequest.Builder().build((short) 3));
            Map<String, Short> max = new TreeMap<>();
            for (ApiKeys k : List.of(ApiKeys.OFFSET_COMMIT, ApiKeys.OFFSET_FETCH, ApiKeys.LIST_OFFSETS,
                    ApiKeys.INIT_PRODUCER_ID)) {
                max.put(k.name, v.apiVersion(k.id).maxVersion());
            }
            Check.eq("max versions", Map.of("OffsetCommit", (short) 10, "OffsetFetch", (short) 10,
                    "ListOffsets", (short) 11, "InitProducerId", (short) 5), max);
        }
        Check.ok("ApiVersions: OffsetCommit v10, OffsetFetch v10, ListOffsets v11, InitProducerId v5");

        Uuid topicId;
        try (Admin admin = c.admin()) {
            c.createTopic(admin, topic, 2);
            topicId = Compat.get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic).topicId();
            try (KafkaProducer<byte[], byte[]> producer = c.producer(Map.of())) {
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>(topic, i % 2, Compat.utf8("k" + i), Compat.utf8("v" + i)));
                }
                producer.flush();
            }

            Map<TopicPartition, OffsetAndMetadata> commit = Map.of(
                    p0, new OffsetAndMetadata(3, "m0"), p1, new OffsetAndMetadata(2, "m1"));
            try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(group, consumerProtocol())) {
                consumer.subscribe(List.of(topic));
                List<ConsumerRecord<byte[], byte[]>> got = poll(consumer, 10);
                Check.eq("records read by the first member", 10, got.size());
                consumer.commitSync(commit, Compat.TIMEOUT);
                Map<TopicPartition, OffsetAndMetadata> back = consumer.committed(Set.of(p0, p1), Compat.TIMEOUT);
                Check.eq("committed() p0", 3L, back.get(p0).offset());
                Check.eq("committed() p0 metadata", "m0", back.get(p0).metadata());
                Check.eq("committed() p1", 2L, back.get(p1).offset());
                Check.eq("committed() p1 metadata", "m1", back.get(p1).metadata());
            }
            Check.ok("consumer protocol: 10 records read, commitSync {p0: 3 m0, p1: 2 m1}, committed() reads them back");

            try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(group, consumerProtocol())) {
                consumer.subscribe(List.of(topic));
                Map<String, List<Long>> offsets = new TreeMap<>();
                for (ConsumerRecord<byte[], byte[]> r : poll(consumer, 5)) {
                    offsets.computeIfAbsent("p" + r.partition(), k -> new ArrayList<>()).add(r.offset());
                }
                Check.eq("what a new member reads", Map.of("p0", List.of(3L, 4L), "p1", List.of(2L, 3L, 4L)),
                        offsets);
            }
            Check.ok("a new member resumes at the committed offsets: p0 3-4, p1 2-4");

            Map<TopicPartition, OffsetAndMetadata> listed =
                    Compat.get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            Check.eq("AdminClient listConsumerGroupOffsets", commit, listed);
            Check.ok("AdminClient listConsumerGroupOffsets (by name) = the offsets committed by id");
        }

        rawOffsets(topicId, group);
        initProducerIdV6();
    }

    private Map<String, Object> consumerProtocol() {
        Map<String, Object> conf = new HashMap<>();
        conf.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        return conf;
    }

    private static List<ConsumerRecord<byte[], byte[]>> poll(KafkaConsumer<byte[], byte[]> consumer, int n) {
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
        long until = System.nanoTime() + Compat.TIMEOUT.toNanos();
        while (got.size() < n && System.nanoTime() < until) {
            consumer.poll(Duration.ofMillis(200)).forEach(got::add);
        }
        // Nothing more comes.
        consumer.poll(Duration.ofMillis(500)).forEach(got::add);
        return got;
    }

    private void rawOffsets(Uuid topicId, String consumerGroup) throws Exception {
        String group = c.group("offsets-v10-raw");
        Uuid unknown = Uuid.randomUuid();
        try (RawConnection raw = new RawConnection(c, "compat-offsets-v10")) {
            raw.call(new FindCoordinatorRequest.Builder(new FindCoordinatorRequestData().setKeyType((byte) 0)
                    .setCoordinatorKeys(List.of(group))).build((short) 4));
            OffsetCommitRequestData data = new OffsetCommitRequestData().setGroupId(group)
                    .setGenerationIdOrMemberEpoch(-1).setMemberId("").setTopics(List.of(
                            new OffsetCommitRequestData.OffsetCommitRequestTopic().setTopicId(topicId)
                                    .setPartitions(List.of(new OffsetCommitRequestData.OffsetCommitRequestPartition()
                                            .setPartitionIndex(0).setCommittedOffset(4).setCommittedMetadata("raw"))),
                            new OffsetCommitRequestData.OffsetCommitRequestTopic().setTopicId(unknown)
                                    .setPartitions(List.of(new OffsetCommitRequestData.OffsetCommitRequestPartition()
                                            .setPartitionIndex(0).setCommittedOffset(1)))));
            Map<String, String> codes = new TreeMap<>();
            long until = System.nanoTime() + Compat.TIMEOUT.toNanos();
            while (true) {
                OffsetCommitResponse r = raw.call(OffsetCommitRequest.Builder.forTopicIdsOrNames(data)
                        .build((short) 10));
                codes.clear();
                for (OffsetCommitResponseData.OffsetCommitResponseTopic t : r.data().topics()) {
                    for (OffsetCommitResponseData.OffsetCommitResponsePartition p : t.partitions()) {
                        codes.put(label(t.topicId(), topicId) + "-" + p.partitionIndex(),
                                Errors.forCode(p.errorCode()).name());
                    }
                }
                boolean loading = codes.containsValue("NOT_COORDINATOR")
                        || codes.containsValue("COORDINATOR_LOAD_IN_PROGRESS");
                if (!loading || System.nanoTime() > until) break;
                TimeUnit.MILLISECONDS.sleep(500);
            }
            Check.eq("raw OffsetCommit v10", Map.of("known-0", "NONE", "unknown-0", "UNKNOWN_TOPIC_ID"), codes);
            Check.ok("raw OffsetCommit v10: the topic's id → NONE, an id no topic has → UNKNOWN_TOPIC_ID");

            OffsetFetchRequestData fetch = new OffsetFetchRequestData().setGroups(List.of(
                    new OffsetFetchRequestData.OffsetFetchRequestGroup().setGroupId(group).setTopics(List.of(
                            new OffsetFetchRequestData.OffsetFetchRequestTopics().setTopicId(unknown)
                                    .setPartitionIndexes(List.of(0)),
                            new OffsetFetchRequestData.OffsetFetchRequestTopics().setTopicId(topicId)
                                    .setPartitionIndexes(List.of(0, 1))))));
            OffsetFetchResponse r = raw.call(OffsetFetchRequest.Builder.forTopicIdsOrNames(fetch, false)
                    .build((short) 10));
            Check.eq("raw OffsetFetch v10 by id", List.of("known-0=4/raw/NONE", "known-1=-1//NONE",
                    "unknown-0=-1//UNKNOWN_TOPIC_ID"), show(r.data().groups().get(0), topicId));

            OffsetFetchRequestData all = new OffsetFetchRequestData().setGroups(List.of(
                    new OffsetFetchRequestData.OffsetFetchRequestGroup().setGroupId(consumerGroup).setTopics(null)));
            r = raw.call(OffsetFetchRequest.Builder.forTopicIdsOrNames(all, false).build((short) 10));
            Check.eq("raw OffsetFetch v10, every topic", List.of("known-0=3/m0/NONE", "known-1=2/m1/NONE"),
                    show(r.data().groups().get(0), topicId));
        }
        Check.ok("raw OffsetFetch v10: the known topic's offsets, then the unknown id's UNKNOWN_TOPIC_ID; every "
                + "topic listed by id");
    }

    private static String label(Uuid id, Uuid known) {
        return id.equals(known) ? "known" : "unknown";
    }

    /** "known-P=OFFSET/METADATA/ERROR" per partition, in the answer's order. */
    private static List<String> show(OffsetFetchResponseData.OffsetFetchResponseGroup g, Uuid known) {
        Check.eq("group error", "NONE", Errors.forCode(g.errorCode()).name());
        List<String> out = new ArrayList<>();
        for (OffsetFetchResponseData.OffsetFetchResponseTopics t : g.topics()) {
            for (OffsetFetchResponseData.OffsetFetchResponsePartitions p : t.partitions()) {
                out.add(label(t.topicId(), known) + "-" + p.partitionIndex() + "=" + p.committedOffset() + "/"
                        + p.metadata() + "/" + Errors.forCode(p.errorCode()).name());
            }
        }
        return out;
    }

    private void initProducerIdV6() throws Exception {
        try (RawConnection raw = new RawConnection(c, "compat-offsets-v10")) {
            raw.send(new InitProducerIdRequest.Builder(new InitProducerIdRequestData()
                    .setTransactionalId(c.topic("txn-2pc")).setTransactionTimeoutMs(60_000).setEnable2Pc(true))
                    .build((short) 6));
            boolean closed;
            try {
                raw.in.readInt();
                closed = false;
            } catch (EOFException | java.net.SocketException e) {
                closed = true;
            }
            Check.that(closed, "InitProducerId v6 was answered instead of closing the connection");
        }
        try (RawConnection raw = new RawConnection(c, "compat-offsets-v10")) {
            ApiVersionsResponse v = raw.call(new ApiVersionsRequest.Builder().build((short) 3));
            Check.eq("ApiVersions on a new connection", "NONE", Errors.forCode(v.data().errorCode()).name());
        }
        Check.ok("raw InitProducerId v6 (enable2Pc) → the connection closed, as for any version not served; "
                + "a new connection is served");
    }
}
