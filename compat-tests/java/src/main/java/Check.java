import java.util.Objects;

/** Assertions that name what was checked: each passing check prints one "ok" line. */
final class Check {
    private Check() {
    }

    static final class Failure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Failure(String message) {
            super(message);
        }
    }

    static void ok(String fmt, Object... args) {
        System.out.printf("  ok (%.1f s): %s%n", (System.nanoTime() - Compat.T0) / 1e9, String.format(fmt, args));
    }

    static void that(boolean cond, String fmt, Object... args) {
        if (!cond) throw new Failure(String.format(fmt, args));
    }

    /** expected == actual (Objects.equals), else a failure naming both. */
    static <T> T eq(String what, Object expected, T actual) {
        if (!Objects.equals(expected, actual)) {
            throw new Failure(what + ": expected " + expected + ", got " + actual);
        }
        return actual;
    }

    /** An exception of exactly this class (or a subclass), else a failure. */
    static void raised(String what, Class<? extends Throwable> expected, Throwable actual) {
        if (actual == null) throw new Failure(what + ": expected " + expected.getSimpleName() + ", but it succeeded");
        if (!expected.isInstance(actual)) {
            throw new Failure(what + ": expected " + expected.getSimpleName() + ", got " + actual.getClass().getName()
                    + ": " + actual.getMessage());
        }
    }
}
