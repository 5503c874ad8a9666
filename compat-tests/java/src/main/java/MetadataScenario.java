import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;

/**
 * Metadata through all three Java clients: the one broker (advertising the dialled host:port,
 * and the controller), loms.order-events with partitions 0 and 1 led by it, and a topic created
 * with the AdminClient that then shows up everywhere with its partition count and topic id.
 */
final class MetadataScenario {
    private final Compat c;

    MetadataScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        try (Admin admin = c.admin()) {
            DescribeClusterResult cluster = admin.describeCluster();
            List<Node> nodes = List.copyOf(Compat.get(cluster.nodes()));
            Check.eq("describeCluster: number of brokers", 1, nodes.size());
            Node node = nodes.get(0);
            Check.eq("describeCluster: broker host", c.host(), node.host());
            Check.eq("describeCluster: broker port", c.port(), node.port());
            Node controller = Compat.get(cluster.controller());
            Check.eq("describeCluster: controller id", node.id(), controller.id());
            String clusterId = Compat.get(cluster.clusterId());
            Check.that(clusterId != null && !clusterId.isEmpty(), "describeCluster: empty cluster id");
            Check.ok("describeCluster: one broker %d at %s:%d, the controller, cluster id %s", node.id(),
                    node.host(), node.port(), clusterId);

            Set<String> names = Compat.get(admin.listTopics().names());
            Check.that(names.contains(Compat.HOMEWORK_TOPIC), "listTopics lacks %s: %s", Compat.HOMEWORK_TOPIC, names);
            TopicDescription homework = Compat.get(admin.describeTopics(List.of(Compat.HOMEWORK_TOPIC))
                    .allTopicNames()).get(Compat.HOMEWORK_TOPIC);
            checkPartitions("describeTopics " + Compat.HOMEWORK_TOPIC, homework, 2, node);
            Check.that(!homework.isInternal(), "%s is internal", Compat.HOMEWORK_TOPIC);
            Check.ok("listTopics has %s; describeTopics: partitions [0, 1], leader/replicas/isr = broker %d",
                    Compat.HOMEWORK_TOPIC, node.id());

            String topic = c.topic("metadata");
            CreateTopicsResult created = admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1)));
            Compat.get(created.all());
            Check.eq("createTopics: numPartitions", 3, Compat.get(created.numPartitions(topic)));
            Check.eq("createTopics: replicationFactor", 1, Compat.get(created.replicationFactor(topic)));
            Uuid id = Compat.get(created.topicId(topic));
            Check.that(id != null && !id.equals(Uuid.ZERO_UUID), "createTopics: topic id %s", id);
            Check.ok("createTopics %s: 3 partitions, replication factor 1, topic id %s", topic, id);

            c.waitPartitions(admin, topic, 3);
            TopicDescription d = Compat.get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
            checkPartitions("describeTopics " + topic, d, 3, node);
            Check.eq("describeTopics: topic id of the new topic", id, d.topicId());
            Check.that(Compat.get(admin.listTopics().names()).contains(topic), "listTopics lacks %s", topic);
            Check.ok("describeTopics %s: partitions [0, 1, 2] led by broker %d, same topic id; listTopics has it",
                    topic, node.id());

            try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(null, Map.of())) {
                Map<String, List<PartitionInfo>> all = consumer.listTopics(Compat.TIMEOUT);
                Check.that(all.containsKey(Compat.HOMEWORK_TOPIC) && all.containsKey(topic),
                        "KafkaConsumer.listTopics lacks %s or %s: %s", Compat.HOMEWORK_TOPIC, topic, all.keySet());
                checkInfos("KafkaConsumer.listTopics " + topic, all.get(topic), 3, node);
                checkInfos("KafkaConsumer.partitionsFor " + Compat.HOMEWORK_TOPIC,
                        consumer.partitionsFor(Compat.HOMEWORK_TOPIC, Compat.TIMEOUT), 2, node);
                Check.ok("KafkaConsumer listTopics/partitionsFor: %s has 2, %s has 3 partitions, led by %s:%d",
                        Compat.HOMEWORK_TOPIC, topic, node.host(), node.port());
            }
            try (KafkaProducer<byte[], byte[]> producer = c.producer(Map.of())) {
                checkInfos("KafkaProducer.partitionsFor " + topic, producer.partitionsFor(topic), 3, node);
                Check.ok("KafkaProducer.partitionsFor %s: 3 partitions", topic);
            }
        }
    }

    private static void checkPartitions(String what, TopicDescription d, int count, Node node) {
        List<Integer> ids = d.partitions().stream().map(TopicPartitionInfo::partition).sorted().toList();
        Check.eq(what + ": partitions", range(count), ids);
        for (TopicPartitionInfo p : d.partitions()) {
            Check.eq(what + ": leader of " + p.partition(), node.id(), p.leader() == null ? null : p.leader().id());
            Check.eq(what + ": replicas of " + p.partition(), List.of(node.id()), ids(p.replicas()));
            Check.eq(what + ": isr of " + p.partition(), List.of(node.id()), ids(p.isr()));
        }
    }

    private static void checkInfos(String what, List<PartitionInfo> infos, int count, Node node) {
        Check.that(infos != null, "%s: no partitions", what);
        Check.eq(what + ": partitions", range(count), infos.stream().map(PartitionInfo::partition).sorted().toList());
        for (PartitionInfo p : infos) {
            Node leader = p.leader();
            Check.that(leader != null && leader.id() == node.id() && leader.host().equals(node.host())
                    && leader.port() == node.port(), "%s: leader of %d is %s", what, p.partition(), leader);
            Check.eq(what + ": replicas of " + p.partition(), List.of(node.id()), ids(List.of(p.replicas())));
            Check.eq(what + ": in-sync replicas of " + p.partition(), List.of(node.id()),
                    ids(List.of(p.inSyncReplicas())));
        }
    }

    private static List<Integer> ids(List<Node> nodes) {
        return nodes.stream().map(Node::id).collect(Collectors.toList());
    }

    private static List<Integer> range(int n) {
        return java.util.stream.IntStream.range(0, n).boxed().toList();
    }
}
