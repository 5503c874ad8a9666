#!/usr/bin/env python3
"""kafka-ui against a running broker, checked through its REST API and in headless Chromium.

Seeds the broker (messages in loms.order-events, a consumer group with committed offsets and a
known lag), starts the kafka-ui jar pointed at it, then asserts that the dashboard, brokers,
topics, messages and consumers pages show that data. Run by browser-test.sh, which starts gregor
(or point it at any Kafka with --bootstrap). Exit status 0 only when every check passed.

With --secured gregor|kafka it starts that broker itself with SASL_SSL (compat-tests/python/
tlsbrokers.py: a test CA, users alice and bob) and everything — the seeding clients and kafka-ui,
through its KAFKA_CLUSTERS_0_PROPERTIES_* settings — connects as alice over SASL_SSL with
SCRAM-SHA-512; a second cluster configured with a wrong password must show offline.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import tlsbrokers  # noqa: E402 - the secured brokers the compat suite uses

TOPIC = "loms.order-events"
SEEDED, LAG = 10, 4  # messages consumed and committed by the group, then produced after it


def log(msg):
    print(f"== {msg}", flush=True)


def seed(client, run_id, group):
    """Produce SEEDED messages, commit them all for `group`, then produce LAG more. `client`:
    confluent-kafka settings (bootstrap and security)."""
    producer = Producer(client)

    def produce(numbers):
        for n in numbers:
            value = json.dumps({"order_id": n, "status": "new", "run": run_id})
            producer.produce(TOPIC, key=f"order-{run_id}-{n}", value=value)
        if producer.flush(30) != 0:
            sys.exit("seed: produce did not complete")

    produce(range(SEEDED))
    consumer = Consumer({**client, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([TOPIC])
    seen, deadline = 0, time.time() + 60
    while seen < SEEDED and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None and run_id in msg.value().decode():
            seen += 1
    if seen < SEEDED:
        sys.exit(f"seed: consumed {seen}/{SEEDED} messages")
    consumer.commit(asynchronous=False)
    consumer.close()
    produce(range(SEEDED, SEEDED + LAG))
    log(f"seeded {SEEDED + LAG} messages (run {run_id}); group {group} committed, lag {LAG}")


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.load(resp)


def messages_via_api(base, cluster):
    """The messages/v2 server-sent-event stream the messages page reads, as message dicts."""
    url = (f"{base}/api/clusters/{cluster}/topics/{TOPIC}/messages/v2"
           "?mode=EARLIEST&limit=500")
    out = []
    with urllib.request.urlopen(url, timeout=60) as resp:
        for line in resp:
            line = line.decode().strip()
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if event.get("type") == "MESSAGE":
                    out.append(event["message"])
    return out


def wait_for_ui(base, cluster, ui):
    deadline = time.time() + 180
    while time.time() < deadline:
        if ui.poll() is not None:
            sys.exit(f"kafka-ui exited with status {ui.returncode}")
        try:
            clusters = get_json(f"{base}/api/clusters")
            if any(c["name"] == cluster and c["status"] == "online" for c in clusters):
                return clusters
        except OSError:
            pass
        time.sleep(2)
    sys.exit(f"kafka-ui did not report cluster {cluster} online within 180 s")


failures = []


def check(name, fn):
    try:
        fn()
        log(f"PASS {name}")
    except Exception as exc:  # an assertion or a Playwright timeout: report, go on
        failures.append(name)
        log(f"FAIL {name}: {exc}")


def start_secured(kind, base_port, workdir):
    """A secured broker of `kind` (tlsbrokers) with the topic at 2 partitions: (broker,
    confluent-kafka settings for alice on SASL_SSL, kafka-ui's cluster properties for a user)."""
    ports = tlsbrokers.listener_ports(base_port)
    certs = tlsbrokers.make_certs(workdir / "certs")
    start = tlsbrokers.start_gregor if kind == "gregor" else tlsbrokers.start_kafka
    b = start(ports, certs, workdir, [] if kind == "gregor" else {})
    client = b.ck("SASL_SSL", "SCRAM-SHA-512")
    admin = AdminClient(client)  # kept referenced: its futures fail once the handle is gone
    deadline = time.time() + 120
    while True:  # Kafka opens its ports before its metadata is ready
        try:
            admin.create_topics([NewTopic(TOPIC, 2, 1)], operation_timeout=30)[TOPIC].result(timeout=30)
            break
        except KafkaException as e:
            if "TOPIC_ALREADY_EXISTS" in str(e):
                break
            if time.time() > deadline:
                sys.exit(f"creating {TOPIC}: {e}")
            time.sleep(1)
    partitions = len(admin.list_topics(TOPIC, timeout=30).topics[TOPIC].partitions)
    if partitions != 2:
        sys.exit(f"{TOPIC} has {partitions} partitions, not 2")

    def ui_properties(index, password):
        pre = f"KAFKA_CLUSTERS_{index}_PROPERTIES_"
        jaas = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
                f'username="alice" password="{password}";')
        return {pre + "SECURITY_PROTOCOL": "SASL_SSL", pre + "SASL_MECHANISM": "SCRAM-SHA-512",
                pre + "SASL_JAAS_CONFIG": jaas, pre + "SSL_TRUSTSTORE_TYPE": "PEM",
                pre + "SSL_TRUSTSTORE_LOCATION": str(certs.ca)}
    return b, client, ui_properties


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", help="a running broker (PLAINTEXT); or --secured")
    ap.add_argument("--secured", choices=["gregor", "kafka"],
                    help="start this broker with SASL_SSL and connect as alice with SCRAM-SHA-512")
    ap.add_argument("--secured-port", type=int, default=19740, help="its first of 5 ports")
    ap.add_argument("--workdir", default="/tmp/gregor-kafka-ui-secured", help="its certs and data")
    ap.add_argument("--jar", required=True)
    ap.add_argument("--port", type=int, default=18480)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--log", default="kafka-ui.log")
    ap.add_argument("--screenshots", help="directory for a screenshot of every page")
    args = ap.parse_args()
    if bool(args.bootstrap) == bool(args.secured):
        ap.error("give one of --bootstrap and --secured")
    secured = None
    try:
        if args.secured:
            workdir = Path(args.workdir)
            if workdir.exists():
                subprocess.run(["rm", "-rf", str(workdir)], check=True)
            workdir.mkdir(parents=True)
            secured, client, ui_properties = start_secured(args.secured, args.secured_port, workdir)
            args.bootstrap = secured.address("SASL_SSL")
            log(f"secured {args.secured} on {args.bootstrap} (SASL_SSL, SCRAM-SHA-512 as alice)")
        else:
            client, ui_properties = {"bootstrap.servers": args.bootstrap}, None
        run(args, client, ui_properties)
    finally:
        if secured is not None:
            secured.stop()
    if failures:
        sys.exit(f"kafka-ui browser test: {len(failures)} failed: {', '.join(failures)}")
    log("kafka-ui browser test: all checks passed")


