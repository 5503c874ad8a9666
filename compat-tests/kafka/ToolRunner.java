import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * Runs Kafka's command-line tools (their {@code main}) one after another in one warm JVM, for
 * the compatibility suite (compat-tests/python/kafkatools.py): a JVM start per tool costs about
 * a CPU-second, and the suite runs hundreds of them.
 *
 * <p>Protocol, one request per line on stdin: base64 fields separated by spaces: the class, the
 * text given as the tool's standard input, then its arguments. The answer is one line on the
 * JVM's own stdout, {@code MARK status base64(stdout) base64(stderr)}; the tools' System.out and
 * System.err are captured per request (anything else the JVM prints to its stdout is noise the
 * reader skips). An exception out of {@code main} is reported as the JVM would (stack trace,
 * status 1).
 *
 * <p>{@code Exit.exit} (how Kafka's tools end) ends a JVM at once; here it throws, and the tools
 * catch Throwable around their own exits (TopicCommand's {@code execute}). So the first exit of a
 * request decides its status and ends its output, as the end of a JVM would: whatever the tool
 * prints or exits after it (the catch block's report, a second exit) is discarded. Then the
 * shutdown hooks the tool added through {@code Exit.addShutdownHook} run, as at a JVM's end
 * (ConsoleProducer's closes its producer, which sends what it still holds).
 */
public final class ToolRunner {
    static final String MARK = "\u0001gregor-tool-runner";

    /** Where System.out/err write: the current request's buffer. */
    static final class Capture extends OutputStream {
        volatile ByteArrayOutputStream target = new ByteArrayOutputStream();

        @Override
        public void write(int b) {
            target.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            target.write(b, off, len);
        }
    }

    /** Thrown by the replaced exit procedure to unwind the tool (an Error, so the tools'
     * {@code catch (Exception e)} blocks let it through). */
    static final class ToolExit extends Error {
        final int status;

        ToolExit(int status) {
            super(null, null, false, false);
            this.status = status;
        }
    }

    static final Capture OUT = new Capture();
    static final Capture ERR = new Capture();
    /** The status of the request's first exit, null while it has not exited. */
    static Integer exited;
    /** The request's shutdown hooks. */
    static final List<Runnable> HOOKS = new ArrayList<>();

    static synchronized void exit(int status) {
        if (exited == null) {
            exited = status;
            OUT.target = new ByteArrayOutputStream();
            ERR.target = new ByteArrayOutputStream();
        }
        throw new ToolExit(status);
    }

    public static void main(String[] argv) throws Exception {
        PrintStream answers = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        BufferedReader requests = new BufferedReader(
            new InputStreamReader(new FileInputStream(FileDescriptor.in), StandardCharsets.UTF_8));
        // Before any tool's class (or its logging) is loaded, so whatever keeps a reference to
        // System.out/err keeps the capturing streams.
        System.setOut(new PrintStream(OUT, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(ERR, true, StandardCharsets.UTF_8));
        replaceExit();
        Base64.Decoder b64 = Base64.getDecoder();
        Base64.Encoder enc = Base64.getEncoder();
        String line;
        while ((line = requests.readLine()) != null) {
            String[] fields = line.split(" ", -1);
            String cls = new String(b64.decode(fields[0]), StandardCharsets.UTF_8);
            byte[] stdin = b64.decode(fields[1]);
            List<String> args = new ArrayList<>();
            for (int i = 2; i < fields.length; i++) {
                args.add(new String(b64.decode(fields[i]), StandardCharsets.UTF_8));
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            synchronized (ToolRunner.class) {
                exited = null;
                OUT.target = out;
                ERR.target = err;
            }
            System.setIn(new ByteArrayInputStream(stdin));
            int status = run(cls, args.toArray(new String[0]));
            synchronized (ToolRunner.class) {
                OUT.target = out;
                ERR.target = err;
            }
            runHooks();
            System.out.flush();
            System.err.flush();
            answers.println(MARK + " " + status + " " + enc.encodeToString(out.toByteArray())
                + " " + enc.encodeToString(err.toByteArray()));
        }
    }

    static int run(String cls, String[] args) {
        int status;
        try {
            Method main = Class.forName(cls).getMethod("main", String[].class);
            main.invoke(null, (Object) args);
            status = 0;
        } catch (InvocationTargetException e) {
            if (!(e.getCause() instanceof ToolExit)) {
                System.err.print("Exception in thread \"main\" ");
                e.getCause().printStackTrace();
            }
            status = 1;
        } catch (ReflectiveOperationException e) {
            System.err.println("Error: could not run " + cls + ": " + e);
            status = 1;
        }
        synchronized (ToolRunner.class) {
            return exited != null ? exited : status;
        }
    }

    /** Runs the hooks the request added, each in a thread of its own as the JVM does, waiting
     * for them at most 30 s in all. */
    static void runHooks() throws InterruptedException {
        List<Thread> threads = new ArrayList<>();
        synchronized (ToolRunner.class) {
            for (Runnable hook : HOOKS) {
                threads.add(new Thread(hook, "shutdown-hook"));
            }
            HOOKS.clear();
        }
        threads.forEach(Thread::start);
        long deadline = System.nanoTime() + 30_000_000_000L;
        for (Thread t : threads) {
            t.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
        }
    }

    /** Exit's exit, halt and shutdown-hook procedures, in kafka-clients' current package or the old one. */
    static void replaceExit() throws ReflectiveOperationException {
        Class<?> exit;
        try {
            exit = Class.forName("org.apache.kafka.common.utils.internals.Exit");
        } catch (ClassNotFoundException e) {
            exit = Class.forName("org.apache.kafka.common.utils.Exit");
        }
        Class<?> procedure = Class.forName(exit.getName() + "$Procedure");
        Object thrower = Proxy.newProxyInstance(procedure.getClassLoader(), new Class<?>[] {procedure},
            (proxy, method, margs) -> {
                switch (method.getName()) {
                    case "execute":
                        exit((Integer) margs[0]);
                        return null;
                    case "hashCode": return System.identityHashCode(proxy);
                    case "equals": return proxy == margs[0];
                    default: return "ToolRunner's exit procedure";
                }
            });
        exit.getMethod("setExitProcedure", procedure).invoke(null, thrower);
        exit.getMethod("setHaltProcedure", procedure).invoke(null, thrower);
        Class<?> adder = Class.forName(exit.getName() + "$ShutdownHookAdder");
        Object collector = Proxy.newProxyInstance(adder.getClassLoader(), new Class<?>[] {adder},
            (proxy, method, margs) -> {
                switch (method.getName()) {
                    case "addShutdownHook":
                        synchronized (ToolRunner.class) {
                            HOOKS.add((Runnable) margs[1]);
                        }
                        return null;
                    case "hashCode": return System.identityHashCode(proxy);
                    case "equals": return proxy == margs[0];
                    default: return "ToolRunner's shutdown-hook adder";
                }
            });
        exit.getMethod("setShutdownHookAdder", adder).invoke(null, collector);
    }
}
