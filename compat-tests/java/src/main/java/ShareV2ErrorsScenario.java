import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.message.FindCoordinatorRequestData;
import org.apache.kafka.common.message.ShareAcknowledgeRequestData;
import org.apache.kafka.common.message.ShareAcknowledgeResponseData;
import org.apache.kafka.common.message.ShareFetchRequestData;
import org.apache.kafka.common.message.ShareFetchResponseData;
import org.apache.kafka.common.message.ShareGroupHeartbeatRequestData;
import org.apache.kafka.common.message.ShareGroupHeartbeatResponseData;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.requests.AbstractRequest;
import org.apache.kafka.common.requests.AbstractResponse;
import org.apache.kafka.common.requests.FindCoordinatorRequest;
import org.apache.kafka.common.requests.ShareAcknowledgeRequest;
import org.apache.kafka.common.requests.ShareAcknowledgeResponse;
import org.apache.kafka.common.requests.ShareFetchRequest;
import org.apache.kafka.common.requests.ShareFetchResponse;
import org.apache.kafka.common.requests.ShareGroupHeartbeatRequest;
import org.apache.kafka.common.requests.ShareGroupHeartbeatResponse;

/**
 * share.version 2's error answers, byte for byte the same requests to both brokers (raw
 * ShareGroupHeartbeat, ShareFetch and ShareAcknowledge over a socket, built with the Java
 * client's message classes, which the KafkaShareConsumer never sends wrong): RENEW in a v1
 * ShareAcknowledge, or in a v2 one without IsRenewAck → the partition's INVALID_REQUEST; a
 * renewing ShareFetch with MaxWaitMs set → top-level INVALID_REQUEST; a renewing ShareFetch →
 * no error, no records; a renewing ShareAcknowledge v2 → no error and the lock duration; RENEW
 * of a record another member holds → INVALID_RECORD_STATE; an unknown ShareAcquireMode →
 * top-level UNKNOWN_SERVER_ERROR.
 */
final class ShareV2ErrorsScenario {
    private static final byte RENEW = 4;
    private static final byte ACCEPT = 1;
    private final Compat c;

    ShareV2ErrorsScenario(Compat c) {
        this.c = c;
    }

    /** One member's connection and share session. */
    final class Member {
        final String id = Uuid.randomUuid().toString();
        final RawConnection raw;
        int epoch;

        Member() throws Exception {
            raw = new RawConnection(c, "compat-share-v2");
        }

        <R extends AbstractResponse> R call(AbstractRequest request) throws Exception {
            return raw.call(request);
        }

        /** Heartbeats until the member is assigned `topic`'s partition 0 (first asking for the
         * coordinator, as clients do: Kafka creates its offsets topic then, and answers
         * NOT_COORDINATOR until it has loaded). */
        void join(String group, String topicName, Uuid topic) throws Exception {
            int memberEpoch = 0;
            long until = System.nanoTime() + Compat.TIMEOUT.toNanos();
            call(new FindCoordinatorRequest.Builder(new FindCoordinatorRequestData().setKeyType((byte) 0)
                    .setCoordinatorKeys(List.of(group))).build((short) 4));
            while (System.nanoTime() < until) {
                ShareGroupHeartbeatRequestData data = new ShareGroupHeartbeatRequestData().setGroupId(group)
                        .setMemberId(id).setMemberEpoch(memberEpoch);
                if (memberEpoch == 0) data.setSubscribedTopicNames(List.of(topicName));
                ShareGroupHeartbeatResponse r = call(new ShareGroupHeartbeatRequest.Builder(data).build((short) 1));
                ShareGroupHeartbeatResponseData d = r.data();
                Errors error = Errors.forCode(d.errorCode());
                if (error == Errors.NOT_COORDINATOR || error == Errors.COORDINATOR_LOAD_IN_PROGRESS) {
                    Thread.sleep(500);
                    continue;
                }
                Check.eq("heartbeat error", "NONE", error.name());
                memberEpoch = d.memberEpoch();
                if (d.assignment() != null && d.assignment().topicPartitions().stream()
                        .anyMatch(tp -> tp.topicId().equals(topic) && tp.partitions().contains(0))) {
                    return;
                }
                Thread.sleep(500);
            }
            throw new AssertionError(id + " was not assigned partition 0");
        }

