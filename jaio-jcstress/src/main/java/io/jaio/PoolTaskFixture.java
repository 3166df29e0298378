package io.jaio;

/**
 * A thread-pool task for the jcstress tests: taken by a worker (ACTIVE, as ThreadPool.submit and
 * the worker loop leave it), returns {@code result} from run(), and counts its completions.
 */
final class PoolTaskFixture extends ThreadPoolTask {
    private final long result;
    int completions;
    long completedRet = Long.MIN_VALUE;

    PoolTaskFixture(ThreadPool pool, long result) {
        this.result = result;
        this.pool = pool;
        ref(); // the pool's reference, as submit() takes it
        setState(ACTIVE);
    }

    @Override
    protected long run() {
        return result;
    }

    @Override
    protected void complete(long ret) {
        completions++;
        completedRet = ret;
    }
}
