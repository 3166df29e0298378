// SPDX-License-Identifier: Apache-2.0
/*
 * io_uring NOP round trips in C on the raw ring (no liburing), the C side of UringNopBenchmark:
 * per batch, fill BATCH IORING_OP_NOP entries, publish the SQ tail (release), one
 * io_uring_enter(fd, BATCH, BATCH, GETEVENTS), then reap BATCH CQEs (acquire tail, release head).
 * Ring of 64 entries, flags 0, as in /work/shared/reference/jvm-costs.md section 4.
 *
 *   cc -O2 -o uring_nop uring_nop.c && ./uring_nop BATCH [SECONDS_PER_ROUND] [ROUNDS]
 *
 * Prints the NOPs per second of each round (after one warm-up round) and the median, in M/s.
 */
#define _GNU_SOURCE
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ENTRIES 64

static unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;
static int ring_fd;

static void setup(void) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    ring_fd = (int) syscall(__NR_io_uring_setup, ENTRIES, &p);
    if (ring_fd < 0) {
        perror("io_uring_setup");
        exit(1);
    }
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    size_t len = sq_len > cq_len ? sq_len : cq_len; /* IORING_FEAT_SINGLE_MMAP: one mapping for both */
    if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
        fprintf(stderr, "kernel without IORING_FEAT_SINGLE_MMAP\n");
        exit(1);
    }
    char *ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQ_RING);
    sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                ring_fd, IORING_OFF_SQES);
    if (ring == MAP_FAILED || sqes == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    sq_tail = (unsigned *) (ring + p.sq_off.tail);
    sq_mask = (unsigned *) (ring + p.sq_off.ring_mask);
    sq_array = (unsigned *) (ring + p.sq_off.array);
    cq_head = (unsigned *) (ring + p.cq_off.head);
    cq_tail = (unsigned *) (ring + p.cq_off.tail);
    cq_mask = (unsigned *) (ring + p.cq_off.ring_mask);
    cqes = (struct io_uring_cqe *) (ring + p.cq_off.cqes);
}

static void batch_round_trip(unsigned batch) {
    unsigned tail = *sq_tail; /* only this thread writes it */
    for (unsigned i = 0; i < batch; i++) {
        unsigned idx = (tail + i) & *sq_mask;
        struct io_uring_sqe *sqe = &sqes[idx];
        memset(sqe, 0, sizeof *sqe);
        sqe->opcode = IORING_OP_NOP;
        sqe->user_data = i;
        sq_array[idx] = idx;
    }
    __atomic_store_n(sq_tail, tail + batch, __ATOMIC_RELEASE);
    int r = (int) syscall(__NR_io_uring_enter, ring_fd, batch, batch, IORING_ENTER_GETEVENTS, NULL, 0);
    if (r != (int) batch) {
        fprintf(stderr, "io_uring_enter returned %d (expected %u)\n", r, batch);
        exit(1);
    }
    unsigned head = *cq_head;
    unsigned seen = 0;
    while (seen < batch) {
        unsigned ctail = __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE);
        for (; head != ctail; head++, seen++) {
            struct io_uring_cqe *cqe = &cqes[head & *cq_mask];
            if (cqe->res != 0) {
                fprintf(stderr, "NOP completed with %d\n", cqe->res);
                exit(1);
            }
        }
    }
    __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    unsigned batch = argc > 1 ? (unsigned) atoi(argv[1]) : 1;
    double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    if (batch < 1 || batch > ENTRIES || rounds < 1 || rounds > 100) {
        fprintf(stderr, "batch=%u (expected 1..%d), rounds=%d (expected 1..100)\n", batch, ENTRIES, rounds);
        return 2;
    }
    setup();
    double mops[100];
    for (int round = -1; round < rounds; round++) { /* round -1 is the warm-up */
        long nops = 0;
        double start = now_s(), t;
        do {
            for (int k = 0; k < 256; k++) {
                batch_round_trip(batch);
            }
            nops += 256L * batch;
            t = now_s();
        } while (t - start < seconds);
        if (round >= 0) {
            mops[round] = nops / (t - start) / 1e6;
            printf("batch=%u round=%d %.3f M NOPs/s\n", batch, round + 1, mops[round]);
        }
    }
    qsort(mops, rounds, sizeof mops[0], cmp_double);
    double med = rounds % 2 ? mops[rounds / 2] : (mops[rounds / 2 - 1] + mops[rounds / 2]) / 2;
    printf("MEDIAN batch=%u %.3f M NOPs/s (min %.3f, max %.3f)\n", batch, med, mops[0], mops[rounds - 1]);
    return 0;
}
