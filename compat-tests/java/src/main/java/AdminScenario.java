import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * AdminClient: create topics (and again → TopicExistsException; validateOnly creates nothing;
 * without counts the broker's defaults apply), create partitions (1 → 3;
 * fewer → InvalidPartitionsException; unknown topic → UnknownTopicOrPartitionException),
 * describe cluster; a consumer group with one live member: list groups, describe it (Stable,
 * the member and its assignment), deleting it → GroupNotEmptyException, list its offsets; after
 * the member left: Empty, alter offsets, delete one partition's offset, delete the group (again
 * → GroupIdNotFoundException); delete topics (again → UnknownTopicOrPartitionException).
 * DescribeConfigs is not used (gregor does not implement it yet).
 */
final class AdminScenario {
    private final Compat c;

    AdminScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String t1 = c.topic("admin1");
        String t2 = c.topic("admin2");
        String groupId = c.group("admin");
        TopicPartition a0 = new TopicPartition(t2, 0);
        TopicPartition a1 = new TopicPartition(t2, 1);
        try (Admin admin = c.admin()) {
            // ---------------------------------------------------------------- cluster
            Collection<Node> nodes = Compat.get(admin.describeCluster().nodes());
            Check.eq("describeCluster: brokers", c.brokerCount(), nodes.size());
            Node node = nodes.iterator().next();
            Check.ok("describeCluster: broker %d at %s:%d", node.id(), node.host(), node.port());

            // ---------------------------------------------------------------- topics
            Compat.get(admin.createTopics(List.of(new NewTopic(t1, 1, (short) 1), new NewTopic(t2, 2, (short) 1))).all());
            c.waitPartitions(admin, t1, 1);
            c.waitPartitions(admin, t2, 2);
            Check.ok("createTopics %s (1 partition) and %s (2 partitions)", t1, t2);
            Check.raised("createTopics of an existing topic", TopicExistsException.class,
                    Compat.failure(admin.createTopics(List.of(new NewTopic(t1, 1, (short) 1))).all()));
            Check.ok("createTopics again → TopicExistsException");

            String t3 = c.topic("admin3");
            CreateTopicsResult dry = admin.createTopics(List.of(new NewTopic(t3, 4, (short) 1)),
                    new CreateTopicsOptions().validateOnly(true));
            Compat.get(dry.all());
            Check.eq("createTopics(validateOnly): numPartitions", 4, Compat.get(dry.numPartitions(t3)));
            Check.that(!Compat.get(admin.listTopics().names()).contains(t3), "validateOnly created %s", t3);
            Check.ok("createTopics validateOnly: answers 4 partitions, creates nothing");

            String t4 = c.topic("admin4");
            CreateTopicsResult byDefault = admin.createTopics(List.of(new NewTopic(t4, Optional.empty(), Optional.empty())));
            Compat.get(byDefault.all());
            Check.eq("createTopics with the broker's defaults: numPartitions", 1, Compat.get(byDefault.numPartitions(t4)));
            Check.eq("createTopics with the broker's defaults: replicationFactor", 1,
                    Compat.get(byDefault.replicationFactor(t4)));
            c.waitPartitions(admin, t4, 1);
            Check.ok("createTopics without partitions/replication factor: the broker's defaults, 1 and 1");

            Compat.get(admin.createPartitions(Map.of(t1, NewPartitions.increaseTo(3))).all());
            c.waitPartitions(admin, t1, 3);
            Check.raised("createPartitions 3 → 2", InvalidPartitionsException.class,
                    Compat.failure(admin.createPartitions(Map.of(t1, NewPartitions.increaseTo(2))).all()));
            Check.raised("createPartitions on an unknown topic", UnknownTopicOrPartitionException.class,
                    Compat.failure(admin.createPartitions(Map.of(c.topic("nosuch"), NewPartitions.increaseTo(2))).all()));
            Check.ok("createPartitions 1 → 3 (describeTopics shows 3); 3 → 2 → InvalidPartitionsException; "
                    + "unknown topic → UnknownTopicOrPartitionException");

            // ---------------------------------------------------------------- a live group
            try (KafkaProducer<byte[], byte[]> producer = c.producer(Map.of())) {
                List<Future<?>> acks = new ArrayList<>();
                for (int i = 0; i < 5; i++) {
                    acks.add(producer.send(new ProducerRecord<>(t2, i < 3 ? 0 : 1, null, Compat.utf8("r" + i))));
                }
                producer.flush();
                for (Future<?> f : acks) f.get(Compat.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            }
            Map<String, Object> conf = new HashMap<>();
            conf.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
            conf.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, RangeAssignor.class.getName());
            conf.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 6000);
            conf.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 1000);
            conf.put(ConsumerConfig.CLIENT_ID_CONFIG, "gregor-compat-java-admin-member");
            try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(groupId, conf)) {
                consumer.subscribe(List.of(t2));
                List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
                long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos();
                while (got.size() < 5) {
                    Check.that(System.nanoTime() < deadline, "group member read %d/5 records", got.size());
                    consumer.poll(Duration.ofMillis(100)).forEach(got::add);
                }
                consumer.commitSync(Compat.TIMEOUT);
                Check.ok("a consumer in group %s read the 5 records of %s and committed", groupId, t2);

                Collection<GroupListing> listed = Compat.get(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all());
                GroupListing listing = listed.stream().filter(g -> g.groupId().equals(groupId)).findFirst().orElse(null);
                Check.that(listing != null, "listGroups(forConsumerGroups) lacks %s: %s", groupId, listed);
                Check.eq("listGroups: state of " + groupId, Optional.of(GroupState.STABLE), listing.groupState());
                Check.eq("listGroups: type of " + groupId, Optional.of(GroupType.CLASSIC), listing.type());
                Check.eq("listGroups: protocol type of " + groupId, "consumer", listing.protocol());
                Check.that(Compat.get(admin.listGroups().all()).stream().anyMatch(g -> g.groupId().equals(groupId)),
                        "listGroups() lacks %s", groupId);
                Check.ok("listGroups (all, and consumer groups only) has %s: classic, Stable, protocol type consumer",
                        groupId);

                ConsumerGroupDescription d = Compat.get(admin.describeConsumerGroups(List.of(groupId)).all()).get(groupId);
                Check.eq("describeConsumerGroups: state", GroupState.STABLE, d.groupState());
                Check.eq("describeConsumerGroups: type", GroupType.CLASSIC, d.type());
                Check.eq("describeConsumerGroups: assignor", "range", d.partitionAssignor());
                Check.that(nodes.stream().anyMatch(n -> n.id() == d.coordinator().id()),
                        "describeConsumerGroups: coordinator %s is not one of %s", d.coordinator(), nodes);
                Check.eq("describeConsumerGroups: simple group", false, d.isSimpleConsumerGroup());
                Check.eq("describeConsumerGroups: members", 1, d.members().size());
                MemberDescription m = d.members().iterator().next();
                Check.eq("member id", consumer.groupMetadata().memberId(), m.consumerId());
                Check.eq("member client id", "gregor-compat-java-admin-member", m.clientId());
                Check.that(m.host() != null && !m.host().isEmpty(), "member host is empty");
                Check.eq("member assignment", Set.of(a0, a1), m.assignment().topicPartitions());
                Check.ok("describeConsumerGroups: Stable, classic, range, coordinator %d, 1 member (%s, %s) with %s",
                        node.id(), m.clientId(), m.host(), m.assignment().topicPartitions());

                Check.raised("deleteConsumerGroups of a group with a member", GroupNotEmptyException.class,
                        Compat.failure(admin.deleteConsumerGroups(List.of(groupId)).all()));
                Check.ok("deleteConsumerGroups while a member is in → GroupNotEmptyException");

                Check.eq("listConsumerGroupOffsets", Map.of(a0, 3L, a1, 2L), offsets(admin, groupId));
                Check.ok("listConsumerGroupOffsets: {%s: 3, %s: 2}", a0, a1);
            }

            // ---------------------------------------------------------------- the group, empty
            ConsumerGroupDescription d = Compat.get(admin.describeConsumerGroups(List.of(groupId)).all()).get(groupId);
            Check.eq("describeConsumerGroups after the member left: state", GroupState.EMPTY, d.groupState());
            Check.eq("describeConsumerGroups after the member left: members", 0, d.members().size());
            Check.ok("after the member left: describeConsumerGroups says Empty, no members");

            Compat.get(admin.alterConsumerGroupOffsets(groupId, Map.of(a0, new OffsetAndMetadata(1, "reset"))).all());
            Check.eq("offsets after alterConsumerGroupOffsets", Map.of(a0, 1L, a1, 2L), offsets(admin, groupId));
            OffsetAndMetadata om = Compat.get(admin.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata()).get(a0);
            Check.eq("metadata after alterConsumerGroupOffsets", "reset", om.metadata());
            Check.ok("alterConsumerGroupOffsets %s → 1 (metadata kept); %s still 2", a0, a1);

            Compat.get(admin.deleteConsumerGroupOffsets(groupId, Set.of(a1)).all());
            Check.eq("offsets after deleteConsumerGroupOffsets", Map.of(a0, 1L), offsets(admin, groupId));
            Check.ok("deleteConsumerGroupOffsets %s: only %s=1 left", a1, a0);

            Compat.get(admin.deleteConsumerGroups(List.of(groupId)).all());
            Check.that(Compat.get(admin.listGroups().all()).stream().noneMatch(g -> g.groupId().equals(groupId)),
                    "listGroups still has %s after deleteConsumerGroups", groupId);
            Check.eq("offsets of the deleted group", Map.of(), offsets(admin, groupId));
            Check.raised("deleteConsumerGroups of a deleted group", GroupIdNotFoundException.class,
                    Compat.failure(admin.deleteConsumerGroups(List.of(groupId)).all()));
            Check.ok("deleteConsumerGroups: gone from listGroups, no offsets; again → GroupIdNotFoundException");

            // ---------------------------------------------------------------- delete topics
            Compat.get(admin.deleteTopics(List.of(t1, t2, t4)).all());
            Compat.waitFor(() -> {
                try {
                    Set<String> names = Compat.get(admin.listTopics().names());
                    return !names.contains(t1) && !names.contains(t2) && !names.contains(t4);
                } catch (Exception e) {
                    return false;
                }
            }, "the topics gone from listTopics");
            Check.raised("deleteTopics of a deleted topic", UnknownTopicOrPartitionException.class,
                    Compat.failure(admin.deleteTopics(List.of(t1)).all()));
            Check.raised("describeTopics of a deleted topic", UnknownTopicOrPartitionException.class,
                    Compat.failure(admin.describeTopics(List.of(t1)).allTopicNames()));
            Check.ok("deleteTopics: all three gone from listTopics; again → UnknownTopicOrPartitionException, "
                    + "describeTopics → UnknownTopicOrPartitionException");
        }
    }

    private static Map<TopicPartition, Long> offsets(Admin admin, String groupId) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> m = Compat.get(admin.listConsumerGroupOffsets(groupId)
                .partitionsToOffsetAndMetadata());
        Map<TopicPartition, Long> out = new HashMap<>();
        m.forEach((tp, om) -> {
            if (om != null) out.put(tp, om.offset());
        });
        return out;
    }
}
