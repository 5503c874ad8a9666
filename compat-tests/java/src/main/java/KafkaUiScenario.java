import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.FinalizedVersionRange;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.SecurityDisabledException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.apache.kafka.common.quota.ClientQuotaFilter;

/**
 * The calls kafka-ui (provectus and kafbat) makes, in the order it makes them, with the answers
 * its pages depend on:
 * <ul>
 * <li>start-up: listTopics, describeCluster (with authorized operations), describeConfigs of the
 * broker (delete.topic.enable), describeFeatures (metadata.version finalized: kafbat's version
 * signal), describeAcls (SecurityDisabledException: "no ACLs");</li>
 * <li>its 30 s refresh: describeCluster, describeMetadataQuorum (answered, or
 * UnsupportedVersionException — anything else breaks kafbat's refresh), describeLogDirs (real
 * sizes), listGroups, describeTopics, describeConfigs of every topic with synonyms and
 * documentation, listOffsets earliest/latest, describeConsumerGroups, listConsumerGroupOffsets;</li>
 * <li>pages: createTopics (the response's full config list), incrementalAlterConfigs (and an
 * invalid value → InvalidConfigurationException naming the config), createPartitions,
 * listPartitionReassignments / alterPartitionReassignments onto this node, describeClientQuotas,
 * describeUserScramCredentials, the message browser (a group-less consumer: offsetsForTimes,
 * seek, poll), producing with a default (idempotent) producer, a consumer group's lag, resetting
 * its offsets, deleting offsets, the group and the topic.</li>
 * </ul>
 * DeleteRecords ("clear messages") and DescribeProducers are left to their own scenarios.
 */
final class KafkaUiScenario {
    private final Compat c;

    KafkaUiScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String topic = c.topic("ui");
        String groupId = c.group("ui");
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        try (Admin admin = c.admin()) {
            // ---------------------------------------------------------------- start-up
            Compat.get(admin.listTopics().names());
            DescribeClusterResult cluster = admin.describeCluster(new DescribeClusterOptions()
                    .includeAuthorizedOperations(true));
            Collection<Node> nodes = Compat.get(cluster.nodes());
            Check.eq("describeCluster: brokers", c.brokerCount(), nodes.size());
            Node node = nodes.iterator().next();
            Node controller = Compat.get(cluster.controller());
            Check.that(controller != null && nodes.stream().anyMatch(n -> n.id() == controller.id()),
                    "controller %s, brokers %s", controller, nodes);
            Check.that(Compat.get(cluster.clusterId()) != null, "describeCluster: no cluster id");
            Check.that(Compat.get(cluster.authorizedOperations()) != null, "describeCluster: no authorized operations");
            Check.ok("describeCluster: broker %d (the controller), cluster id, authorized operations", node.id());

            ConfigResource brokerResource = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(node.id()));
            Config brokerConfig = describe(admin, brokerResource);
            Check.eq("broker config delete.topic.enable", "true", value(brokerConfig, "delete.topic.enable"));
            Check.that(brokerConfig.entries().size() > 20, "broker describes only %d configs", brokerConfig.entries().size());
            ConfigEntry segment = brokerConfig.get("log.segment.bytes");
            Check.that(segment != null && segment.value() != null, "broker config log.segment.bytes: %s", segment);
            Check.ok("describeConfigs of broker %d: %d configs, delete.topic.enable=true, log.segment.bytes=%s",
                    node.id(), brokerConfig.entries().size(), segment.value());

            FeatureMetadata features = Compat.get(admin.describeFeatures().featureMetadata());
            FinalizedVersionRange mv = features.finalizedFeatures().get("metadata.version");
            Check.that(mv != null && mv.maxVersionLevel() >= 22, "metadata.version finalized: %s (4.0 is level 22)", mv);
            FinalizedVersionRange tv = features.finalizedFeatures().get("transaction.version");
            Check.ok("describeFeatures: metadata.version level %d (a 4.x release); transaction.version %s",
                    mv.maxVersionLevel(), tv == null ? "absent" : tv.maxVersionLevel());

