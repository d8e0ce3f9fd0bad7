/*
 * fsprobe: how long the disk takes to make a small append durable, the
 * work Redis does once per event-loop turn under "appendfsync always".
 * bench/run runs it before each sale, so that a run's figures can be read
 * against the state of the disk at the time, as healthz gives the state
 * of the CPUs.
 *
 *   fsprobe FILE [COUNT]
 *
 * Appends COUNT (default 500) records of 300 bytes to FILE (created, and
 * removed at the end), each followed by fdatasync, and prints one line of
 * JSON: {"count":N,"p50_us":..,"p90_us":..,"p99_us":..,"max_us":..}.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORD 300
#define COUNT_MAX 100000

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double
elapsed_us(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e6 +
           (double)(b->tv_nsec - a->tv_nsec) / 1e3;
}

int
main(int argc, char **argv)
{
    char rec[RECORD];
    long count = 500;
    double *t;
    int fd;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: fsprobe FILE [COUNT]\n");
        return 2;
    }
    if (argc == 3) {
        char *end;

        errno = 0;
        count = strtol(argv[2], &end, 10);
        if (errno != 0 || *end != '\0' || count < 1 || count > COUNT_MAX) {
            fprintf(stderr, "fsprobe: COUNT must be 1..%d, not '%s'\n",
                    COUNT_MAX, argv[2]);
            return 2;
        }
    }
    t = calloc((size_t)count, sizeof(*t));
    if (t == NULL) {
        fprintf(stderr, "fsprobe: out of memory\n");
        return 1;
    }
    fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
              0600);
    if (fd < 0) {
        fprintf(stderr, "fsprobe: %s: %s\n", argv[1], strerror(errno));
        free(t);
        return 1;
    }
    memset(rec, 'x', sizeof(rec));
    rec[RECORD - 1] = '\n';
    for (long i = 0; i < count; i++) {
        struct timespec a, b;

        clock_gettime(CLOCK_MONOTONIC, &a);
        if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec) ||
            fdatasync(fd) != 0) {
            fprintf(stderr, "fsprobe: %s: %s\n", argv[1], strerror(errno));
            close(fd);
            unlink(argv[1]);
            free(t);
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        t[i] = elapsed_us(&a, &b);
    }
    close(fd);
    unlink(argv[1]);
    qsort(t, (size_t)count, sizeof(*t), cmp_double);
    printf("{\"count\":%ld,\"p50_us\":%.0f,\"p90_us\":%.0f,\"p99_us\":%.0f,"
           "\"max_us\":%.0f}\n",
           count, t[count / 2], t[count * 9 / 10], t[count * 99 / 100],
           t[count - 1]);
    free(t);
    return 0;
}
