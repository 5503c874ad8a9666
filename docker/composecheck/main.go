// composecheck validates docker/compose.yaml without a Docker engine, with compose-go — the
// library `docker compose config` itself uses: schema, interpolation, and references
// (depends_on targets, volumes, conditions). Then it checks the homework topology the README
// promises: gregor as the `kafka` service with the two listeners, the init job creating the
// topic with gregor's CLI, kafka-ui on kafka:29092, postgres, loms, three notifiers; and the
// monitoring: gregor's metrics listener and its health check, Prometheus scraping it, Grafana
// provisioned with the Prometheus data source and the dashboards of docker/grafana/dashboards.
//
//	go run . ../compose.yaml                     check; one line per check; exit 1 on failure
//	go run . -print-command SERVICE ../compose.yaml   print the service's command, one arg a line
//	go run . -print-healthcheck SERVICE ../compose.yaml   the same for its healthcheck test
//	go run . -dashboard-metrics ../compose.yaml  the metric names the dashboards query, one a line
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// The metrics listener the kafka service runs with, and what scrapes and probes it.
const (
	metricsListen  = "--metrics-listen=0.0.0.0:9644"
	metricsTarget  = "kafka:9644"
	healthAddress  = "--metrics-address=localhost:9644"
	prometheusURL  = "http://prometheus:9090"
	prometheusConf = "/etc/prometheus/prometheus.yml"
	grafanaProv    = "/etc/grafana/provisioning"
)

var failed int

func check(ok bool, what string, args ...any) {
	if ok {
		fmt.Println("ok  ", what)
		return
	}
	failed++
	fmt.Println("FAIL", what, fmt.Sprint(args...))
}