def run(args, client, ui_properties):
    cluster, run_id = "local", uuid.uuid4().hex[:8]
    group = f"kafka-ui-browser-{run_id}"
    seed(client, run_id, group)

    env = dict(os.environ, KAFKA_CLUSTERS_0_NAME=cluster,
               KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS=args.bootstrap, SERVER_PORT=str(args.port),
               DYNAMIC_CONFIG_ENABLED="false")
    if ui_properties:
        # And a second cluster, the same but with a wrong password: kafka-ui must show it offline.
        env.update(ui_properties(0, tlsbrokers.USERS["alice"]))
        env.update(ui_properties(1, "not-alice-secret"), KAFKA_CLUSTERS_1_NAME="wrong-password",
                   KAFKA_CLUSTERS_1_BOOTSTRAPSERVERS=args.bootstrap)
    base = f"http://127.0.0.1:{args.port}"
    with open(args.log, "w") as ui_log:
        # add-opens: what kafka-ui's own image passes (JMX over SSL support; an error otherwise).
        ui = subprocess.Popen(["java", "-Xmx512m", "--add-opens", "java.rmi/javax.rmi.ssl=ALL-UNNAMED",
                               "-jar", args.jar], env=env,
                              stdout=ui_log, stderr=subprocess.STDOUT)
    try:
        log(f"kafka-ui pid {ui.pid} on {base}, log {args.log}")
        clusters = wait_for_ui(base, cluster, ui)
        if ui_properties:
            check("api: the cluster with a wrong password is offline",
                  lambda: wrong_password_offline(base))
        run_checks(base, cluster, group, run_id, clusters, args)
    finally:
        ui.terminate()
        try:
            ui.wait(30)
        except subprocess.TimeoutExpired:
            ui.kill()


