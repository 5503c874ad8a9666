import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The Java client (org.apache.kafka:kafka-clients) part of gregor's compatibility suite.
 *
 * <pre>java -cp 'target/compat-java.jar:target/lib/*' Compat java SCENARIO HOST:PORT</pre>
 *
 * runs one scenario against one broker, prints each thing it checked, and exits 0 when every
 * check held, 1 with a "FAIL:" line when one did not, 2 on bad usage, 3 when the whole run took
 * longer than its deadline (COMPAT_DEADLINE seconds, default 120; a thread dump goes to stderr).
 * COMPAT_CLIENT_PROPERTIES names a properties file added to every client's settings (the
 * security scenarios' SASL/TLS settings).
 *
 * Scenarios: metadata, produce_consume (every codec) or produce_consume:CODEC, list_offsets,
 * offsets_by_topic_id (OffsetCommit/OffsetFetch v10, Kafka 4.4's versions),
 * group, consumer_group (KIP-848), consumer_regex (KIP-848 regex subscriptions), group_migration (a live group
 * moved between the classic and the consumer protocol and back), group_configs (member timeouts as group configs), share_group (KIP-932), share_v2 and share_v2_errors (share.version 2), share_sessions (what share sessions a client can make a broker keep), admin, configs,
 * kafka_ui, delete_records,
 * transactions, transactions_v2, share_read_committed (a read_committed share group), streams_protocol (Kafka Streams over KIP-1071's streams groups), streams_eos (Kafka Streams,
 * exactly_once_v2, killed and restarted; its child JVM is streams_app), quotas, quota_throttle,
 * client_telemetry (KIP-714 subscriptions; pushes where COMPAT_TELEMETRY_METRICS names the broker's /metrics),
 * acls:anonymous|superuser (against a broker with ACLs on, see AclsScenario); read:TOPIC:COUNT (prints partition 0's first COUNT records, used by
 * test_hostile_produce.py and test_http_java.py); write:TOPIC:COUNT (WriteScenario, for test_http_java.py);
 * keyed_produce:TOPIC:PARTITIONS:STOPFILE and share_consume:TOPIC:GROUP:STOPFILE (the cluster kill tests). Topic and group names carry a random suffix,
 * so scenarios can run again and side by side against the same broker.
 */
public final class Compat {
    static final List<String> SCENARIOS = List.of("metadata", "produce_consume", "list_offsets", "leader_epochs", "offsets_by_topic_id", "group",
            "consumer_group", "consumer_regex", "group_migration", "group_configs", "share_group", "share_v2", "share_v2_errors", "share_sessions", "share_limit", "admin",
            "configs", "kafka_ui", "delete_records", "transactions", "transactions_v2", "share_read_committed", "streams_eos", "streams_protocol", "quotas", "quota_throttle", "acls", "client_telemetry");
    static final List<String> CODECS = List.of("none", "gzip", "snappy", "lz4", "zstd");
    static final String HOMEWORK_TOPIC = "loms.order-events";
    /** When main started: "ok" lines show the seconds since. */
    static final long T0 = System.nanoTime();

    /** Seconds any single wait may take (the suite's COMPAT_TIMEOUT). */
    static final Duration TIMEOUT = Duration.ofMillis((long) (Double.parseDouble(
            System.getenv().getOrDefault("COMPAT_TIMEOUT", "30")) * 1000));

    final String bootstrap;
    final String suffix = UUID.randomUUID().toString().replace("-", "").substring(0, 12);

    Compat(String bootstrap) {
        this.bootstrap = bootstrap;
    }

    /** How many brokers the bootstrap names (one, or a cluster's every address). */
    int brokerCount() {
        return bootstrap.split(",").length;
    }

    public static void main(String[] args) {
        if (args.length != 3 || !args[0].equals("java")) {
            System.err.println("usage: Compat java SCENARIO HOST:PORT\n  scenarios: " + String.join(", ", SCENARIOS)
                    + ", produce_consume:CODEC (" + String.join("|", CODECS) + ")");
            System.exit(2);
        }
        String scenario = args[1];
        Compat c = new Compat(args[2]);
        startWatchdog(Long.parseLong(System.getenv().getOrDefault("COMPAT_DEADLINE", "120")), scenario);
        long t0 = System.nanoTime();
        int status;
        try {
            String[] parts = scenario.split(":", 2);
            switch (parts[0]) {
                case "metadata" -> new MetadataScenario(c).run();
                case "produce_consume" -> {
                    List<String> codecs = parts.length == 2 ? List.of(parts[1]) : CODECS;
                    for (String codec : codecs) {
                        if (!CODECS.contains(codec)) throw new Usage("unknown codec " + codec);
                        new ProduceConsumeScenario(c, codec).run();
                    }
                }
                case "list_offsets" -> new ListOffsetsScenario(c).run();
                case "leader_epochs" -> new LeaderEpochsScenario(c).run();
                case "offsets_by_topic_id" -> new OffsetsByTopicIdScenario(c).run();
                case "group" -> new GroupScenario(c).run();
                case "consumer_group" -> new ConsumerProtocolScenario(c).run();
                case "consumer_regex" -> new ConsumerRegexScenario(c).run();
                case "group_migration" -> new GroupMigrationScenario(c).run();
                case "group_configs" -> new GroupConfigsScenario(c).run();
                case "share_group" -> new ShareGroupScenario(c).run();
                case "share_v2" -> new ShareV2Scenario(c).run();
                case "share_v2_errors" -> new ShareV2ErrorsScenario(c).run();
                case "share_limit" -> new ShareLimitScenario(c).run();
                case "share_sessions" -> new ShareSessionsScenario(c).run();
                case "admin" -> new AdminScenario(c).run();
                case "configs" -> new ConfigsScenario(c).run();
                case "kafka_ui" -> new KafkaUiScenario(c).run();
                case "delete_records" -> new DeleteRecordsScenario(c).run();
                case "transactions" -> new TransactionsScenario(c).run();
                case "transactions_v2" -> new TransactionsV2Scenario(c).run();
                case "share_read_committed" -> new ShareReadCommittedScenario(c).run();
                case "streams_eos" -> new StreamsEosScenario(c).run();
                case "streams_protocol" -> new StreamsProtocolScenario(c).run();
                case "streams_app" -> {
                    // streams_app:APPID:IN:OUT:STATEDIR, the child JVM of streams_eos
                    String[] a = scenario.split(":", 5);
                    if (a.length != 5) throw new Usage("streams_app:APPID:IN:OUT:STATEDIR");
                    StreamsEosScenario.runApp(c, a[1], a[2], a[3], a[4]);
                }
                case "quotas" -> new QuotasScenario(c).run();
                case "quota_throttle" -> new QuotaThrottleScenario(c).run();
                case "client_telemetry" -> new ClientTelemetryScenario(c).run();
                case "acls" -> {
                    // acls:anonymous (allow.everyone.if.no.acl.found) or acls:superuser
                    if (parts.length != 2 || !List.of("anonymous", "superuser").contains(parts[1])) {
                        throw new Usage("acls:anonymous or acls:superuser");
                    }
                    new AclsScenario(c, parts[1].equals("superuser")).run();
                }
                case "read" -> {
                    // read:TOPIC:COUNT (TOPIC may not hold ':'; Kafka topic names cannot)
                    String[] a = scenario.split(":");
                    if (a.length != 3) throw new Usage("read:TOPIC:COUNT");
                    new ReadScenario(c, a[1], Integer.parseInt(a[2])).run();
                }
                case "write" -> {
                    // write:TOPIC:COUNT (TOPIC may not hold ':')
                    String[] a = scenario.split(":");
                    if (a.length != 3) throw new Usage("write:TOPIC:COUNT");
                    new WriteScenario(c, a[1], Integer.parseInt(a[2])).run();
                }
                case "keyed_produce" -> {
                    // keyed_produce:TOPIC:PARTITIONS:STOPFILE (for the cluster kill tests)
                    String[] a = scenario.split(":", 4);
                    if (a.length != 4) throw new Usage("keyed_produce:TOPIC:PARTITIONS:STOPFILE");
                    new KeyedProduceScenario(c, a[1], Integer.parseInt(a[2]), java.nio.file.Path.of(a[3])).run();
                }
                case "share_consume" -> {
                    // share_consume:TOPIC:GROUP:STOPFILE (for the cluster kill tests)
                    String[] a = scenario.split(":", 4);
                    if (a.length != 4) throw new Usage("share_consume:TOPIC:GROUP:STOPFILE");
                    new ShareConsumeScenario(c, a[1], a[2], java.nio.file.Path.of(a[3])).run();
                }
                default -> throw new Usage("unknown scenario " + scenario);
            }
            System.out.printf("PASS: java %s against %s (%d ms)%n", scenario, c.bootstrap,
                    (System.nanoTime() - t0) / 1_000_000);
            status = 0;
        } catch (Usage e) {
            System.err.println("usage error: " + e.getMessage());
            status = 2;
        } catch (Throwable e) {
            System.out.flush();
            StringWriter sw = new StringWriter();
            e.printStackTrace(new PrintWriter(sw));
            System.err.print(sw);
            System.out.printf("FAIL: java %s against %s: %s%n", scenario, c.bootstrap, describe(e));
            status = 1;
        }
        System.out.flush();
        System.err.flush();
        // Clients' background threads must not keep a failed run alive.
        Runtime.getRuntime().halt(status);
    }

    static final class Usage extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Usage(String m) {
            super(m);
        }
    }

    static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (sb.length() > 0) sb.append(" <- ");
            sb.append(t instanceof Check.Failure ? t.getMessage() : t.getClass().getName() + ": " + t.getMessage());
            if (t.getCause() == t) break;
        }
        return sb.toString();
    }

    static void startWatchdog(long seconds, String scenario) {
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(seconds * 1000);
            } catch (InterruptedException e) {
                return;
            }
            System.err.println("thread dump after " + seconds + " s:");
            for (ThreadInfo ti : ManagementFactory.getThreadMXBean().dumpAllThreads(false, false)) {
                System.err.print(ti);
            }
            System.out.printf("FAIL: java %s: still running after %d s (COMPAT_DEADLINE); thread dump on stderr%n",
                    scenario, seconds);
            System.out.flush();
            System.err.flush();
            Runtime.getRuntime().halt(3);
        }, "compat-watchdog");
        t.setDaemon(true);
        t.start();
    }

    // ------------------------------------------------------------------ names and clients

    String topic(String label) {
        return "compat.java-" + label + "." + suffix;
    }

    String group(String label) {
        return "compat.java-" + label + "." + suffix;
    }

    /** The first bootstrap address's host (raw-request scenarios dial it). */
    String host() {
        String first = bootstrap.split(",")[0];
        return first.substring(0, first.lastIndexOf(':'));
    }

    int port() {
        String first = bootstrap.split(",")[0];
        return Integer.parseInt(first.substring(first.lastIndexOf(':') + 1));
    }

    Properties common(String role) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", "gregor-compat-java-" + role);
        p.put("request.timeout.ms", (int) TIMEOUT.toMillis());
        p.put("default.api.timeout.ms", (int) TIMEOUT.toMillis());
        // Security settings (security.protocol, sasl.*, ssl.*) of the secured brokers
        // (compat-tests/python/secured.py), from a properties file, for every client.
        String extra = System.getenv("COMPAT_CLIENT_PROPERTIES");
        if (extra != null && !extra.isEmpty()) {
            try (var in = new java.io.FileInputStream(extra)) {
                p.load(in);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("reading COMPAT_CLIENT_PROPERTIES " + extra, e);
            }
        }
        return p;
    }

    Admin admin() {
        Properties p = common("admin");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
        return Admin.create(p);
    }

    /** A KafkaProducer with the client's defaults (idempotent, acks=all) unless overridden. */
    KafkaProducer<byte[], byte[]> producer(Map<String, Object> extra) {
        Properties p = common("producer");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis() + 5000);
        p.putAll(extra);
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    /** A consumer; groupId null = group-less (assign/seek only). */
    KafkaConsumer<byte[], byte[]> consumer(String groupId, Map<String, Object> extra) {
        Properties p = common("consumer");
        if (groupId != null) p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100);
        p.putAll(extra);
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    /** Creates a topic with the AdminClient and waits until every partition has a leader. */
    void createTopic(Admin admin, String name, int partitions) throws Exception {
        get(admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1))).all());
        waitPartitions(admin, name, partitions);
    }

    void waitPartitions(Admin admin, String name, int partitions) {
        waitFor(() -> {
            try {
                TopicDescription d = get(admin.describeTopics(List.of(name)).allTopicNames()).get(name);
                return d.partitions().size() == partitions
                        && d.partitions().stream().allMatch(p -> p.leader() != null && p.leader().id() >= 0);
            } catch (Exception e) {
                return false;
            }
        }, name + " with " + partitions + " partitions with leaders");
    }

    // ------------------------------------------------------------------ waiting

    static <T> T get(KafkaFuture<T> f) throws Exception {
        try {
            return f.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception ex) throw ex;
            throw e;
        } catch (TimeoutException e) {
            throw new Check.Failure("an AdminClient call got no answer within " + TIMEOUT.toSeconds()
                    + " s (the stack trace on stderr says which)");
        }
    }

    /** The exception a future failed with (its cause), or null when it succeeded. */
    static Throwable failure(KafkaFuture<?> f) throws Exception {
        try {
            f.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (TimeoutException e) {
            throw new Check.Failure("an AdminClient call got no answer within " + TIMEOUT.toSeconds()
                    + " s (the stack trace on stderr says which)");
        }
    }

    /**
     * Set configs of a group (incrementalAlterConfigs SET on the GROUP resource) and wait until
     * they are described: see {@link #setConfigs}.
     */
    static void setGroupConfigs(Admin admin, String group, Map<String, String> configs) throws Exception {
        setConfigs(admin, new ConfigResource(ConfigResource.Type.GROUP, group), configs);
    }

    /**
     * incrementalAlterConfigs SET of these configs on a resource, then wait until describeConfigs
     * shows them: Kafka's controller answers once the change is in its metadata log, and the
     * broker describes (and applies) it only after replaying that log.
     */
    static void setConfigs(Admin admin, ConfigResource resource, Map<String, String> configs) throws Exception {
        List<AlterConfigOp> ops = configs.entrySet().stream()
                .map(e -> new AlterConfigOp(new ConfigEntry(e.getKey(), e.getValue()), AlterConfigOp.OpType.SET))
                .toList();
        get(admin.incrementalAlterConfigs(Map.of(resource, ops)).all());
        waitFor(() -> {
            try {
                Config now = get(admin.describeConfigs(List.of(resource)).all()).get(resource);
                return configs.entrySet().stream().allMatch(e -> {
                    ConfigEntry got = now.get(e.getKey());
                    return got != null && e.getValue().equals(got.value());
                });
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, resource + " described with " + configs);
    }

    static void waitFor(BooleanSupplier cond, String what) {
        waitFor(cond, what, () -> "");
    }

    static void waitFor(BooleanSupplier cond, String what, Supplier<String> state) {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new Check.Failure("timed out after " + TIMEOUT.toSeconds() + " s waiting for " + what
                        + " " + state.get());
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                throw new RuntimeException(e);
            }
        }
    }

    static byte[] utf8(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }

    static String show(byte[] b) {
        if (b == null) return "null";
        String s = new String(b, StandardCharsets.UTF_8);
        return s.length() > 40 ? s.substring(0, 40) + "…(" + b.length + " bytes)" : s;
    }

    static boolean same(byte[] a, byte[] b) {
        return Arrays.equals(a, b);
    }
}