func main() {
	printCmd := flag.String("print-command", "", "print this service's command (one argument a line) and exit")
	printHealth := flag.String("print-healthcheck", "", "print this service's healthcheck test (one argument a line, without CMD) and exit")
	dashboardMetrics := flag.Bool("dashboard-metrics", false, "print the metric names the Grafana dashboards query and exit")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: composecheck [-print-command SERVICE] COMPOSE_FILE")
		os.Exit(2)
	}
	path, _ := filepath.Abs(flag.Arg(0))
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithWorkingDirectory(filepath.Dir(path)),
		cli.WithName("homework"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "compose:", err)
		os.Exit(1)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Printf("FAIL %s does not load as a compose file: %v\n", path, err)
		os.Exit(1)
	}
	if *printCmd != "" {
		s, err := p.GetService(*printCmd)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, a := range s.Command {
			fmt.Println(a)
		}
		return
	}
	if *printHealth != "" {
		s, err := p.GetService(*printHealth)
		if err != nil || s.HealthCheck == nil || len(s.HealthCheck.Test) < 2 || s.HealthCheck.Test[0] != "CMD" {
			fmt.Fprintln(os.Stderr, "no CMD healthcheck for", *printHealth, err)
			os.Exit(1)
		}
		for _, a := range s.HealthCheck.Test[1:] {
			fmt.Println(a)
		}
		return
	}
	if *dashboardMetrics {
		dir, err := dashboardsDir(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		dashboards, err := loadDashboards(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, m := range metricNames(dashboards) {
			fmt.Println(m)
		}
		return
	}
	check(true, "compose file loads (schema, interpolation): "+path)

	svc := func(name string) types.ServiceConfig {
		s, err := p.GetService(name)
		check(err == nil, "service "+name+" exists", err)
		return s
	}
	kafka := svc("kafka")
	cmd := strings.Join(kafka.Command, " ")
	for _, want := range []string{"--listen=INTERNAL://0.0.0.0:29092", "--listen=PLAINTEXT://0.0.0.0:9092",
		"--advertised-listener=INTERNAL://kafka:29092", "--advertised-listener=PLAINTEXT://localhost:9092"} {
		check(slices.Contains(kafka.Command, want), "kafka (gregor) runs with "+want, " command: ", cmd)
	}
	check(kafka.Build != nil && fileExists(filepath.Join(kafka.Build.Context, kafka.Build.Dockerfile)),
		"kafka is built from docker/Dockerfile")
	published := false
	for _, port := range kafka.Ports {
		published = published || (port.Published == "9092" && port.Target == 9092)
	}
	check(published, "kafka publishes 9092 for the host (localhost:9092)")
	check(kafka.HealthCheck != nil && len(kafka.HealthCheck.Test) > 0, "kafka has a healthcheck")
	check(slices.Contains(kafka.Command, metricsListen), "kafka (gregor) serves /metrics and /health: "+metricsListen, " command: ", cmd)
	if kafka.HealthCheck != nil {
		test := kafka.HealthCheck.Test
		check(len(test) > 2 && test[0] == "CMD" && test[1] == "gregor" && slices.Contains(test, "health") &&
			slices.Contains(test, healthAddress), "kafka's healthcheck is `gregor health "+healthAddress+"`", test)
	}
	metricsPublished := false
	for _, port := range kafka.Ports {
		metricsPublished = metricsPublished || (port.Published == "9644" && port.Target == 9644)
	}
	check(metricsPublished, "kafka publishes 9644 for the host (curl localhost:9644/metrics)")

	initSvc := svc("kafka-init")
	check(initSvc.Image == kafka.Image, "kafka-init runs the gregor image", initSvc.Image, " vs ", kafka.Image)
	initArgs := append(slices.Clone([]string(initSvc.Entrypoint)), initSvc.Command...)
	for _, want := range []string{"topics", "create", "--bootstrap-server=kafka:29092", "--topic=loms.order-events",
		"--partitions=2", "--replication-factor=1", "--if-not-exists"} {
		check(slices.Contains(initArgs, want), "kafka-init: "+want, " args: ", initArgs)
	}
	check(dependsOn(initSvc, "kafka", types.ServiceConditionHealthy), "kafka-init waits for a healthy kafka")

	ui := svc("kafka-ui")
	check(strings.HasPrefix(ui.Image, "provectuslabs/kafka-ui"), "kafka-ui is provectuslabs/kafka-ui", ui.Image)
	check(env(ui, "KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS") == "kafka:29092", "kafka-ui bootstraps from kafka:29092")

	pg := svc("postgres")
	check(strings.HasPrefix(pg.Image, "postgres"), "postgres runs the postgres image", pg.Image)

	loms := svc("loms")
	notifier := svc("notifier")
	for _, s := range []types.ServiceConfig{loms, notifier} {
		check(env(s, "KAFKA_BROKERS") == "kafka:29092", s.Name+" talks to kafka:29092")
		check(dependsOn(s, "kafka-init", types.ServiceConditionCompletedSuccessfully),
			s.Name+" starts after kafka-init created the topic")
		check(s.Build != nil && fileExists(filepath.Join(s.Build.Context, "Dockerfile")) &&
			s.Build.Args["SERVICE"] != nil && fileExists(filepath.Join(s.Build.Context, *s.Build.Args["SERVICE"])),
			s.Name+" is built from compat-tests/homework")
		var gregorVars []string
		for k := range s.Environment {
			if strings.HasPrefix(k, "GREGOR_") {
				gregorVars = append(gregorVars, k)
			}
		}
		check(len(gregorVars) == 0, s.Name+": no GREGOR_* variables (the broker owns that prefix)", gregorVars)
	}
	check(strings.Contains(env(loms, "LOMS_DATABASE_URL"), "@postgres:5432/"), "loms uses the postgres service")
	check(dependsOn(loms, "postgres", types.ServiceConditionHealthy), "loms waits for a healthy postgres")
	check(notifier.Deploy != nil && notifier.Deploy.Replicas != nil && *notifier.Deploy.Replicas == 3,
		"notifier runs 3 replicas")
	check(len(notifier.Ports) == 0 && notifier.ContainerName == "", "notifier replicas need no fixed name or host port")

	checkMonitoring(p)

	if failed > 0 {
		fmt.Printf("compose check: %d failed\n", failed)
		os.Exit(1)
	}
}

func env(s types.ServiceConfig, k string) string {
	if v, ok := s.Environment[k]; ok && v != nil {
		return *v
	}
	return ""
}

func dependsOn(s types.ServiceConfig, other, condition string) bool {
	d, ok := s.DependsOn[other]
	return ok && d.Condition == condition
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && (st.Mode().IsRegular() || st.IsDir())
}