def wrong_password_offline(base):
    status = None
    for _ in range(30):  # kafka-ui reports a cluster offline once its first metrics scrape fails
        status = next(c["status"] for c in get_json(f"{base}/api/clusters") if c["name"] == "wrong-password")
        if status == "offline":
            return
        time.sleep(2)
    raise AssertionError(f"wrong-password cluster is {status}")


def run_checks(base, cluster, group, run_id, clusters, args):
    api = f"{base}/api/clusters/{cluster}"
    info = next(c for c in clusters if c["name"] == cluster)
    log(f"/api/clusters: {json.dumps(info)}")

    # REST layer: what the pages render.
    def api_cluster():
        assert info["brokerCount"] == 1, info
        assert info.get("version"), f"no version: {info}"

    def api_topic():
        topic = get_json(f"{api}/topics/{TOPIC}")
        assert topic["partitionCount"] == 2, topic

    def api_messages():
        ours = [m for m in messages_via_api(base, cluster) if run_id in (m.get("content") or "")]
        assert len(ours) == SEEDED + LAG, f"{len(ours)} of {SEEDED + LAG} messages"

    def api_group():
        groups = get_json(f"{api}/consumer-groups/paged?page=1&perPage=100&search={group}")
        ours = [g for g in groups["consumerGroups"] if g["groupId"] == group]
        assert ours, f"group missing: {groups}"
        assert ours[0]["consumerLag"] == LAG, ours[0]

    for name, fn in [("api: cluster online, 1 broker, version", api_cluster),
                     ("api: topic has 2 partitions", api_topic),
                     ("api: messages/v2 streams the seeded messages", api_messages),
                     ("api: consumer group lag", api_group)]:
        check(name, fn)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(30_000)

        def shot(name):
            if args.screenshots:
                os.makedirs(args.screenshots, exist_ok=True)
                page.screenshot(path=os.path.join(args.screenshots, f"{name}.png"), full_page=True)

        def cell(row, header):
            """The cell of `row` under the column titled `header` (columns differ by version)."""
            headers = [t.strip() for t in page.locator("thead th").all_inner_texts()]
            assert header in headers, f"no column {header!r} in {headers}"
            return row.locator("td").nth(headers.index(header))

        def dashboard():
            page.goto(f"{base}/")
            row = page.locator("tbody tr", has_text=cluster)
            expect(row).to_have_count(1)
            expect(cell(row, "Version")).to_have_text(info["version"])
            expect(cell(row, "Brokers count")).to_have_text("1")
            expect(cell(row, "Topics")).not_to_have_text("0")
            shot("dashboard")

        def brokers():
            page.goto(f"{base}/ui/clusters/{cluster}/brokers")
            expect(page.get_by_text("Broker Count", exact=True)).to_be_visible()
            row = page.locator("tbody tr")
            expect(row).to_have_count(1)
            port = args.bootstrap.rsplit(":", 1)[1]
            expect(cell(row, "Port")).to_have_text(port)
            expect(cell(row, "Online partitions")).not_to_have_text("0")
            shot("brokers")

        def topics():
            page.goto(f"{base}/ui/clusters/{cluster}/all-topics")
            row = page.locator("tbody tr", has_text=TOPIC)
            expect(row).to_have_count(1)
            expect(cell(row, "Partitions")).to_have_text("2")
            expect(cell(row, "Number of messages")).not_to_have_text("0")
            shot("topics")

        def messages():
            page.goto(f"{base}/ui/clusters/{cluster}/all-topics/{TOPIC}/messages"
                      "?mode=EARLIEST&limit=100")
            for n in (0, SEEDED + LAG - 1):
                expect(page.get_by_text(f"order-{run_id}-{n}", exact=True)).to_be_visible()
            shot("messages")

        def consumers():
            page.goto(f"{base}/ui/clusters/{cluster}/consumer-groups")
            row = page.locator("tbody tr", has_text=group)
            expect(row).to_have_count(1)
            expect(cell(row, "Num Of Topics")).to_have_text("1")
            expect(cell(row, "Consumer Lag")).to_have_text(str(LAG))
            page.get_by_text(group, exact=True).click()
            expect(page.locator("tbody tr", has_text=TOPIC)).to_be_visible()
            shot("consumers")

        for name, fn in [("page: dashboard shows the cluster online, 1 broker, version", dashboard),
                         ("page: brokers lists 1 broker", brokers),
                         ("page: topics lists loms.order-events with 2 partitions", topics),
                         ("page: messages shows the produced messages", messages),
                         ("page: consumers shows the group with its lag", consumers)]:
            check(name, fn)
        browser.close()


if __name__ == "__main__":
    main()
