package dev.gregor.compat.connect;

import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.source.ExactlyOnceSupport;
import org.apache.kafka.connect.source.SourceConnector;

/**
 * A file's lines → a topic, one record (value: the line, a string) per line, as Kafka's
 * FileStreamSourceConnector does: source partition {"filename": FILE}, source offset
 * {"position": the byte position after the line}. One task. Exactly-once support (KIP-618):
 * the task's offsets are all its state, so the worker's transactions make it exactly once.
 */
public class LineFileSourceConnector extends SourceConnector {
  static final String FILE = "file";
  static final String TOPIC = "topic";
  static final ConfigDef CONFIG = new ConfigDef()
      .define(FILE, ConfigDef.Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(),
          ConfigDef.Importance.HIGH, "the file whose lines are read")
      .define(TOPIC, ConfigDef.Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(),
          ConfigDef.Importance.HIGH, "the topic the lines go to");

  private Map<String, String> props;

  @Override
  public void start(Map<String, String> props) {
    CONFIG.parse(props);
    this.props = props;
  }

  @Override
  public Class<? extends Task> taskClass() {
    return LineFileSourceTask.class;
  }

  @Override
  public List<Map<String, String>> taskConfigs(int maxTasks) {
    return List.of(props);
  }

  @Override
  public void stop() {}

  @Override
  public ConfigDef config() {
    return CONFIG;
  }

  @Override
  public String version() {
    return "1";
  }

  @Override
  public ExactlyOnceSupport exactlyOnceSupport(Map<String, String> props) {
    return ExactlyOnceSupport.SUPPORTED;
  }

  /** KIP-875: the offsets are the framework's alone; checks that they are ours. */
  @Override
  public boolean alterOffsets(Map<String, String> config, Map<Map<String, ?>, Map<String, ?>> offsets) {
    String file = (String) CONFIG.parse(config).get(FILE);
    for (Map.Entry<Map<String, ?>, Map<String, ?>> e : offsets.entrySet()) {
      if (e.getKey() == null || !file.equals(e.getKey().get(LineFileSourceTask.FILENAME))) {
        throw new ConnectException("a source partition is {\"filename\": \"" + file + "\"}, not " + e.getKey());
      }
      if (e.getValue() == null) {
        continue; // a reset
      }
      Object position = e.getValue().get(LineFileSourceTask.POSITION);
      if (!(position instanceof Number) || ((Number) position).longValue() < 0) {
        throw new ConnectException("a source offset is {\"position\": BYTES >= 0}, not " + e.getValue());
      }
    }
    return true;
  }
}
