import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.GroupAuthorizationException;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.TransactionalIdAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

/**
 * ACLs through the AdminClient, as User:ANONYMOUS (PLAINTEXT has no other principal), against a
 * broker with the ACL authorizer on.
 *
 * <ul>
 * <li>{@code acls:anonymous} (allow.everyone.if.no.acl.found=true, no super user): createAcls
 * (invalid bindings refused), describeAcls (filters, MATCH), then what the bindings do to the
 * clients: a topic with a DENY WRITE refuses produce and disappears from listTopics; a DENY READ
 * beats an ALLOW ALL (produce works, consume fails); PREFIXED ALLOW and a longer PREFIXED DENY;
 * a group and a transactional id that name another user refuse ANONYMOUS; cluster ACLs that leave
 * out CREATE and DELETE refuse topic creation and deletion unless a topic ACL allows it;
 * deleteAcls removes every binding the scenario made.</li>
 * <li>{@code acls:superuser} (super.users=User:ANONYMOUS, allow.everyone.if.no.acl.found=false):
 * a DENY ALL binding does not stop a super user.</li>
 * </ul>
 */
final class AclsScenario {
    private static final String ME = "User:ANONYMOUS";
    private final Compat c;
    private final boolean superUser;

    AclsScenario(Compat c, boolean superUser) {
        this.c = c;
        this.superUser = superUser;
    }

    static AclBinding binding(ResourceType rt, String name, PatternType pt, String principal, AclOperation op,
            AclPermissionType perm) {
        return new AclBinding(new ResourcePattern(rt, name, pt), new AccessControlEntry(principal, "*", op, perm));
    }

    static AclBinding topicAcl(String name, PatternType pt, AclOperation op, AclPermissionType perm) {
        return binding(ResourceType.TOPIC, name, pt, ME, op, perm);
    }

    void run() throws Exception {
        try (Admin admin = c.admin()) {
            if (superUser) {
                superUser(admin);
            } else {
                anonymous(admin);
            }
        }
    }

    private void superUser(Admin admin) throws Exception {
        String t = c.topic("acl-su");
        c.createTopic(admin, t, 1);
        AclBinding denyAll = topicAcl(t, PatternType.LITERAL, AclOperation.ALL, AclPermissionType.DENY);
        createSettled(admin, List.of(denyAll));
        produce(t, "as a super user");
        Check.ok("a super user produces to a topic whose ACLs deny it everything");
        Check.that(Compat.get(admin.listTopics().names()).contains(t), "listTopics shows %s", t);
        Compat.get(admin.deleteAcls(List.of(denyAll.toFilter())).all());
        Compat.get(admin.deleteTopics(List.of(t)).all());
        Check.ok("and deletes it");
    }