        ShareFetchResponseData fetch(short version, Uuid topic, List<Object[]> acks, boolean renew, int maxWaitMs,
                byte mode) throws Exception {
            ShareFetchRequestData.FetchPartition p = new ShareFetchRequestData.FetchPartition().setPartitionIndex(0);
            List<ShareFetchRequestData.AcknowledgementBatch> batches = new ArrayList<>();
            for (Object[] a : acks) {
                batches.add(new ShareFetchRequestData.AcknowledgementBatch().setFirstOffset((long) a[0])
                        .setLastOffset((long) a[1]).setAcknowledgeTypes(List.of((byte) a[2])));
            }
            p.setAcknowledgementBatches(batches);
            ShareFetchRequestData.FetchPartitionCollection parts = new ShareFetchRequestData.FetchPartitionCollection();
            parts.add(p);
            ShareFetchRequestData.FetchTopicCollection topics = new ShareFetchRequestData.FetchTopicCollection();
            topics.add(new ShareFetchRequestData.FetchTopic().setTopicId(topic).setPartitions(parts));
            boolean quiet = renew;
            ShareFetchRequestData data = new ShareFetchRequestData().setGroupId(groupId).setMemberId(id)
                    .setShareSessionEpoch(epoch).setMaxWaitMs(maxWaitMs).setMinBytes(quiet ? 0 : 1)
                    .setMaxBytes(quiet ? 0 : 1 << 20).setMaxRecords(quiet ? 0 : 100).setBatchSize(quiet ? 0 : 100)
                    .setShareAcquireMode(mode).setIsRenewAck(renew).setTopics(topics);
            ShareFetchResponse r = call(new ShareFetchRequest.Builder(data).build(version));
            return r.data();
        }

        ShareAcknowledgeResponseData acknowledge(short version, Uuid topic, long offset, byte type, boolean renew)
                throws Exception {
            ShareAcknowledgeRequestData.AcknowledgePartition p = new ShareAcknowledgeRequestData.AcknowledgePartition()
                    .setPartitionIndex(0).setAcknowledgementBatches(List.of(
                            new ShareAcknowledgeRequestData.AcknowledgementBatch().setFirstOffset(offset)
                                    .setLastOffset(offset).setAcknowledgeTypes(List.of(type))));
            ShareAcknowledgeRequestData.AcknowledgePartitionCollection parts =
                    new ShareAcknowledgeRequestData.AcknowledgePartitionCollection();
            parts.add(p);
            ShareAcknowledgeRequestData.AcknowledgeTopicCollection topics =
                    new ShareAcknowledgeRequestData.AcknowledgeTopicCollection();
            topics.add(new ShareAcknowledgeRequestData.AcknowledgeTopic().setTopicId(topic).setPartitions(parts));
            ShareAcknowledgeRequestData data = new ShareAcknowledgeRequestData().setGroupId(groupId).setMemberId(id)
                    .setShareSessionEpoch(epoch).setIsRenewAck(renew).setTopics(topics);
            ShareAcknowledgeResponse r = call(new ShareAcknowledgeRequest.Builder(data).build(version));
            return r.data();
        }
    }

    private String groupId;

    static short ackError(ShareFetchResponseData r) {
        return r.responses().iterator().next().partitions().get(0).acknowledgeErrorCode();
    }

    static short partitionError(ShareAcknowledgeResponseData r) {
        return r.responses().iterator().next().partitions().get(0).errorCode();
    }

    static List<String> acquired(ShareFetchResponseData r) {
        List<String> out = new ArrayList<>();
        r.responses().forEach(t -> t.partitions().forEach(p -> p.acquiredRecords().forEach(
                a -> out.add(a.firstOffset() + "-" + a.lastOffset() + "x" + a.deliveryCount()))));
        return out;
    }

    static String name(short code) {
        return Errors.forCode(code).name();
    }

