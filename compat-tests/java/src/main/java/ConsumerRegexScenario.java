import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * KIP-848's broker-side regex subscription (group.protocol=consumer, {@code
 * subscribe(SubscriptionPattern)}: the RE2J regex goes to the group coordinator, which
 * matches it against the topic names):
 * <ol>
 * <li>topics {@code rx.a}, {@code rx.b} (2 partitions each) and {@code other} of the run: a
 * consumer subscribed to {@code compat.java-rx\.[ab]\.SUFFIX}... is assigned exactly the 4
 * partitions of the two matching topics and reads their 20 records, none of {@code other};</li>
 * <li>describeConsumerGroups shows that assignment;</li>
 * <li>a topic created afterwards that matches ({@code rx.c}) is assigned too, and its records
 * read, without resubscribing.</li>
 * </ol>
 */
final class ConsumerRegexScenario {
    private final Compat c;

    ConsumerRegexScenario(Compat c) {
        this.c = c;
    }

    void run() throws Exception {
        String a = c.topic("rx.a"), b = c.topic("rx.b"), later = c.topic("rx.c"), other = c.topic("rxother");
        String regex = "compat\\.java-rx\\.[a-c]\\." + c.suffix;
        String group = c.group("rx");
        try (var admin = c.admin(); KafkaProducer<byte[], byte[]> producer = c.producer(Map.of())) {
            for (String t : List.of(a, b, other)) {
                c.createTopic(admin, t, 2);
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>(t, i % 2, null, Compat.utf8(t + "/" + i)));
                }
            }
            producer.flush();
            Map<String, Object> conf = Map.of(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer",
                    ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            try (KafkaConsumer<byte[], byte[]> consumer = c.consumer(group, conf)) {
                consumer.subscribe(new SubscriptionPattern(regex));
                List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
                Compat.waitFor(() -> {
                    consumer.poll(Duration.ofMillis(200)).forEach(got::add);
                    return got.size() >= 20;
                }, "20 records of the two matching topics", () -> "read " + got.size() + ", assigned " + consumer.assignment());
                Set<String> topics = got.stream().map(ConsumerRecord::topic).collect(Collectors.toCollection(TreeSet::new));
                Check.eq("topics read through the regex", new TreeSet<>(List.of(a, b)), topics);
                Check.eq("records read", 20, got.size());
                Set<TopicPartition> expected = Set.of(new TopicPartition(a, 0), new TopicPartition(a, 1),
                        new TopicPartition(b, 0), new TopicPartition(b, 1));
                Check.eq("assignment", expected, consumer.assignment());
                Check.ok("the regex gave %s: %d records, none of %s", topics, got.size(), other);

                ConsumerGroupDescription d = Compat.get(admin.describeConsumerGroups(List.of(group)).all()).get(group);
                Set<TopicPartition> described = new TreeSet<>(java.util.Comparator.comparing(TopicPartition::toString));
                for (MemberDescription m : d.members()) {
                    described.addAll(m.assignment().topicPartitions());
                }
                Check.eq("the member's assignment in describeConsumerGroups", expected, new java.util.HashSet<>(described));

                c.createTopic(admin, later, 2);
                for (int i = 0; i < 4; i++) {
                    producer.send(new ProducerRecord<>(later, i % 2, null, Compat.utf8(later + "/" + i)));
                }
                producer.flush();
                List<ConsumerRecord<byte[], byte[]>> more = new ArrayList<>();
                Compat.waitFor(() -> {
                    consumer.poll(Duration.ofMillis(200)).forEach(more::add);
                    return more.size() >= 4;
                }, "the 4 records of a topic created later that matches", () -> "read " + more.size() + ", assigned " + consumer.assignment());
                Check.eq("the later topic's records", Set.of(later), more.stream().map(ConsumerRecord::topic).collect(Collectors.toSet()));
                Check.eq("partitions assigned with the later topic", 6, consumer.assignment().size());
                Check.ok("a topic created later that matches is assigned and read (%d records)", more.size());
            }
        }
    }
}
