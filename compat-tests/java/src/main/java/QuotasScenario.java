import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterClientQuotasOptions;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;

/**
 * AlterClientQuotas through the AdminClient (issue 18: gregor closed the connection). Both
 * brokers: invalid entries → InvalidRequestException with Kafka's message (value 0, an unknown
 * key, a fractional byte rate, IP combined with a user, an entity named twice), removing a quota
 * that was never set succeeds, and the connection keeps serving (describeCluster). Setting a
 * valid quota differs by design, so the scenario is told which answer to expect:
 * {@code quotas:stores} (Kafka: validateOnly succeeds; a real set succeeds, describeClientQuotas
 * shows it, removing it empties it again) or {@code quotas:unsupported} (gregor, which enforces
 * no quotas yet: UnsupportedVersionException "gregor does not enforce client quotas yet", for
 * validateOnly too, and describeClientQuotas shows nothing).
 */
final class QuotasScenario {
    private final Compat c;
    private final boolean stores;

    QuotasScenario(Compat c, boolean stores) {
        this.c = c;
        this.stores = stores;
    }

    private ClientQuotaEntity user(String label) {
        return new ClientQuotaEntity(Map.of(ClientQuotaEntity.USER, "compat-java-" + label + "-" + c.suffix));
    }

    private static ClientQuotaAlteration set(ClientQuotaEntity e, String key, Double value) {
        return new ClientQuotaAlteration(e, List.of(new ClientQuotaAlteration.Op(key, value)));
    }

    /** Each entity's outcome: null for success, else the exception. */
    private static Map<ClientQuotaEntity, Throwable> alter(Admin admin, List<ClientQuotaAlteration> entries,
            boolean validateOnly) throws Exception {
        Map<ClientQuotaEntity, KafkaFuture<Void>> futures = admin.alterClientQuotas(entries,
                new AlterClientQuotasOptions().validateOnly(validateOnly)).values();
        Map<ClientQuotaEntity, Throwable> out = new HashMap<>();
        for (Map.Entry<ClientQuotaEntity, KafkaFuture<Void>> f : futures.entrySet()) {
            out.put(f.getKey(), Compat.failure(f.getValue()));
        }
        return out;
    }

    private static void invalid(String what, Throwable t, String message) {
        Check.raised(what, InvalidRequestException.class, t);
        Check.eq(what + ": message", message, t.getMessage());
    }

    private Map<ClientQuotaEntity, Map<String, Double>> describe(Admin admin, ClientQuotaEntity e) throws Exception {
        List<ClientQuotaFilterComponent> components = new ArrayList<>();
        e.entries().forEach((k, v) -> components.add(ClientQuotaFilterComponent.ofEntity(k, v)));
        return Compat.get(admin.describeClientQuotas(ClientQuotaFilter.containsOnly(components)).entities());
    }

    void run() throws Exception {
        try (Admin admin = c.admin()) {
            ClientQuotaEntity zero = user("zero");
            ClientQuotaEntity unknownKey = user("unknown-key");
            ClientQuotaEntity fractional = new ClientQuotaEntity(
                    Map.of(ClientQuotaEntity.CLIENT_ID, "compat-java-fractional-" + c.suffix));
            Map<String, String> ipAndUser = new LinkedHashMap<>();
            ipAndUser.put(ClientQuotaEntity.IP, "127.0.0.1");
            ipAndUser.put(ClientQuotaEntity.USER, "compat-java-ip-" + c.suffix);
            ClientQuotaEntity ipUser = new ClientQuotaEntity(ipAndUser);
            ClientQuotaEntity removal = user("remove");
            ClientQuotaEntity twice = user("twice");
            Map<ClientQuotaEntity, Throwable> r = alter(admin, List.of(
                    set(zero, "producer_byte_rate", 0.0),
                    set(unknownKey, "bogus_rate", 5.0),
                    set(fractional, "consumer_byte_rate", 1.5),
                    set(ipUser, "connection_creation_rate", 5.0),
                    set(removal, "producer_byte_rate", null),
                    set(twice, "producer_byte_rate", null),
                    set(twice, "consumer_byte_rate", null)), false);
            invalid("producer_byte_rate 0", r.get(zero), "Quota producer_byte_rate must be greater than 0");
            invalid("unknown key", r.get(unknownKey), "Invalid configuration key bogus_rate");
            invalid("fractional consumer_byte_rate", r.get(fractional), "consumer_byte_rate cannot be a fractional value.");
            invalid("ip with user", r.get(ipUser),
                    "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId");
            Check.that(r.get(removal) == null, "removing a quota never set: %s", r.get(removal));
            invalid("an entity twice", r.get(twice), "Ignoring duplicate entity " + twice);
            Check.ok("alterClientQuotas, one request: value 0, unknown key, fractional byte rate, ip + user, an entity "
                    + "twice → InvalidRequestException with Kafka's messages; removing a quota never set → success");

            Check.that(!Compat.get(admin.describeCluster().nodes()).isEmpty(), "describeCluster after alterClientQuotas");
            Check.ok("the connection still serves (describeCluster)");

            Map<String, String> both = new LinkedHashMap<>();
            both.put(ClientQuotaEntity.USER, "compat-java-set-" + c.suffix);
            both.put(ClientQuotaEntity.CLIENT_ID, "compat-java-set-" + c.suffix);
            ClientQuotaEntity entity = new ClientQuotaEntity(both);
            ClientQuotaAlteration setting = new ClientQuotaAlteration(entity, List.of(
                    new ClientQuotaAlteration.Op("producer_byte_rate", 1048576.0),
                    new ClientQuotaAlteration.Op("request_percentage", 50.0)));
            for (boolean validateOnly : List.of(true, false)) {
                Throwable t = alter(admin, List.of(setting), validateOnly).get(entity);
                String what = (validateOnly ? "validateOnly " : "") + "producer_byte_rate=1048576, request_percentage=50";
                if (stores) {
                    Check.that(t == null, "%s: %s", what, t);
                } else {
                    Check.raised(what, UnsupportedVersionException.class, t);
                    Check.that(t.getMessage().startsWith("gregor does not enforce client quotas yet"),
                            "%s: message %s", what, t.getMessage());
                }
                Check.ok("%s for user+client-id → %s", what, t == null ? "success" : t.getMessage());
            }
            if (stores) {
                Map<String, Double> want = Map.of("producer_byte_rate", 1048576.0, "request_percentage", 50.0);
                Compat.waitFor(() -> {
                    try {
                        return want.equals(describe(admin, entity).get(entity));
                    } catch (Exception e) {
                        return false;
                    }
                }, "describeClientQuotas to show the quotas set");
                Check.ok("describeClientQuotas shows %s", want);
                ClientQuotaAlteration removeBoth = new ClientQuotaAlteration(entity, List.of(
                        new ClientQuotaAlteration.Op("producer_byte_rate", null),
                        new ClientQuotaAlteration.Op("request_percentage", null)));
                Check.that(alter(admin, List.of(removeBoth), false).get(entity) == null, "removing them");
                Compat.waitFor(() -> {
                    try {
                        return describe(admin, entity).isEmpty();
                    } catch (Exception e) {
                        return false;
                    }
                }, "describeClientQuotas to show no quotas again");
                Check.ok("removed: describeClientQuotas shows none");
            } else {
                Check.eq("describeClientQuotas", Map.of(), describe(admin, entity));
                Check.ok("describeClientQuotas shows none");
            }
        }
    }
}
