#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/crilog.h"

/* 2026-12-04T17:03:30.000000123Z */
#define TEST_TIME_NS (INT64_C(1796403810) * 1000000000 + 123)
#define STAMP "2026-12-04T17:03:30.000000123Z"

struct fixture {
    char path[64];
    struct crilog log;
};

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    struct error err = ERROR_INIT;
    int fd;

    strcpy(fx->path, "/tmp/hostcri-crilog-XXXXXX");
    fd = mkstemp(fx->path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(crilog_open(&fx->log, fx->path, 0, &err), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    crilog_close(&fx->log, TEST_TIME_NS);
    unlink(fx->path);
    free(fx);
    return 0;
}

/* Closes the writer and returns the whole file (caller frees) and its size. */
static char *finish(struct fixture *fx, size_t *size)
{
    FILE *file;
    char *data;
    long length;

    crilog_close(&fx->log, TEST_TIME_NS);
    file = fopen(fx->path, "rb");
    assert_non_null(file);
    fseek(file, 0, SEEK_END);
    length = ftell(file);
    fseek(file, 0, SEEK_SET);
    data = xmalloc((size_t)length + 1);
    assert_int_equal(fread(data, 1, (size_t)length, file), (size_t)length);
    data[length] = '\0';
    fclose(file);
    *size = (size_t)length;
    return data;
}

static void format_time_utc(void **state)
{
    char text[40];

    crilog_format_time(TEST_TIME_NS, text, sizeof(text));
    assert_string_equal(text, STAMP);
    crilog_format_time(0, text, sizeof(text));
    assert_string_equal(text, "1970-01-01T00:00:00.000000000Z");
}

static void simple_lines(void **state)
{
    struct fixture *fx = *state;
    const char *out = "hello\nworld\n";
    _cleanup_free_ char *data = NULL;
    size_t size;

    crilog_append(&fx->log, CRILOG_STDOUT, out, strlen(out), TEST_TIME_NS);
    crilog_append(&fx->log, CRILOG_STDERR, "oops\n", 5, TEST_TIME_NS);
    data = finish(fx, &size);
    assert_string_equal(data, STAMP " stdout F hello\n" STAMP " stdout F world\n" STAMP
                                    " stderr F oops\n");
}

static void line_across_writes(void **state)
{
    struct fixture *fx = *state;
    _cleanup_free_ char *data = NULL;
    size_t size;

    crilog_append(&fx->log, CRILOG_STDOUT, "hel", 3, TEST_TIME_NS);
    crilog_append(&fx->log, CRILOG_STDERR, "e1\n", 3, TEST_TIME_NS);
    crilog_append(&fx->log, CRILOG_STDOUT, "lo\n", 3, TEST_TIME_NS);
    data = finish(fx, &size);
    assert_string_equal(data, STAMP " stderr F e1\n" STAMP " stdout F hello\n");
}

static void no_trailing_newline(void **state)
{
    struct fixture *fx = *state;
    _cleanup_free_ char *data = NULL;
    size_t size;

    crilog_append(&fx->log, CRILOG_STDOUT, "one\ntwo", 7, TEST_TIME_NS);
    assert_int_equal(crilog_flush(&fx->log, NULL), 0);
    data = finish(fx, &size);
    assert_string_equal(data, STAMP " stdout F one\n" STAMP " stdout F two\n");
}

static void crlf_removed(void **state)
{
    struct fixture *fx = *state;
    _cleanup_free_ char *data = NULL;
    size_t size;

    crilog_append(&fx->log, CRILOG_STDOUT, "dos\r\nsplit\r", 11, TEST_TIME_NS);
    crilog_append(&fx->log, CRILOG_STDOUT, "\nmid\rdle\n\r\n", 11, TEST_TIME_NS);
    data = finish(fx, &size);
    assert_string_equal(data, STAMP " stdout F dos\n" STAMP " stdout F split\n" STAMP
                                    " stdout F mid\rdle\n" STAMP " stdout F \n");
}

static void empty_lines_kept(void **state)
{
    struct fixture *fx = *state;
    _cleanup_free_ char *data = NULL;
    size_t size;

    crilog_append(&fx->log, CRILOG_STDERR, "\n\n", 2, TEST_TIME_NS);
    data = finish(fx, &size);
    assert_string_equal(data, STAMP " stderr F \n" STAMP " stderr F \n");
}

/* A 40 KiB line becomes P(16 KiB), P(16 KiB), F(8 KiB), written in uneven pieces. */
static void long_line_split(void **state)
{
    struct fixture *fx = *state;
    size_t line_length = 40 * 1024;
    _cleanup_free_ char *line = xmalloc(line_length + 1);
    _cleanup_free_ char *data = NULL;
    size_t prefix = strlen(STAMP " stdout P ");
    size_t size;
    char *cursor;

    for (size_t i = 0; i < line_length; i++)
        line[i] = (char)('a' + i % 26);
    line[line_length] = '\n';
    crilog_append(&fx->log, CRILOG_STDOUT, line, 1000, TEST_TIME_NS);
    crilog_append(&fx->log, CRILOG_STDOUT, line + 1000, line_length + 1 - 1000, TEST_TIME_NS);
    data = finish(fx, &size);

    assert_int_equal(size, 3 * prefix + line_length + 3);
    cursor = data;
    assert_memory_equal(cursor, STAMP " stdout P ", prefix);
    assert_memory_equal(cursor + prefix, line, 16384);
    assert_int_equal(cursor[prefix + 16384], '\n');
    cursor += prefix + 16384 + 1;
    assert_memory_equal(cursor, STAMP " stdout P ", prefix);
    assert_memory_equal(cursor + prefix, line + 16384, 16384);
    cursor += prefix + 16384 + 1;
    assert_memory_equal(cursor, STAMP " stdout F ", prefix);
    assert_memory_equal(cursor + prefix, line + 32768, line_length - 32768);
    assert_int_equal(cursor[prefix + line_length - 32768], '\n');
}

/* A line of exactly the maximum size is one F record, not a P and an empty F. */
static void line_of_max_size(void **state)
{
    struct fixture *fx = *state;
    _cleanup_free_ char *line = xmalloc(CRILOG_DEFAULT_MAX_LINE + 1);
    _cleanup_free_ char *data = NULL;
    size_t prefix = strlen(STAMP " stdout F ");
    size_t size;

    memset(line, 'x', CRILOG_DEFAULT_MAX_LINE);
    line[CRILOG_DEFAULT_MAX_LINE] = '\n';
    crilog_append(&fx->log, CRILOG_STDOUT, line, CRILOG_DEFAULT_MAX_LINE, TEST_TIME_NS);
    crilog_append(&fx->log, CRILOG_STDOUT, line + CRILOG_DEFAULT_MAX_LINE, 1, TEST_TIME_NS);
    data = finish(fx, &size);
    assert_int_equal(size, prefix + CRILOG_DEFAULT_MAX_LINE + 1);
    assert_memory_equal(data, STAMP " stdout F ", prefix);
}

/* A long line without a newline at end of file ends with an F record. */
static void long_tail_at_eof(void **state)
{
    struct fixture *fx = *state;
    size_t length = CRILOG_DEFAULT_MAX_LINE + 10;
    _cleanup_free_ char *text = xmalloc(length);
    _cleanup_free_ char *data = NULL;
    size_t prefix = strlen(STAMP " stdout P ");
    size_t size;

    memset(text, 'y', length);
    crilog_append(&fx->log, CRILOG_STDOUT, text, length, TEST_TIME_NS);
    data = finish(fx, &size);
    assert_int_equal(size, 2 * prefix + length + 2);
    assert_memory_equal(data, STAMP " stdout P ", prefix);
    assert_memory_equal(data + prefix + CRILOG_DEFAULT_MAX_LINE + 1, STAMP " stdout F yyyyyyyyyy\n",
                        prefix + 11);
}

static void binary_passed_through(void **state)
{
    struct fixture *fx = *state;
    const unsigned char bytes[] = {0x00, 0xff, 0x1b, '[', 'm', 0x80, '\r', 0x7f};
    _cleanup_free_ char *data = NULL;
    size_t prefix = strlen(STAMP " stdout F ");
    size_t size;

    crilog_append(&fx->log, CRILOG_STDOUT, bytes, sizeof(bytes), TEST_TIME_NS);
    crilog_append(&fx->log, CRILOG_STDOUT, "\n", 1, TEST_TIME_NS);
    data = finish(fx, &size);
    assert_int_equal(size, prefix + sizeof(bytes) + 1);
    assert_memory_equal(data + prefix, bytes, sizeof(bytes));
    assert_int_equal(data[size - 1], '\n');
}

/* Reopen after a rename (the kubelet's rotation) writes into a new file at the old path. */
static void reopen_after_rotation(void **state)
{
    struct fixture *fx = *state;
    char rotated[80];
    _cleanup_free_ char *data = NULL;
    struct error err = ERROR_INIT;
    size_t size;

    snprintf(rotated, sizeof(rotated), "%s.1", fx->path);
    crilog_append(&fx->log, CRILOG_STDOUT, "old\n", 4, TEST_TIME_NS);
    assert_int_equal(crilog_flush(&fx->log, &err), 0);
    assert_int_equal(rename(fx->path, rotated), 0);
    assert_int_equal(crilog_reopen(&fx->log, &err), 0);
    crilog_append(&fx->log, CRILOG_STDOUT, "new\n", 4, TEST_TIME_NS);
    data = finish(fx, &size);
    unlink(rotated);
    assert_string_equal(data, STAMP " stdout F new\n");
}

/* Many short lines are written in batches, so the buffer never holds more than about the
 * threshold. */
static void many_short_lines_bounded(void **state)
{
    struct fixture *fx = *state;
    size_t input_length = 1 << 20;
    _cleanup_free_ char *input = xmalloc(input_length);
    _cleanup_free_ char *data = NULL;
    size_t record_length = strlen(STAMP " stdout F y\n");
    size_t size;

    for (size_t i = 0; i < input_length; i += 2) {
        input[i] = 'y';
        input[i + 1] = '\n';
    }
    crilog_append(&fx->log, CRILOG_STDOUT, input, input_length, TEST_TIME_NS);
    assert_true(fx->log.out.capacity <= 2 * CRILOG_FLUSH_THRESHOLD);
    assert_int_equal(crilog_flush(&fx->log, NULL), 0);
    data = finish(fx, &size);
    assert_int_equal(size, input_length / 2 * record_length);
    assert_memory_equal(data + size - record_length, STAMP " stdout F y\n", record_length);
}

static void discard_without_path(void **state)
{
    struct crilog log;
    struct error err = ERROR_INIT;

    assert_int_equal(crilog_open(&log, NULL, 0, &err), 0);
    crilog_append(&log, CRILOG_STDOUT, "lost\n", 5, TEST_TIME_NS);
    assert_int_equal(crilog_flush(&log, &err), 0);
    crilog_close(&log, TEST_TIME_NS);
}

static void open_missing_dir_fails(void **state)
{
    struct crilog log;
    struct error err = ERROR_INIT;

    assert_int_equal(crilog_open(&log, "/nonexistent-hostcri/dir/0.log", 0, &err), -1);
    assert_int_equal(err.code, ERROR_INTERNAL);
    assert_non_null(strstr(err.message, "/nonexistent-hostcri/dir/0.log"));
    error_clear(&err);
    crilog_close(&log, TEST_TIME_NS);
}

/* A failed write is logged once and not again within a minute, and its records are dropped. */
static void flush_or_log_rate_limited(void **state)
{
    struct crilog log;
    struct error err = ERROR_INIT;
    int64_t logged_ns;

    assert_int_equal(crilog_open(&log, "/dev/full", 0, &err), 0);
    crilog_append(&log, CRILOG_STDOUT, "lost\n", 5, TEST_TIME_NS);
    crilog_flush_or_log(&log, "c1");
    logged_ns = log.flush_error_logged_ns;
    assert_true(logged_ns > 0);
    assert_int_equal(log.out.length, 0);
    crilog_append(&log, CRILOG_STDOUT, "lost again\n", 11, TEST_TIME_NS);
    crilog_flush_or_log(&log, "c1");
    assert_int_equal(log.flush_error_logged_ns, logged_ns);
    assert_int_equal(log.out.length, 0);
    crilog_close(&log, TEST_TIME_NS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_time_utc),
        cmocka_unit_test(flush_or_log_rate_limited),
        cmocka_unit_test_setup_teardown(simple_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(line_across_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(no_trailing_newline, setup, teardown),
        cmocka_unit_test_setup_teardown(crlf_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_lines_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(long_line_split, setup, teardown),
        cmocka_unit_test_setup_teardown(line_of_max_size, setup, teardown),
        cmocka_unit_test_setup_teardown(long_tail_at_eof, setup, teardown),
        cmocka_unit_test_setup_teardown(binary_passed_through, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_after_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(many_short_lines_bounded, setup, teardown),
        cmocka_unit_test(discard_without_path),
        cmocka_unit_test(open_missing_dir_fails),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
