package dev.gregor.compat.connect;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.BufferedOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.Map;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;

/** Appends each record's value and a newline to the file; flushes before offsets commit. */
public class LineFileSinkTask extends SinkTask {
  private String file;
  private OutputStream out;

  @Override
  public void start(Map<String, String> props) {
    file = (String) LineFileSinkConnector.CONFIG.parse(props).get(LineFileSinkConnector.FILE);
    try {
      out = new BufferedOutputStream(new FileOutputStream(file, true));
    } catch (IOException e) {
      throw new ConnectException("opening " + file, e);
    }
  }

  @Override
  public void put(Collection<SinkRecord> records) {
    try {
      for (SinkRecord record : records) {
        out.write(String.valueOf(record.value()).getBytes(StandardCharsets.UTF_8));
        out.write('\n');
      }
      // The scenario watches the file: what was put is written, as FileStreamSinkTask's
      // PrintStream does.
      out.flush();
    } catch (IOException e) {
      throw new ConnectException("writing " + file, e);
    }
  }

  @Override
  public void flush(Map<TopicPartition, OffsetAndMetadata> offsets) {
    try {
      out.flush();
    } catch (IOException e) {
      throw new ConnectException("flushing " + file, e);
    }
  }

  @Override
  public void stop() {
    if (out == null) {
      return;
    }
    try {
      out.close();
    } catch (IOException e) {
      throw new ConnectException("closing " + file, e);
    }
  }

  @Override
  public String version() {
    return "1";
  }
}