    private void anonymous(Admin admin) throws Exception {
        AclBindingFilter mine = new AclBindingFilter(ResourcePatternFilter.ANY,
                new AccessControlEntryFilter(null, null, AclOperation.ANY, AclPermissionType.ANY));
        // Invalid bindings: Kafka's InvalidRequestException.
        AclBinding badCluster = binding(ResourceType.CLUSTER, "other", PatternType.LITERAL, ME, AclOperation.ALTER,
                AclPermissionType.ALLOW);
        Check.raised("a CLUSTER binding not named kafka-cluster", InvalidRequestException.class,
                Compat.failure(admin.createAcls(List.of(badCluster)).all()));
        Check.ok("createAcls refuses a cluster binding with another name");

        String denied = c.topic("acl-denied");
        String mixed = c.topic("acl-mixed");
        String prefix = c.topic("acl-pre") + ".";
        for (String t : List.of(denied, mixed, prefix + "open", prefix + "secret.x")) c.createTopic(admin, t, 1);
        List<AclBinding> topicAcls = List.of(
                topicAcl(denied, PatternType.LITERAL, AclOperation.WRITE, AclPermissionType.DENY),
                topicAcl(mixed, PatternType.LITERAL, AclOperation.ALL, AclPermissionType.ALLOW),
                topicAcl(mixed, PatternType.LITERAL, AclOperation.READ, AclPermissionType.DENY),
                topicAcl(prefix, PatternType.PREFIXED, AclOperation.ALL, AclPermissionType.ALLOW),
                topicAcl(prefix + "secret", PatternType.PREFIXED, AclOperation.ALL, AclPermissionType.DENY));
        createSettled(admin, topicAcls);
        Collection<AclBinding> described = Compat.get(admin.describeAcls(new AclBindingFilter(
                new ResourcePatternFilter(ResourceType.TOPIC, mixed, PatternType.LITERAL),
                AccessControlEntryFilter.ANY)).values());
        Check.eq("describeAcls of " + mixed, Set.of(topicAcls.get(1), topicAcls.get(2)), Set.copyOf(described));
        Collection<AclBinding> matching = Compat.get(admin.describeAcls(new AclBindingFilter(
                new ResourcePatternFilter(ResourceType.TOPIC, prefix + "secret.x", PatternType.MATCH),
                AccessControlEntryFilter.ANY)).values());
        Check.eq("describeAcls MATCH " + prefix + "secret.x", Set.of(topicAcls.get(3), topicAcls.get(4)),
                Set.copyOf(matching));
        Check.ok("createAcls and describeAcls (literal, MATCH)");

        Check.raised("produce to " + denied, TopicAuthorizationException.class, produceFailure(denied));
        Set<String> listed = Compat.get(admin.listTopics().names());
        Check.that(!listed.contains(denied), "listTopics leaves out %s (no DESCRIBE): %s", denied, listed);
        Check.that(listed.contains(mixed), "listTopics shows %s", mixed);
        Check.raised("describeTopics " + denied, TopicAuthorizationException.class,
                Compat.failure(admin.describeTopics(List.of(denied)).allTopicNames()));
        Check.ok("DENY WRITE: produce refused, the topic is not listed nor described");

        produce(mixed, "allowed");
        Check.raised("consume " + mixed, TopicAuthorizationException.class, consumeFailure(mixed, null));
        Check.ok("DENY READ beats ALLOW ALL: produce works, consume fails");

        produce(prefix + "open", "prefixed");
        Check.raised("produce to " + prefix + "secret.x", TopicAuthorizationException.class,
                produceFailure(prefix + "secret.x"));
        Check.ok("PREFIXED ALLOW %s*, PREFIXED DENY %ssecret*", prefix, prefix);

        // A group and a transactional id with ACLs for someone else only.
        String group = c.group("acl-group");
        String txn = "compat-java-acl-txn-" + c.suffix;
        List<AclBinding> others = List.of(
                binding(ResourceType.GROUP, group, PatternType.LITERAL, "User:bob", AclOperation.READ,
                        AclPermissionType.ALLOW),
                binding(ResourceType.TRANSACTIONAL_ID, txn, PatternType.LITERAL, "User:bob", AclOperation.WRITE,
                        AclPermissionType.ALLOW));
        createSettled(admin, others);
        String readable = prefix + "open";
        Check.raised("joining " + group, GroupAuthorizationException.class, consumeFailure(readable, group));
        Check.raised("describeConsumerGroups " + group, GroupAuthorizationException.class,
                Compat.failure(admin.describeConsumerGroups(List.of(group)).all()));
        Check.ok("a group whose ACLs name only User:bob refuses ANONYMOUS");
        Throwable initTxn;
        try (KafkaProducer<byte[], byte[]> p = c.producer(Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txn))) {
            initTxn = catching(p::initTransactions);
        }
        Check.raised("initTransactions " + txn, TransactionalIdAuthorizationException.class, initTxn);
        Check.ok("a transactional id whose ACLs name only User:bob refuses ANONYMOUS");

