/* Unit tests for the shared counters and their Prometheus rendering. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"

static const char *const names[] = {"unmatched", "/healthz", "/api/x"};

static char *
render(struct tk_metrics *m, struct tk_buf *b)
{
    tk_buf_reset(b);
    tk_metrics_render(m, names, 3, b);
    return b->data;
}

static void
test_render_sums_slots(void **state)
{
    struct tk_metrics *m = tk_metrics_create();
    struct tk_buf b = TK_BUF_INIT;
    char *out;

    (void)state;
    tk_metrics_request(m, 0, 1, 200, 100);
    tk_metrics_request(m, 1, 1, 200, 300);
    tk_metrics_request(m, 7, 1, 204, 2000000);
    tk_metrics_request(m, 1, 0, 404, 10);
    tk_metrics_request(m, 0, 2, 200, 7000000);
    tk_metrics_request(m, 0, 2, 503, 50);
    tk_metrics_shed(m, 0, 2);
    tk_metrics_worker_restart(m);
    tk_metrics_set_workers(m, 2);
    tk_metrics_redis_batch(m, 0, 40);
    tk_metrics_redis_batch(m, 1, 9);
    tk_metrics_redis_batch(m, 1, 2);
    out = render(m, &b);
    assert_non_null(strstr(
        out, "ticketd_requests_total{route=\"/healthz\",status=\"2xx\"} 3\n"));
    assert_non_null(strstr(
        out, "ticketd_requests_total{route=\"unmatched\",status=\"4xx\"} 1\n"));
    assert_non_null(strstr(
        out, "ticketd_requests_total{route=\"/api/x\",status=\"5xx\"} 1\n"));
    assert_null(strstr(out, "status=\"3xx\""));
    assert_non_null(strstr(out, "ticketd_shed_total{route=\"/api/x\"} 1\n"));
    assert_non_null(strstr(
        out, "ticketd_request_duration_seconds_bucket{le=\"0.00025\"} 3\n"));
    assert_non_null(strstr(
        out, "ticketd_request_duration_seconds_bucket{le=\"0.0005\"} 4\n"));
    assert_non_null(strstr(
        out, "ticketd_request_duration_seconds_bucket{le=\"2.5\"} 5\n"));
    assert_non_null(strstr(
        out, "ticketd_request_duration_seconds_bucket{le=\"5\"} 5\n"));
    assert_non_null(strstr(
        out, "ticketd_request_duration_seconds_bucket{le=\"+Inf\"} 6\n"));
    assert_non_null(strstr(out, "ticketd_request_duration_seconds_count 6\n"));
    assert_non_null(strstr(out,
                           "ticketd_request_duration_seconds_sum 9.000460\n"));
    assert_non_null(strstr(out, "ticketd_worker_restarts_total 1\n"));
    assert_non_null(
        strstr(out, "ticketd_worker_requests_total{worker=\"0\"} 3\n"));
    assert_non_null(
        strstr(out, "ticketd_worker_requests_total{worker=\"7\"} 1\n"));
    assert_null(strstr(out, "worker=\"2\""));
    assert_non_null(strstr(out, "ticketd_workers 2\n"));
    assert_non_null(strstr(out, "ticketd_redis_batches_total 3\n"));
    assert_non_null(strstr(out, "ticketd_redis_calls_total 51\n"));
    assert_non_null(strstr(out, "# TYPE ticketd_requests_total counter\n"));
    tk_buf_release(&b);
    tk_metrics_destroy(m);
}

static void
test_counts_survive_fork(void **state)
{
    struct tk_metrics *m = tk_metrics_create();
    struct tk_buf b = TK_BUF_INIT;
    int status;

    (void)state;
    for (int c = 0; c < 2; c++) {
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
            for (int i = 0; i < 1000; i++) {
                tk_metrics_request(m, c, 1, 200, 1);
            }
            _exit(0);
        }
    }
    for (int i = 0; i < 1000; i++) {
        tk_metrics_request(m, 0, 1, 200, 1);
    }
    while (wait(&status) > 0) {
        assert_int_equal(status, 0);
    }
    assert_non_null(strstr(
        render(m, &b),
        "ticketd_requests_total{route=\"/healthz\",status=\"2xx\"} 3000\n"));
    /* Out-of-range slots and routes are clamped, not written past. */
    tk_metrics_request(m, 100000, 1000, 99, -5);
    assert_non_null(strstr(render(m, &b),
                           "ticketd_request_duration_seconds_count 3001\n"));
    tk_buf_release(&b);
    tk_metrics_destroy(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_sums_slots),
        cmocka_unit_test(test_counts_survive_fork),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
