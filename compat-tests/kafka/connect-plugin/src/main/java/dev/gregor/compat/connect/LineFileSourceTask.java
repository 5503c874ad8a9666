package dev.gregor.compat.connect;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.source.SourceTask;

/** Reads the file's complete lines from its committed position on; see LineFileSourceConnector. */
public class LineFileSourceTask extends SourceTask {
  static final String FILENAME = "filename";
  static final String POSITION = "position";
  private static final int MAX_BYTES = 1 << 16;
  private static final long IDLE_MS = 100;

  private String file;
  private String topic;
  private Map<String, String> partition;
  private long position;
  private volatile boolean stopped;

  @Override
  public void start(Map<String, String> props) {
    Map<String, Object> config = LineFileSourceConnector.CONFIG.parse(props);
    file = (String) config.get(LineFileSourceConnector.FILE);
    topic = (String) config.get(LineFileSourceConnector.TOPIC);
    partition = Map.of(FILENAME, file);
    position = 0;
    Map<String, Object> offset = context.offsetStorageReader().offset(partition);
    if (offset != null && offset.get(POSITION) instanceof Number n) {
      position = n.longValue();
    }
  }

  @Override
  public List<SourceRecord> poll() throws InterruptedException {
    List<SourceRecord> records = new ArrayList<>();
    byte[] buf = new byte[MAX_BYTES];
    int read;
    try (RandomAccessFile in = new RandomAccessFile(file, "r")) {
      if (in.length() < position) {
        throw new ConnectException(file + " is shorter than the position " + position);
      }
      in.seek(position);
      read = in.read(buf);
    } catch (IOException e) {
      throw new ConnectException("reading " + file, e);
    }
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    for (int i = 0; i < read; i++) {
      if (buf[i] != '\n') {
        line.write(buf[i]);
        continue;
      }
      position += line.size() + 1;
      records.add(new SourceRecord(partition, Map.of(POSITION, position), topic, null, null, null,
          Schema.STRING_SCHEMA, line.toString(StandardCharsets.UTF_8), System.currentTimeMillis()));
      line.reset();
    }
    if (records.isEmpty()) {
      // Nothing new (or only part of a line): wait a little, as FileStreamSourceTask does.
      synchronized (this) {
        if (!stopped) {
          wait(IDLE_MS);
        }
      }
      return null;
    }
    return records;
  }

  @Override
  public synchronized void stop() {
    stopped = true;
    notifyAll();
  }

  @Override
  public String version() {
    return "1";
  }
}
