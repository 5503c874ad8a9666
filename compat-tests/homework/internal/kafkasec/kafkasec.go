// Package kafkasec gives a service the client security settings a secured Kafka needs —
// security protocol, SASL mechanism and credentials, the CA to trust — as flags with
// environment fallbacks, and applies them to a Sarama config.
package kafkasec

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"

	"gregor/compat-tests/homework/internal/settings"
)

// Settings are what a Kafka client's security.protocol, sasl.* and ssl.ca.location hold.
type Settings struct {
	protocol, mechanism, username, password, caFile *string
}

// Register adds the flags (-kafka-security-protocol, ...; env KAFKA_SECURITY_PROTOCOL, ...).
func Register(s *settings.Set) *Settings {
	return &Settings{
		protocol:  s.String("kafka-security-protocol", "KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
		mechanism: s.String("kafka-sasl-mechanism", "KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
		username:  s.String("kafka-sasl-username", "KAFKA_SASL_USERNAME", "", "SASL user"),
		password:  s.String("kafka-sasl-password", "KAFKA_SASL_PASSWORD", "", "SASL password"),
		caFile:    s.String("kafka-tls-ca", "KAFKA_TLS_CA", "", "PEM file of the CA that signed the brokers' certificates (empty: the system's)"),
	}
}

// Protocol is the security protocol, for logs.
func (s *Settings) Protocol() string { return strings.ToUpper(*s.protocol) }

// Apply sets c.Net.TLS and c.Net.SASL.
func (s *Settings) Apply(c *sarama.Config) error {
	p := s.Protocol()
	switch p {
	case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
	default:
		return fmt.Errorf("unknown security protocol %q", p)
	}
	if strings.HasSuffix(p, "SSL") {
		conf := &tls.Config{MinVersion: tls.VersionTLS12}
		if *s.caFile != "" {
			pem, err := os.ReadFile(*s.caFile)
			if err != nil {
				return err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("%s: no PEM certificate", *s.caFile)
			}
			conf.RootCAs = pool
		}
		c.Net.TLS.Enable, c.Net.TLS.Config = true, conf
	}
	if strings.HasPrefix(p, "SASL") {
		c.Net.SASL.Enable = true
		c.Net.SASL.User, c.Net.SASL.Password = *s.username, *s.password
		switch strings.ToUpper(*s.mechanism) {
		case "PLAIN":
			c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case "SCRAM-SHA-256":
			c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
		case "SCRAM-SHA-512":
			c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
		default:
			return fmt.Errorf("unknown SASL mechanism %q", *s.mechanism)
		}
	}
	return nil
}

// scramClient is Sarama's SCRAM client on xdg-go/scram (Sarama's documented way).
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (x *scramClient) Begin(user, password, authzID string) error {
	client, err := x.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	x.conv = client.NewConversation()
	return nil
}

func (x *scramClient) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *scramClient) Done() bool                            { return x.conv.Done() }
