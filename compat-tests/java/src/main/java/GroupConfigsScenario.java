import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.message.ConsumerGroupHeartbeatRequestData;
import org.apache.kafka.common.message.FindCoordinatorRequestData;
import org.apache.kafka.common.message.ShareGroupHeartbeatRequestData;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.requests.AbstractResponse;
import org.apache.kafka.common.requests.ConsumerGroupHeartbeatRequest;
import org.apache.kafka.common.requests.ConsumerGroupHeartbeatResponse;
import org.apache.kafka.common.requests.FindCoordinatorRequest;
import org.apache.kafka.common.requests.FindCoordinatorResponse;
import org.apache.kafka.common.requests.ShareGroupHeartbeatRequest;
import org.apache.kafka.common.requests.ShareGroupHeartbeatResponse;

/**
 * The member timeouts of KIP-848 consumer groups and KIP-932 share groups as group configs
 * (consumer.session.timeout.ms, consumer.heartbeat.interval.ms, share.*): set through the
 * AdminClient, described back as the group's own, refused outside the broker's bounds, and the
 * heartbeat interval a joining member is told follows them (raw heartbeats, which carry it).
 */
final class GroupConfigsScenario {
    private final Compat c;

    GroupConfigsScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String topic = c.topic("group-configs");
        String consumerGroup = c.group("group-configs-consumer");
        String shareGroup = c.group("group-configs-share");
        try (Admin admin = c.admin()) {
            c.createTopic(admin, topic, 1);
            Compat.setGroupConfigs(admin, consumerGroup, Map.of("consumer.session.timeout.ms", "50000",
                    "consumer.heartbeat.interval.ms", "6000"));
            Compat.setGroupConfigs(admin, shareGroup, Map.of("share.heartbeat.interval.ms", "7000",
                    "share.partition.max.record.locks", "100"));
            Config consumer = describe(admin, consumerGroup);
            for (String name : List.of("consumer.session.timeout.ms", "consumer.heartbeat.interval.ms")) {
                Check.eq(name + " source", ConfigEntry.ConfigSource.DYNAMIC_GROUP_CONFIG, consumer.get(name).source());
            }
            Check.eq("consumer.session.timeout.ms", "50000", consumer.get("consumer.session.timeout.ms").value());
            Config share = describe(admin, shareGroup);
            Check.eq("share.heartbeat.interval.ms", "7000", share.get("share.heartbeat.interval.ms").value());
            Check.eq("share.partition.max.record.locks", "100", share.get("share.partition.max.record.locks").value());
            Check.ok("consumer.* and share.* timeouts set and described as the groups' own");
            for (Map.Entry<String, String> bad : List.of(Map.entry("consumer.session.timeout.ms", "44999"),
                    Map.entry("consumer.heartbeat.interval.ms", "15001"), Map.entry("share.session.timeout.ms", "60001"),
                    Map.entry("share.partition.max.record.locks", "4001"))) {
                Throwable error = null;
                try {
                    alter(admin, consumerGroup, Map.ofEntries(bad));
                } catch (ExecutionException e) {
                    error = e.getCause();
                }
                Check.raised(bad.getKey() + "=" + bad.getValue(), InvalidConfigurationException.class, error);
            }
            Check.eq("unchanged after refusals", "50000",
                    describe(admin, consumerGroup).get("consumer.session.timeout.ms").value());
            Check.ok("values outside the broker's bounds refused with INVALID_CONFIG");
        }
        try (RawConnection raw = new RawConnection(c, "compat-group-configs")) {
            String member = Uuid.randomUuid().toString();
            findCoordinator(raw, consumerGroup);
            ConsumerGroupHeartbeatResponse joined = retry(() -> raw.call(new ConsumerGroupHeartbeatRequest.Builder(
                    new ConsumerGroupHeartbeatRequestData().setGroupId(consumerGroup).setMemberId(member).setMemberEpoch(0)
                            .setRebalanceTimeoutMs(30_000).setSubscribedTopicNames(List.of(topic)).setTopicPartitions(List.of()))
                    .build((short) 1)));
            Check.eq("consumer member's heartbeat interval", 6000, joined.data().heartbeatIntervalMs());
            raw.call(new ConsumerGroupHeartbeatRequest.Builder(new ConsumerGroupHeartbeatRequestData()
                    .setGroupId(consumerGroup).setMemberId(member).setMemberEpoch(-1)).build((short) 1));
            findCoordinator(raw, shareGroup);
            ShareGroupHeartbeatResponse shared = retry(() -> raw.call(new ShareGroupHeartbeatRequest.Builder(
                    new ShareGroupHeartbeatRequestData().setGroupId(shareGroup).setMemberId(member).setMemberEpoch(0)
                            .setSubscribedTopicNames(List.of(topic))).build((short) 1)));
            Check.eq("share member's heartbeat interval", 7000, shared.data().heartbeatIntervalMs());
            raw.call(new ShareGroupHeartbeatRequest.Builder(new ShareGroupHeartbeatRequestData()
                    .setGroupId(shareGroup).setMemberId(member).setMemberEpoch(-1)).build((short) 1));
            Check.ok("joining members are told the groups' heartbeat intervals (6000, 7000 ms)");
        }
    }

    private static void alter(Admin admin, String group, Map<String, String> configs) throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
        List<AlterConfigOp> ops = configs.entrySet().stream()
                .map(e -> new AlterConfigOp(new ConfigEntry(e.getKey(), e.getValue()), AlterConfigOp.OpType.SET))
                .toList();
        admin.incrementalAlterConfigs(Map.of(resource, ops)).all().get();
    }

    private static Config describe(Admin admin, String group) throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
        return Compat.get(admin.describeConfigs(List.of(resource)).all()).get(resource);
    }

    /** FindCoordinator until the group's coordinator answers (Kafka creates its offsets topic first). */
    private static void findCoordinator(RawConnection raw, String group) throws Exception {
        retry(() -> {
            FindCoordinatorResponse r = raw.call(new FindCoordinatorRequest.Builder(new FindCoordinatorRequestData()
                    .setKeyType((byte) 0).setCoordinatorKeys(List.of(group))).build((short) 4));
            return r;
        });
    }

    interface Call<R> {
        R call() throws Exception;
    }

    /** The call again while it answers a retriable error (coordinator loading or moving). */
    private static <R extends AbstractResponse> R retry(Call<R> call) throws Exception {
        long until = System.nanoTime() + Compat.TIMEOUT.toNanos();
        while (true) {
            R r = call.call();
            boolean retriable = r.errorCounts().keySet().stream().anyMatch(e -> e != Errors.NONE
                    && (e == Errors.COORDINATOR_LOAD_IN_PROGRESS || e == Errors.COORDINATOR_NOT_AVAILABLE
                    || e == Errors.NOT_COORDINATOR));
            Check.that(r.errorCounts().keySet().stream().allMatch(e -> e == Errors.NONE) || retriable,
                    "unexpected errors %s", r.errorCounts());
            if (!retriable) return r;
            Check.that(System.nanoTime() < until, "still %s", r.errorCounts());
            Thread.sleep(200);
        }
    }
}
