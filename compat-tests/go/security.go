package main

// Client security for the secured brokers (compat-tests/python/secured.py): when
// COMPAT_CLIENT_SECURITY holds a JSON object
//
//	{"protocol": "SASL_SSL", "mechanism": "SCRAM-SHA-512", "username": "alice",
//	 "password": "...", "ca": "ca.pem", "cert": "client.crt", "key": "client.key"}
//
// every client the scenarios make (sarama, kafka-go, franz-go) speaks that protocol: TLS with
// the CA (and the client certificate, if given) for SSL and SASL_SSL, SASL with the mechanism
// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) for SASL_PLAINTEXT and SASL_SSL. Without it they
// connect in plaintext, as before.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/IBM/sarama"
	kgosasl "github.com/segmentio/kafka-go/sasl"
	kgoplain "github.com/segmentio/kafka-go/sasl/plain"
	kgoscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xdg "github.com/xdg-go/scram"
)

type clientSecurity struct {
	Protocol  string `json:"protocol"`
	Mechanism string `json:"mechanism"`
	Username  string `json:"username"`
	Password  string `json:"password"`
	CA        string `json:"ca"`
	Cert      string `json:"cert"`
	Key       string `json:"key"`
}

var security = loadSecurity()

func loadSecurity() *clientSecurity {
	raw := os.Getenv("COMPAT_CLIENT_SECURITY")
	if raw == "" {
		return nil
	}
	var c clientSecurity
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		fmt.Fprintf(os.Stderr, "COMPAT_CLIENT_SECURITY: %v\n", err)
		os.Exit(2)
	}
	return &c
}

func (c *clientSecurity) useTLS() bool  { return c != nil && strings.HasSuffix(c.Protocol, "SSL") }
func (c *clientSecurity) useSASL() bool { return c != nil && strings.HasPrefix(c.Protocol, "SASL") }

func (c *clientSecurity) tlsConfig() *tls.Config {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CA != "" {
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			panic(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		conf.RootCAs = pool
	}
	if c.Cert != "" {
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			panic(err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf
}

// franzSecurity: kgo options for the configured security.
func franzSecurity() []kgo.Opt {
	var opts []kgo.Opt
	if security.useTLS() {
		opts = append(opts, kgo.DialTLSConfig(security.tlsConfig()))
	}
	if security.useSASL() {
		switch security.Mechanism {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: security.Username, Pass: security.Password}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: security.Username, Pass: security.Password}.AsSha256Mechanism()))
		default:
			opts = append(opts, kgo.SASL(scram.Auth{User: security.Username, Pass: security.Password}.AsSha512Mechanism()))
		}
	}
	return opts
}

// saramaSecurity sets c.Net.TLS and c.Net.SASL.
func saramaSecurity(c *sarama.Config) {
	if security.useTLS() {
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = security.tlsConfig()
	}
	if security.useSASL() {
		c.Net.SASL.Enable = true
		c.Net.SASL.User = security.Username
		c.Net.SASL.Password = security.Password
		switch security.Mechanism {
		case "PLAIN":
			c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case "SCRAM-SHA-256":
			c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgClient{hash: xdg.SHA256} }
		default:
			c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgClient{hash: xdg.SHA512} }
		}
	}
}

// xdgClient is sarama's SCRAM client on xdg-go/scram (sarama's documented way).
type xdgClient struct {
	hash xdg.HashGeneratorFcn
	conv *xdg.ClientConversation
}

func (x *xdgClient) Begin(user, password, authzID string) error {
	client, err := x.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	x.conv = client.NewConversation()
	return nil
}

func (x *xdgClient) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *xdgClient) Done() bool                            { return x.conv.Done() }

// kgoSASL: kafka-go's mechanism for the configured security, nil without SASL.
func kgoSASL() kgosasl.Mechanism {
	if !security.useSASL() {
		return nil
	}
	switch security.Mechanism {
	case "PLAIN":
		return kgoplain.Mechanism{Username: security.Username, Password: security.Password}
	case "SCRAM-SHA-256":
		m, err := kgoscram.Mechanism(kgoscram.SHA256, security.Username, security.Password)
		if err != nil {
			panic(err)
		}
		return m
	default:
		m, err := kgoscram.Mechanism(kgoscram.SHA512, security.Username, security.Password)
		if err != nil {
			panic(err)
		}
		return m
	}
}

func kgoTLS() *tls.Config {
	if !security.useTLS() {
		return nil
	}
	return security.tlsConfig()
}