            Check.raised("describeAcls without an authorizer", SecurityDisabledException.class,
                    Compat.failure(admin.describeAcls(AclBindingFilter.ANY).values()));
            Check.ok("describeAcls → SecurityDisabledException (kafka-ui: ACLs off)");

            // ---------------------------------------------------------------- topic page: create
            CreateTopicsResult created = admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1)
                    .configs(Map.of("retention.ms", "3600000"))));
            Compat.get(created.all());
            Config createdConfig = Compat.get(created.config(topic));
            Check.eq("createTopics response: retention.ms", "3600000", value(createdConfig, "retention.ms"));
            Check.eq("createTopics response: cleanup.policy", "delete", value(createdConfig, "cleanup.policy"));
            Check.that(createdConfig.entries().size() > 20, "createTopics response lists %d configs",
                    createdConfig.entries().size());
            c.waitPartitions(admin, topic, 1);
            Compat.get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all());
            c.waitPartitions(admin, topic, 2);
            Check.ok("createTopics %s (retention.ms=3600000): the response lists %d configs with defaults; "
                    + "createPartitions 1 → 2", topic, createdConfig.entries().size());

            // ---------------------------------------------------------------- produce a message
            try (KafkaProducer<byte[], byte[]> producer = c.producer(Map.of())) {
                List<Future<?>> acks = new ArrayList<>();
                for (int i = 0; i < 6; i++) {
                    acks.add(producer.send(new ProducerRecord<>(topic, i % 2, Compat.utf8("k" + i), Compat.utf8("v" + i))));
                }
                producer.flush();
                for (Future<?> f : acks) f.get(Compat.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            }
            Check.ok("a default (idempotent) producer wrote 6 messages, 3 per partition");

            // ---------------------------------------------------------------- topic page: configs
            ConfigResource topicResource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config config = describe(admin, topicResource);
            ConfigEntry retention = config.get("retention.ms");
            Check.eq("retention.ms", "3600000", retention.value());
            Check.eq("retention.ms source", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, retention.source());
            Check.eq("retention.ms type", ConfigEntry.ConfigType.LONG, retention.type());
            Check.that(retention.documentation() != null && !retention.documentation().isEmpty(),
                    "retention.ms has no documentation");
            ConfigEntry segmentBytes = config.get("segment.bytes");
            Check.eq("segment.bytes source", ConfigEntry.ConfigSource.DEFAULT_CONFIG, segmentBytes.source());
            Check.that(segmentBytes.synonyms().stream().anyMatch(s -> s.name().equals("log.segment.bytes")),
                    "segment.bytes synonyms: %s", segmentBytes.synonyms());
            Check.eq("segment.bytes read-only", false, segmentBytes.isReadOnly());
            Check.ok("describeConfigs %s (synonyms, documentation): retention.ms=3600000 dynamic LONG, "
                    + "segment.bytes default with synonym log.segment.bytes; %d configs", topic, config.entries().size());

            Compat.get(admin.incrementalAlterConfigs(Map.of(topicResource, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.APPEND))))
                    .all());
            Compat.waitFor(() -> {
                try {
                    Config now = describe(admin, topicResource);
                    return "7200000".equals(value(now, "retention.ms"))
                            && "delete,compact".equals(value(now, "cleanup.policy"));
                } catch (Exception e) {
                    return false;
                }
            }, "retention.ms=7200000 and cleanup.policy=delete,compact in describeConfigs");
            Check.ok("incrementalAlterConfigs SET retention.ms=7200000, APPEND cleanup.policy compact: "
                    + "describeConfigs agrees");

            Throwable bad = Compat.failure(admin.incrementalAlterConfigs(Map.of(topicResource, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)))).all());
            Check.raised("incrementalAlterConfigs retention.ms=soon", InvalidConfigurationException.class, bad);
            Check.that(bad.getMessage().contains("retention.ms"), "the error does not name the config: %s",
                    bad.getMessage());
            Check.ok("incrementalAlterConfigs retention.ms=soon → InvalidConfigurationException: %s", bad.getMessage());

            // ---------------------------------------------------------------- refresh
            Throwable quorum = Compat.failure(admin.describeMetadataQuorum().quorumInfo());
            Check.that(quorum == null || quorum instanceof UnsupportedVersionException,
                    "describeMetadataQuorum failed with %s (kafbat tolerates only UnsupportedVersionException)", quorum);
            Check.ok("describeMetadataQuorum: %s", quorum == null ? "answered" : "UnsupportedVersionException");

            // Every broker's (a cluster's brokers each hold the partitions they lead).
            List<Integer> ids = nodes.stream().map(Node::id).toList();
            Map<Integer, Map<String, LogDirDescription>> dirs = Compat.get(
                    admin.describeLogDirs(ids).allDescriptions());
            long size = 0;
            int replicas = 0;
            for (LogDirDescription d : dirs.values().stream().flatMap(m -> m.values().stream()).toList()) {
                Check.that(d.error() == null, "log dir error %s", d.error());
                for (Map.Entry<TopicPartition, ReplicaInfo> e : d.replicaInfos().entrySet()) {
                    if (e.getKey().topic().equals(topic)) {
                        replicas++;
                        size += e.getValue().size();
                    }
                }
            }
            Check.eq("describeLogDirs: partitions of " + topic, 2, replicas);
            Check.that(size > 0, "describeLogDirs: %s has size %d after 6 messages", topic, size);
            Check.ok("describeLogDirs: %d log dir(s), %s has 2 partitions, %d bytes", dirs.get(node.id()).size(), topic, size);

            TopicDescription description = Compat.get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
            Check.eq("describeTopics: partitions", 2, description.partitions().size());
            Map<TopicPartition, OffsetSpec> earliest = Map.of(p0, OffsetSpec.earliest(), p1, OffsetSpec.earliest());
            Map<TopicPartition, OffsetSpec> latest = Map.of(p0, OffsetSpec.latest(), p1, OffsetSpec.latest());
            Check.eq("listOffsets earliest", Map.of(p0, 0L, p1, 0L), offsets(admin.listOffsets(earliest)));
            Check.eq("listOffsets latest", Map.of(p0, 3L, p1, 3L), offsets(admin.listOffsets(latest)));
            Check.ok("describeTopics and listOffsets: earliest 0/0, latest 3/3");

            // ---------------------------------------------------------------- messages browser
            Map<String, Object> browse = new HashMap<>();
            browse.put(ConsumerConfig.CLIENT_ID_CONFIG, "gregor-compat-java-ui-browser");
            try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(null, browse)) {
                consumer.assign(List.of(p0, p1));
                Map<TopicPartition, OffsetAndTimestamp> byTime = consumer.offsetsForTimes(Map.of(p0, 0L, p1, 0L));
                Check.eq("offsetsForTimes(0) of " + p0, 0L, byTime.get(p0).offset());
                consumer.seekToBeginning(List.of(p0, p1));
                List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
                long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos();
                while (got.size() < 6) {
                    Check.that(System.nanoTime() < deadline, "the browser read %d/6 messages", got.size());
                    consumer.poll(Duration.ofMillis(100)).forEach(got::add);
                }
                Check.that(got.stream().anyMatch(r -> new String(r.value()).equals("v5")), "v5 not browsed");
            }
            Check.ok("messages browser (group-less consumer): offsetsForTimes, seekToBeginning, 6 messages read");

            // ---------------------------------------------------------------- consumer groups
            Map<String, Object> conf = new HashMap<>();
            conf.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
            try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(groupId, conf)) {
                consumer.assign(List.of(p0, p1));
                consumer.commitSync(Map.of(p0, new OffsetAndMetadata(1), p1, new OffsetAndMetadata(3)), Compat.TIMEOUT);
            }
            Check.that(Compat.get(admin.listGroups().all()).stream().anyMatch(g -> g.groupId().equals(groupId)),
                    "listGroups lacks %s", groupId);
            GroupState state = Compat.get(admin.describeConsumerGroups(List.of(groupId)).all()).get(groupId).groupState();
            Check.eq("describeConsumerGroups: state", GroupState.EMPTY, state);
            Map<TopicPartition, Long> committed = committed(admin, groupId);
            Map<TopicPartition, Long> end = offsets(admin.listOffsets(latest));
            long lag = (end.get(p0) - committed.get(p0)) + (end.get(p1) - committed.get(p1));
            Check.eq("lag of " + groupId, 2L, lag);
            Check.ok("consumer group %s: listGroups, describeConsumerGroups (Empty), offsets %s, lag 2", groupId, committed);

            Compat.get(admin.alterConsumerGroupOffsets(groupId, Map.of(p0, new OffsetAndMetadata(0),
                    p1, new OffsetAndMetadata(0))).all());
            Check.eq("offsets after the reset to earliest", Map.of(p0, 0L, p1, 0L), committed(admin, groupId));
            Compat.get(admin.deleteConsumerGroupOffsets(groupId, Set.of(p1)).all());
            Check.eq("offsets after deleting " + p1, Map.of(p0, 0L), committed(admin, groupId));
            Compat.get(admin.deleteConsumerGroups(List.of(groupId)).all());
            Check.ok("reset offsets to earliest, delete %s's offset, delete the group", p1);

            // ---------------------------------------------------------------- admin pages
            Check.eq("listPartitionReassignments", Map.of(),
                    Compat.get(admin.listPartitionReassignments().reassignments()));
            Compat.get(admin.alterPartitionReassignments(Map.of(p0,
                    java.util.Optional.of(new NewPartitionReassignment(List.of(node.id()))))).all());
            Check.ok("listPartitionReassignments: none; alterPartitionReassignments of %s onto broker %d: done", p0, node.id());

            Check.eq("describeClientQuotas", Map.of(), Compat.get(admin.describeClientQuotas(ClientQuotaFilter.all()).entities()));
            Check.eq("describeUserScramCredentials", Map.of(), Compat.get(admin.describeUserScramCredentials().all()));
            Check.ok("describeClientQuotas: none; describeUserScramCredentials: none");

            Compat.get(admin.deleteTopics(List.of(topic)).all());
            Compat.waitFor(() -> {
                try {
                    return !Compat.get(admin.listTopics().names()).contains(topic);
                } catch (Exception e) {
                    return false;
                }
            }, topic + " gone from listTopics");
            Check.ok("deleteTopics %s", topic);
        }
    }

    private static Config describe(Admin admin, ConfigResource resource) throws Exception {
        return Compat.get(admin.describeConfigs(List.of(resource),
                new DescribeConfigsOptions().includeSynonyms(true).includeDocumentation(true)).all()).get(resource);
    }

    private static String value(Config config, String name) {
        ConfigEntry e = config.get(name);
        return e == null ? null : e.value();
    }

    private static Map<TopicPartition, Long> offsets(ListOffsetsResult r) throws Exception {
        Map<TopicPartition, Long> out = new HashMap<>();
        Compat.get(r.all()).forEach((tp, info) -> out.put(tp, info.offset()));
        return out;
    }

    private static Map<TopicPartition, Long> committed(Admin admin, String groupId) throws Exception {
        Map<TopicPartition, Long> out = new HashMap<>();
        Compat.get(admin.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata()).forEach((tp, om) -> {
            if (om != null) out.put(tp, om.offset());
        });
        return out;
    }
}
