package dev.gregor.compat.connect;

import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.sink.SinkConnector;

/**
 * A topic → a file's lines (each record's value and a newline, appended), as Kafka's
 * FileStreamSinkConnector does; its offsets are its consumer group's. One task.
 */
public class LineFileSinkConnector extends SinkConnector {
  static final String FILE = "file";
  static final ConfigDef CONFIG = new ConfigDef()
      .define(FILE, ConfigDef.Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(),
          ConfigDef.Importance.HIGH, "the file the records' values are appended to, a line each");

  private Map<String, String> props;

  @Override
  public void start(Map<String, String> props) {
    CONFIG.parse(props);
    this.props = props;
  }

  @Override
  public Class<? extends Task> taskClass() {
    return LineFileSinkTask.class;
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

  /** KIP-875: the offsets are the consumer group's alone, which the worker alters. */
  @Override
  public boolean alterOffsets(Map<String, String> config,
      Map<org.apache.kafka.common.TopicPartition, Long> offsets) {
    return true;
  }
}
