import java.util.ArrayList;
import java.util.List;

import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.message.ShareFetchRequestData;
import org.apache.kafka.common.message.ShareFetchResponseData;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.requests.ShareFetchRequest;
import org.apache.kafka.common.requests.ShareFetchResponse;

/**
 * What share sessions a client can make a broker keep, with raw ShareFetch requests (the Java
 * client's message classes over a socket; no group is joined, as none is needed to open a
 * session): one request naming 20,000 partitions of a topic id the broker does not know is
 * answered at once, each partition UNKNOWN_TOPIC_ID; a broker keeps at most
 * group.share.max.share.sessions (2000 by default) sessions, so a new member's epoch-0 fetch
 * beyond is answered SHARE_SESSION_LIMIT_REACHED; a member's final fetch (epoch -1) makes room
 * for one more, and a closed connection ends every session it opened.
 * Not compared: Kafka keeps the unknown partitions in the session and answers them again at
 * each later fetch; gregor's session holds only partitions that exist (docs/ARCHITECTURE.md).
 */
final class ShareSessionsScenario {
    private static final int LIMIT = 2000;
    private static final int UNKNOWN_PARTITIONS = 20_000;
    private final Compat c;
    private String groupId;

    ShareSessionsScenario(Compat c) {
        this.c = c;
    }

    private ShareFetchResponseData fetch(RawConnection raw, String member, int epoch,
            ShareFetchRequestData.FetchTopicCollection topics) throws Exception {
        ShareFetchRequestData data = new ShareFetchRequestData().setGroupId(groupId).setMemberId(member)
                .setShareSessionEpoch(epoch).setMaxWaitMs(0).setMinBytes(1).setMaxBytes(1 << 20)
                .setMaxRecords(100).setBatchSize(100).setTopics(topics);
        ShareFetchResponse r = raw.call(new ShareFetchRequest.Builder(data).build((short) 1));
        return r.data();
    }

    private String open(RawConnection raw, String member) throws Exception {
        return Errors.forCode(fetch(raw, member, 0, new ShareFetchRequestData.FetchTopicCollection()).errorCode())
                .name();
    }

    void run() throws Exception {
        groupId = c.group("share-sessions");
        List<String> members = new ArrayList<>();
        try (RawConnection raw = new RawConnection(c, "compat-share-sessions")) {
            Uuid unknown = Uuid.randomUuid();
            // Sized up front: the collection's growth is quadratic.
            ShareFetchRequestData.FetchPartitionCollection parts =
                    new ShareFetchRequestData.FetchPartitionCollection(UNKNOWN_PARTITIONS);
            for (int i = 0; i < UNKNOWN_PARTITIONS; i++) {
                parts.add(new ShareFetchRequestData.FetchPartition().setPartitionIndex(i));
            }
            ShareFetchRequestData.FetchTopicCollection topics = new ShareFetchRequestData.FetchTopicCollection();
            topics.add(new ShareFetchRequestData.FetchTopic().setTopicId(unknown).setPartitions(parts));
            String first = Uuid.randomUuid().toString();
            ShareFetchResponseData r = fetch(raw, first, 0, topics);
            members.add(first);
            Check.eq("top-level error", "NONE", Errors.forCode(r.errorCode()).name());
            List<String> codes = new ArrayList<>();
            r.responses().forEach(t -> t.partitions().forEach(p -> {
                String code = t.topicId() + " " + Errors.forCode(p.errorCode()).name();
                if (codes.isEmpty() || !codes.get(codes.size() - 1).equals(code)) codes.add(code);
            }));
            long answered = r.responses().stream().mapToLong(t -> t.partitions().size()).sum();
            Check.eq("partitions answered", (long) UNKNOWN_PARTITIONS, answered);
            Check.eq("their errors", List.of(unknown + " UNKNOWN_TOPIC_ID"), codes);
            Check.ok("%s", "20,000 partitions of an unknown topic id in one ShareFetch: each UNKNOWN_TOPIC_ID");

            // Other scenarios' share consumers may hold a few sessions on this broker too.
            String refused = null;
            while (members.size() <= LIMIT) {
                String member = Uuid.randomUuid().toString();
                String error = open(raw, member);
                if (!error.equals("NONE")) {
                    refused = error;
                    break;
                }
                members.add(member);
            }
            Check.eq("a new session beyond the limit", "SHARE_SESSION_LIMIT_REACHED", refused);
            Check.that(members.size() > LIMIT - 20 && members.size() <= LIMIT,
                    "sessions opened before the limit: %d", members.size());
            Check.eq("a member reopening its session", "NONE", open(raw, members.get(1)));
            Check.ok("at most %d share sessions: the next one SHARE_SESSION_LIMIT_REACHED, a member's own reopened", LIMIT);

            ShareFetchResponseData closed = fetch(raw, members.get(2), -1,
                    new ShareFetchRequestData.FetchTopicCollection());
            Check.eq("a final fetch", "NONE", Errors.forCode(closed.errorCode()).name());
            Check.eq("a new member after it", "NONE", open(raw, Uuid.randomUuid().toString()));
            Check.eq("one more", "SHARE_SESSION_LIMIT_REACHED", open(raw, Uuid.randomUuid().toString()));
            Check.ok("%s", "a final fetch (epoch -1) makes room for one session");
        }
        try (RawConnection raw = new RawConnection(c, "compat-share-sessions")) {
            Compat.waitFor(() -> {
                try {
                    return open(raw, Uuid.randomUuid().toString()).equals("NONE");
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, "a session after the connection that held 2000 closed");
            Check.ok("%s", "a closed connection ends the sessions it opened");
        }
        // Leave the broker as found: later scenarios' share consumers need sessions on it, and
        // Kafka had not freed the closed connection's 2000 within 30 s (one new session fits
        // once an idle one can be evicted). A final fetch (epoch -1) ends each by its member.
        try (RawConnection raw = new RawConnection(c, "compat-share-sessions")) {
            for (String member : members) fetch(raw, member, -1, new ShareFetchRequestData.FetchTopicCollection());
            List<String> opened = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                String member = Uuid.randomUuid().toString();
                Check.eq("session " + i + " after the cleanup", "NONE", open(raw, member));
                opened.add(member);
            }
            for (String member : opened) fetch(raw, member, -1, new ShareFetchRequestData.FetchTopicCollection());
            Check.ok("%s", "every session ended by its member's final fetch: 50 new ones fit");
        }
    }
}
