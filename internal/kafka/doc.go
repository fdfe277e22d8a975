// Package kafka is what every networked framecast role (publish, process,
// view, results, the benches) shares about talking to Kafka as a client:
// connection options, topic names and settings, topic checks and
// creation, a group-less reader, the franz-go log adapter and the
// diagnosis of a failed connection.
//
// Invariants:
//
//   - One way to a client. Every role's client starts from
//     Config.ClientOpts: seed brokers, client id, TLS, SASL and franz-go's
//     own warnings routed to slog by NewLogger (errors and warnings at
//     their level, the rest at debug). Roles add only their producer or
//     consumer options.
//   - One topic check. CheckTopics asks the cluster, never the client's
//     metadata cache, and never creates a topic; its *TopicError names the
//     brokers and topics and says what to do (`framecast broker` creates
//     them, or name others with the --*-topic flags). Only EnsureTopics
//     creates topics, and only missing ones: it never alters an existing
//     topic's partitions, configs or data.
//   - One group-less reader. DirectReader reads whole topics without a
//     consumer group, so the dashboard and `framecast results` never take
//     partitions from the processors; only the processor joins a group.
//   - Secrets stay out of messages. Config.String never shows the SASL
//     password, no error of this package formats it, and Check, which
//     relays what brokers and TLS say, masks it as *** in whatever it
//     returns.
//   - Errors say what to do next: each names the address and the flag or
//     command that fixes it; Check's match ErrUnreachable, ErrAuth or
//     ErrTLS, CheckTopics' ErrUnreachable or ErrNoTopic (errors.Is).
//   - Client side only. The embedded development broker is
//     internal/broker, which imports this package for the topic specs;
//     this package never imports the broker (its tests run against kfake
//     directly).
package kafka