        // Cluster ACLs: everything the broker and this client need but CREATE and DELETE.
        List<AclBinding> cluster = new java.util.ArrayList<>();
        for (AclOperation op : List.of(AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.CLUSTER_ACTION,
                AclOperation.IDEMPOTENT_WRITE, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS)) {
            cluster.add(binding(ResourceType.CLUSTER, "kafka-cluster", PatternType.LITERAL, ME, op,
                    AclPermissionType.ALLOW));
        }
        // Kafka creates its internal topics (__consumer_offsets, ...) as the client's principal.
        cluster.add(topicAcl("__", PatternType.PREFIXED, AclOperation.CREATE, AclPermissionType.ALLOW));
        String creatable = c.topic("acl-create") + ".";
        cluster.add(topicAcl(creatable, PatternType.PREFIXED, AclOperation.CREATE, AclPermissionType.ALLOW));
        // A topic some ACL names, none allowing CREATE (a topic no ACL names would be open).
        String refused = c.topic("acl-nocreate");
        cluster.add(topicAcl(refused, PatternType.LITERAL, AclOperation.DESCRIBE, AclPermissionType.ALLOW));
        createSettled(admin, cluster);
        try {
            Check.raised("createTopics " + refused, TopicAuthorizationException.class, Compat.failure(
                    admin.createTopics(List.of(new NewTopic(refused, 1, (short) 1))).all()));
            Compat.get(admin.createTopics(List.of(new NewTopic(creatable + "one", 1, (short) 1))).all());
            Check.ok("without CREATE on the cluster: a topic is created only with a CREATE ACL");
            Check.raised("deleteTopics " + denied, TopicAuthorizationException.class,
                    Compat.failure(admin.deleteTopics(List.of(denied)).all()));
            Check.ok("without DELETE on the cluster nor the topic: deleteTopics refused");
        } finally {
            Compat.get(admin.deleteAcls(cluster.stream().map(AclBinding::toFilter).toList()).all());
        }

        // Every binding this scenario made goes; deleteTopics works again.
        Collection<AclBinding> removed = Compat.get(admin.deleteAcls(List.of(
                topicAcls.stream().map(AclBinding::toFilter).toList(),
                others.stream().map(AclBinding::toFilter).toList()).stream().flatMap(List::stream).toList()).all());
        Check.eq("bindings removed", topicAcls.size() + others.size(), removed.size());
        // Kafka's describeAcls reads the broker's view, which follows the controller's
        // metadata log a moment after deleteAcls answers: look again for a few seconds.
        Collection<AclBinding> left = Compat.get(admin.describeAcls(mine).values());
        for (int i = 0; i < 50 && left.stream().anyMatch(b -> b.pattern().name().contains(c.suffix)); i++) {
            Thread.sleep(200);
            left = Compat.get(admin.describeAcls(mine).values());
        }
        Check.that(left.stream().noneMatch(b -> b.pattern().name().contains(c.suffix)),
                "no binding of this run is left: %s", left);
        Compat.get(admin.deleteTopics(List.of(denied, mixed, readable, prefix + "secret.x", creatable + "one")).all());
        Check.ok("deleteAcls removed them; the topics are deleted");
    }

    /**
     * createAcls, then describeAcls until every new binding shows (at most 10 s). Kafka's
     * createAcls is answered by the controller; the broker's authorizer, which answers
     * describeAcls and every authorization, follows the metadata log a moment later (a first
     * describe right after createAcls came back empty in CI against Kafka 4.4). gregor's
     * bindings hold from the answer on, so its first describe settles.
     */
    private static void createSettled(Admin admin, List<AclBinding> bindings) throws Exception {
        Compat.get(admin.createAcls(bindings).all());
        for (int i = 0; i < 50; i++) {
            if (Compat.get(admin.describeAcls(AclBindingFilter.ANY).values()).containsAll(bindings)) return;
            Thread.sleep(200);
        }
        throw new Check.Failure("createAcls answered, but describeAcls does not show " + bindings + " after 10 s");
    }

    private void produce(String topic, String value) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = c.producer(Map.of())) {
            p.send(new ProducerRecord<>(topic, 0, null, Compat.utf8(value))).get(Compat.TIMEOUT.toMillis(),
                    TimeUnit.MILLISECONDS);
        }
    }

    private Throwable produceFailure(String topic) throws Exception {
        return catching(() -> produce(topic, "x"));
    }

    /** Reads one poll of `topic` (group-less unless `group` is given); the exception, if any. */
    private Throwable consumeFailure(String topic, String group) throws Exception {
        try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(group, Map.of())) {
            if (group == null) {
                consumer.assign(List.of(new TopicPartition(topic, 0)));
            } else {
                consumer.subscribe(List.of(topic));
            }
            long deadline = System.nanoTime() + Compat.TIMEOUT.toNanos();
            while (System.nanoTime() < deadline) {
                try {
                    consumer.poll(Duration.ofMillis(200));
                } catch (RuntimeException e) {
                    return e;
                }
            }
            return null;
        }
    }

    interface Action {
        void run() throws Exception;
    }

    private static Throwable catching(Action a) {
        try {
            a.run();
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (Throwable e) {
            return e;
        }
    }
}
