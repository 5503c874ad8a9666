import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.ByteBuffer;

import org.apache.kafka.common.requests.AbstractRequest;
import org.apache.kafka.common.requests.AbstractResponse;
import org.apache.kafka.common.requests.RequestHeader;

/**
 * A plain socket to the broker for requests no client library sends as the scenario needs them
 * (a given version, a forged field): the Java client's own message classes, framed and parsed
 * as on the wire. One request at a time.
 */
final class RawConnection implements AutoCloseable {
    private final Socket socket;
    private final DataOutputStream out;
    private final String clientId;
    private int correlation;
    /** The broker's side: a scenario reads it directly to see a connection closed. */
    final DataInputStream in;

    RawConnection(Compat c, String clientId) throws IOException {
        this.clientId = clientId;
        socket = new Socket(c.host(), c.port());
        socket.setSoTimeout((int) Compat.TIMEOUT.toMillis());
        in = new DataInputStream(socket.getInputStream());
        out = new DataOutputStream(socket.getOutputStream());
    }

    /** Send a request; its header, to parse the answer with. */
    RequestHeader send(AbstractRequest request) throws IOException {
        RequestHeader header = new RequestHeader(request.apiKey(), request.version(), clientId, ++correlation);
        ByteBuffer frame = request.serializeWithHeader(header);
        // One write of size and body: two would wait out the broker's delayed ACK (Nagle).
        byte[] bytes = new byte[4 + frame.remaining()];
        ByteBuffer.wrap(bytes).putInt(frame.remaining()).put(frame);
        out.write(bytes);
        out.flush();
        return header;
    }

    /** Send a request and read its answer. */
    @SuppressWarnings("unchecked")
    <R extends AbstractResponse> R call(AbstractRequest request) throws IOException {
        RequestHeader header = send(request);
        byte[] answer = new byte[in.readInt()];
        in.readFully(answer);
        return (R) AbstractResponse.parseResponse(ByteBuffer.wrap(answer), header);
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
