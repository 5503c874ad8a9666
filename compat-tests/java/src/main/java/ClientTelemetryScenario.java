import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ListConfigResourcesOptions;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidRequestException;

/**
 * KIP-714 client telemetry. On both brokers: a client-metrics subscription (a CLIENT_METRICS
 * config resource) set with Admin.incrementalAlterConfigs, described back as
 * DYNAMIC_CLIENT_METRICS_CONFIG, listed by listConfigResources, an interval.ms below 100
 * refused (InvalidRequestException), removed by deleting its configs. Where the broker serves
 * client telemetry (COMPAT_TELEMETRY_METRICS names its /metrics: gregor with
 * --client-telemetry; the reference Kafka has no client-telemetry reporter, so it neither
 * advertises nor serves the telemetry APIs), a KafkaProducer with the default
 * enable.metrics.push=true, matched by its client.id, gets a client instance id and pushes its
 * producer metrics every 500 ms, and /metrics shows them labelled with that id.
 */
final class ClientTelemetryScenario {
    private final Compat c;

    ClientTelemetryScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String name = "compat-telemetry-" + c.suffix;
        String clientId = "compat-telemetry-producer-" + c.suffix;
        ConfigResource resource = new ConfigResource(ConfigResource.Type.CLIENT_METRICS, name);
        try (Admin admin = c.admin()) {
            Throwable refused = null;
            try {
                alter(admin, resource, List.of(set("interval.ms", "50")));
            } catch (ExecutionException e) {
                refused = e.getCause();
            }
            Check.raised("interval.ms=50", InvalidRequestException.class, refused);
            Check.ok("interval.ms=50 refused: %s", refused.getMessage());

            Map<String, String> want = Map.of("metrics", "org.apache.kafka.producer.", "interval.ms", "500",
                    "match", "client_id=" + clientId);
            Compat.setConfigs(admin, resource, want);
            Config config = c.get(admin.describeConfigs(List.of(resource)).all()).get(resource);
            for (Map.Entry<String, String> e : want.entrySet()) {
                ConfigEntry entry = config.get(e.getKey());
                Check.that(entry != null, "describeConfigs lacks %s: %s", e.getKey(), config);
                Check.eq(e.getKey(), e.getValue(), entry.value());
                Check.eq(e.getKey() + " source", ConfigEntry.ConfigSource.DYNAMIC_CLIENT_METRICS_CONFIG, entry.source());
            }
            Check.ok("subscription %s described back: %s", name, want);
            // Kafka applies it through its metadata log: listed once the broker has it.
            c.waitFor(() -> listed(admin).contains(name), name + " listed by listConfigResources");
            Check.ok("listConfigResources(CLIENT_METRICS) lists %s", name);

            String metricsUrl = System.getenv("COMPAT_TELEMETRY_METRICS");
            if (metricsUrl == null || metricsUrl.isEmpty()) {
                Check.ok("no client-telemetry reporter on this broker: pushing not checked");
            } else {
                pushed(metricsUrl, clientId);
            }

            alter(admin, resource, List.of(delete("metrics"), delete("interval.ms"), delete("match")));
            c.waitFor(() -> !listed(admin).contains(name), name + " gone from listConfigResources");
            Check.ok("deleting its configs removes the subscription");
        }
    }

    /** A producer pushes its metrics; /metrics shows them under its client instance id. */
    private void pushed(String metricsUrl, String clientId) throws Exception {
        String topic = c.topic("telemetry");
        try (Admin admin = c.admin()) {
            c.createTopic(admin, topic, 1);
        }
        try (KafkaProducer<byte[], byte[]> producer = c.producer(Map.of(ProducerConfig.CLIENT_ID_CONFIG, clientId))) {
            producer.send(new ProducerRecord<>(topic, "k".getBytes(), "v".getBytes())).get();
            Uuid instance = producer.clientInstanceId(Compat.TIMEOUT);
            Check.that(instance != null && !instance.equals(Uuid.ZERO_UUID), "client instance id %s", instance);
            Check.ok("producer's client instance id %s", instance);
            HttpClient http = HttpClient.newHttpClient();
            String label = "client_instance_id=\"" + instance + "\",client_id=\"" + clientId + "\"";
            String[] found = new String[1];
            c.waitFor(() -> {
                try {
                    String body = http.send(HttpRequest.newBuilder(URI.create(metricsUrl)).build(),
                            HttpResponse.BodyHandlers.ofString()).body();
                    found[0] = body.lines()
                            .filter(l -> l.startsWith("org_apache_kafka_producer_") && l.contains(label))
                            .findFirst().orElse(null);
                    return found[0] != null;
                } catch (Exception e) {
                    return false;
                }
            }, "a pushed producer metric of " + instance + " on " + metricsUrl);
            Check.ok("/metrics shows the pushed metrics, e.g. %s", found[0]);
        }
    }

    private Collection<String> listed(Admin admin) {
        try {
            return c.get(admin.listConfigResources(Set.of(ConfigResource.Type.CLIENT_METRICS),
                    new ListConfigResourcesOptions()).all()).stream().map(ConfigResource::name).toList();
        } catch (Exception e) {
            return List.of();
        }
    }

    private static AlterConfigOp set(String name, String value) {
        return new AlterConfigOp(new ConfigEntry(name, value), AlterConfigOp.OpType.SET);
    }

    private static AlterConfigOp delete(String name) {
        return new AlterConfigOp(new ConfigEntry(name, null), AlterConfigOp.OpType.DELETE);
    }

    private static void alter(Admin admin, ConfigResource resource, List<AlterConfigOp> ops) throws Exception {
        admin.incrementalAlterConfigs(Map.of(resource, ops)).all().get();
    }
}
