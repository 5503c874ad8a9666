import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterClientQuotasOptions;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;

/**
 * AlterClientQuotas and DescribeClientQuotas through the AdminClient (issue 18: gregor closed the
 * connection; issue 16: quotas stored). Invalid entries → InvalidRequestException with Kafka's
 * message (value 0, an unknown key, a fractional byte rate, IP combined with a user, an entity
 * named twice), removing a quota that was never set succeeds, and the connection keeps serving
 * (describeCluster). validateOnly stores nothing; a real set is shown by describeClientQuotas
 * with Kafka's filters (exact, default, specified, strict), and removing it empties it again.
 */
final class QuotasScenario {
    private final Compat c;

    QuotasScenario(Compat c) {
        this.c = c;
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
        e.entries().forEach((k, v) -> components.add(v == null ? ClientQuotaFilterComponent.ofDefaultEntity(k)
                : ClientQuotaFilterComponent.ofEntity(k, v)));
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
            Throwable v = alter(admin, List.of(setting), true).get(entity);
            Check.that(v == null, "validateOnly producer_byte_rate=1048576, request_percentage=50: %s", v);
            Check.eq("describeClientQuotas after validateOnly", Map.of(), describe(admin, entity));
            Check.ok("validateOnly for user+client-id → success, nothing stored");

            // A default client-id quota for the same user, to tell the filters apart.
            Map<String, String> userDefault = new LinkedHashMap<>();
            userDefault.put(ClientQuotaEntity.USER, "compat-java-set-" + c.suffix);
            userDefault.put(ClientQuotaEntity.CLIENT_ID, null);
            ClientQuotaEntity defaultClient = new ClientQuotaEntity(userDefault);
            Map<ClientQuotaEntity, Throwable> set = alter(admin, List.of(setting,
                    set(defaultClient, "consumer_byte_rate", 2048.0)), false);
            Check.that(set.get(entity) == null && set.get(defaultClient) == null, "setting them: %s", set);
            Map<String, Double> want = Map.of("producer_byte_rate", 1048576.0, "request_percentage", 50.0);
            Compat.waitFor(() -> {
                try {
                    return want.equals(describe(admin, entity).get(entity));
                } catch (Exception e) {
                    return false;
                }
            }, "describeClientQuotas to show the quotas set");
            Check.ok("describeClientQuotas (exact user and client-id, strict) shows %s", want);

            String user = "compat-java-set-" + c.suffix;
            Map<ClientQuotaEntity, Map<String, Double>> byUser = Compat.get(admin.describeClientQuotas(
                    ClientQuotaFilter.contains(List.of(ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user))))
                    .entities());
            Check.eq("filter user=" + user + " (not strict)", Map.of(entity, want, defaultClient,
                    Map.of("consumer_byte_rate", 2048.0)), byUser);
            Map<ClientQuotaEntity, Map<String, Double>> defaults = Compat.get(admin.describeClientQuotas(
                    ClientQuotaFilter.containsOnly(List.of(
                            ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user),
                            ClientQuotaFilterComponent.ofDefaultEntity(ClientQuotaEntity.CLIENT_ID))))
                    .entities());
            Check.eq("filter user=" + user + ", default client-id (strict)",
                    Map.of(defaultClient, Map.of("consumer_byte_rate", 2048.0)), defaults);
            Map<ClientQuotaEntity, Map<String, Double>> userOnly = Compat.get(admin.describeClientQuotas(
                    ClientQuotaFilter.containsOnly(List.of(
                            ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user))))
                    .entities());
            Check.eq("filter user=" + user + " (strict: user-only entities)", Map.of(), userOnly);
            Map<ClientQuotaEntity, Map<String, Double>> specified = Compat.get(admin.describeClientQuotas(
                    ClientQuotaFilter.contains(List.of(
                            ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.USER, user),
                            ClientQuotaFilterComponent.ofEntityType(ClientQuotaEntity.CLIENT_ID))))
                    .entities());
            Check.eq("filter user=" + user + ", any client-id", 2, specified.size());
            Check.ok("filters: exact user (2 entities), exact user + default client-id (1), strict exact user (0), "
                    + "exact user + specified client-id (2)");

            ClientQuotaAlteration removeBoth = new ClientQuotaAlteration(entity, List.of(
                    new ClientQuotaAlteration.Op("producer_byte_rate", null),
                    new ClientQuotaAlteration.Op("request_percentage", null)));
            ClientQuotaAlteration removeDefault = set(defaultClient, "consumer_byte_rate", null);
            Map<ClientQuotaEntity, Throwable> removed = alter(admin, List.of(removeBoth, removeDefault), false);
            Check.that(removed.get(entity) == null && removed.get(defaultClient) == null, "removing them: %s", removed);
            Compat.waitFor(() -> {
                try {
                    return describe(admin, entity).isEmpty() && describe(admin, defaultClient).isEmpty();
                } catch (Exception e) {
                    return false;
                }
            }, "describeClientQuotas to show no quotas again");
            Check.ok("removed: describeClientQuotas shows none");
        }
    }
}