    void run() throws Exception {
        String topicName = c.topic("share-v2-errors");
        groupId = c.group("share-v2-errors");
        Uuid topic;
        try (Admin admin = c.admin(); KafkaProducer<byte[], byte[]> producer = c.producer(Map.of("linger.ms", 100))) {
            c.createTopic(admin, topicName, 1);
            topic = Compat.get(admin.describeTopics(List.of(topicName)).allTopicNames()).get(topicName).topicId();
            Compat.setGroupConfigs(admin, groupId, Map.of("share.auto.offset.reset", "earliest"));
            for (int i = 0; i < 3; i++) producer.send(new ProducerRecord<>(topicName, 0, null, Compat.utf8("e" + i)));
            producer.flush();
        }
        Member a = new Member();
        Member b = new Member();
        a.join(groupId, topicName, topic);
        b.join(groupId, topicName, topic);
        // a acquires the three records (its share partition may take a moment to initialise).
        List<String> got = new ArrayList<>();
        Compat.waitFor(() -> {
            try {
                ShareFetchResponseData r = a.fetch((short) 2, topic, List.of(), false, 500, (byte) 0);
                Check.eq("fetch error", "NONE", name(r.errorCode()));
                a.epoch++;
                got.addAll(acquired(r));
                return !got.isEmpty();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, "records at a");
        Check.eq("acquired", List.of("0-2x1"), got);

        ShareAcknowledgeResponseData ack = a.acknowledge((short) 1, topic, 0, RENEW, false);
        a.epoch++;
        Check.eq("RENEW in ShareAcknowledge v1", "INVALID_REQUEST", name(partitionError(ack)));
        ack = a.acknowledge((short) 2, topic, 0, RENEW, false);
        a.epoch++;
        Check.eq("RENEW in ShareAcknowledge v2 without IsRenewAck", "INVALID_REQUEST", name(partitionError(ack)));
        ShareFetchResponseData f = a.fetch((short) 2, topic, List.<Object[]>of(new Object[] {0L, 0L, RENEW}), true, 100,
                (byte) 0);
        Check.eq("renewing ShareFetch with MaxWaitMs 100", "INVALID_REQUEST", name(f.errorCode()));
        Check.ok("RENEW in v1 or without IsRenewAck: the partition's INVALID_REQUEST; a renewing fetch asking for records: INVALID_REQUEST");

        f = a.fetch((short) 2, topic, List.<Object[]>of(new Object[] {0L, 0L, RENEW}), true, 0, (byte) 0);
        a.epoch++;
        Check.eq("renewing ShareFetch", "NONE", name(f.errorCode()));
        Check.eq("renewing ShareFetch's acknowledgement", "NONE", name(ackError(f)));
        Check.eq("records of a renewing ShareFetch", List.of(), acquired(f));
        ack = a.acknowledge((short) 2, topic, 1, RENEW, true);
        a.epoch++;
        Check.eq("renewing ShareAcknowledge v2", "NONE", name(partitionError(ack)));
        Check.eq("its AcquisitionLockTimeoutMs", 30_000, ack.acquisitionLockTimeoutMs());
        Check.ok("renewed in a ShareFetch (no records) and a ShareAcknowledge v2 (lock 30000 ms)");

        // b opens its session (nothing to acquire: a holds everything) and renews a's record.
        ShareFetchResponseData opened = b.fetch((short) 2, topic, List.of(), false, 100, (byte) 0);
        b.epoch++;
        Check.eq("b's first fetch", List.of(), acquired(opened));
        ack = b.acknowledge((short) 2, topic, 0, RENEW, true);
        b.epoch++;
        Check.eq("RENEW of a's record by b", "INVALID_RECORD_STATE", name(partitionError(ack)));
        ack = a.acknowledge((short) 2, topic, 0, ACCEPT, false);
        a.epoch++;
        Check.eq("a accepts its renewed record", "NONE", name(partitionError(ack)));
        Check.ok("RENEW of a record another member holds: INVALID_RECORD_STATE; its holder accepts it");

        f = b.fetch((short) 2, topic, List.of(), false, 100, (byte) 7);
        Check.eq("ShareAcquireMode 7", "UNKNOWN_SERVER_ERROR", name(f.errorCode()));
        Check.ok("an unknown ShareAcquireMode: UNKNOWN_SERVER_ERROR");
        a.raw.close();
        b.raw.close();
    }
}
