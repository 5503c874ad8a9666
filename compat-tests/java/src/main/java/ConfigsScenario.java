import java.util.Collection;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.config.ConfigResource;

/**
 * Topic and broker configs through the AdminClient: a topic created with cleanup.policy=compact
 * and retention.ms=3600000 describes them as dynamic topic configs (and a default as a default);
 * incrementalAlterConfigs SET/DELETE change them; the broker describes its own configs.
 */
final class ConfigsScenario {
    private final Compat c;

    ConfigsScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String topic = c.topic("configs");
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        try (Admin admin = c.admin()) {
            Compat.get(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1)
                    .configs(Map.of("cleanup.policy", "compact", "retention.ms", "3600000")))).all());
            c.waitPartitions(admin, topic, 1);
            Check.ok("createTopics %s with cleanup.policy=compact, retention.ms=3600000", topic);

            Config config = describe(admin, resource);
            entry(config, "cleanup.policy", "compact", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
            entry(config, "retention.ms", "3600000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
            ConfigEntry maxBytes = config.get("max.message.bytes");
            Check.that(maxBytes != null && maxBytes.isDefault(), "max.message.bytes: %s, expected a default", maxBytes);
            Check.ok("describeConfigs %s: cleanup.policy=compact, retention.ms=3600000 (dynamic topic configs), "
                    + "max.message.bytes a default (%s)", topic, maxBytes.value());

            Compat.get(admin.incrementalAlterConfigs(Map.of(resource, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("cleanup.policy", ""), AlterConfigOp.OpType.DELETE)))).all());
            // Kafka's broker describes the change once it has replayed it from the metadata log.
            Compat.waitFor(() -> {
                try {
                    Config now = describe(admin, resource);
                    ConfigEntry p = now.get("cleanup.policy");
                    return "7200000".equals(now.get("retention.ms").value()) && p != null && p.isDefault();
                } catch (Exception e) {
                    return false;
                }
            }, "retention.ms=7200000 and the default cleanup.policy in describeConfigs");
            config = describe(admin, resource);
            entry(config, "retention.ms", "7200000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
            ConfigEntry policy = config.get("cleanup.policy");
            Check.that(policy != null && policy.isDefault() && policy.value().equals("delete"),
                    "cleanup.policy after DELETE: %s, expected the default delete", policy);
            Check.ok("incrementalAlterConfigs SET retention.ms=7200000, DELETE cleanup.policy: describeConfigs agrees");

            Collection<Node> nodes = Compat.get(admin.describeCluster().nodes());
            Node node = nodes.iterator().next();
            Config broker = describe(admin, new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(node.id())));
            Check.that(broker.entries().size() > 10, "broker %d describes only %d configs", node.id(), broker.entries().size());
            ConfigEntry partitions = broker.get("num.partitions");
            Check.that(partitions != null && partitions.value() != null, "broker config num.partitions: %s", partitions);
            Check.ok("describeConfigs of broker %d: %d configs, num.partitions=%s", node.id(), broker.entries().size(),
                    partitions.value());
        }
    }

    private static Config describe(Admin admin, ConfigResource resource) throws Exception {
        return Compat.get(admin.describeConfigs(List.of(resource)).all()).get(resource);
    }

    private static void entry(Config config, String name, String value, ConfigEntry.ConfigSource source) {
        ConfigEntry e = config.get(name);
        Check.that(e != null, "describeConfigs lacks %s", name);
        Check.eq(name, value, e.value());
        Check.eq(name + " source", source, e.source());
        Check.eq(name + " isDefault", false, e.isDefault());
    }
}
