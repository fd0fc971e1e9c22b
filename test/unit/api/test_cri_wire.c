/*
 * Decodes every message of the recorded CRI traffic in test/data/cri-wire (crictl requests,
 * containerd responses) with hostcri's api.proto and compares the text format with the
 * output of `protoc --decode` against upstream's api.proto.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/descriptors.h"
#include "api/text_format.h"
#include "common/strbuf.h"
#include "common/util.h"

/* Number of .bin files that index.tsv lists. */
#define CORPUS_MESSAGE_COUNT 152

static char *corpus_path(const char *name)
{
    const char *source_dir = getenv("HOSTCRI_SOURCE_DIR");

    return xasprintf("%s/test/data/cri-wire/%s", source_dir ? source_dir : "../../..", name);
}

/* Reads a whole corpus file; returns NULL when it cannot be read. */
static uint8_t *read_corpus_file(const char *name, size_t *length)
{
    _cleanup_free_ char *path = corpus_path(name);
    FILE *file = fopen(path, "rb");
    struct strbuf data = STRBUF_INIT;
    char chunk[65536];
    size_t n;

    if (file == NULL)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0)
        strbuf_append(&data, chunk, n);
    fclose(file);
    *length = data.length;
    return (uint8_t *)strbuf_steal(&data);
}

/* One row of index.tsv, split in place. */
struct corpus_row {
    char *seq;
    char *request_type;
    char *response_type;
    char *files;
};

static int split_row(char *line, struct corpus_row *row)
{
    char *columns[7];
    size_t count = 0;
    char *column;

    /* strsep keeps empty columns, which strtok would skip. */
    while ((column = strsep(&line, "\t")) != NULL) {
        if (count == 7)
            return -1;
        columns[count++] = column;
    }
    if (count != 7)
        return -1;
    row->seq = columns[0];
    row->request_type = columns[3];
    row->response_type = columns[4];
    row->files = columns[6];
    return 0;
}

/* Returns the message type of a .bin file of row, or NULL for a file that is not a message. */
static const char *file_message_type(const struct corpus_row *row, const char *file)
{
    size_t length = strlen(file);

    if (length < 4 || strcmp(file + length - 4, ".bin") != 0)
        return NULL;
    if (strstr(file, ".request.bin") != NULL)
        return row->request_type;
    if (strstr(file, ".response.bin") != NULL || strstr(file, ".response-") != NULL)
        return row->response_type;
    return NULL;
}

/* Prints the first line where the printed text and the expected text differ. */
static void report_first_difference(const char *file, const char *printed, const char *expected,
                                    size_t expected_length)
{
    size_t line = 1, start = 0, i = 0;

    while (i < expected_length && printed[i] == expected[i]) {
        if (expected[i] == '\n') {
            line++;
            start = i + 1;
        }
        i++;
    }

    const char *printed_end = strchr(printed + start, '\n');
    const char *expected_end = memchr(expected + start, '\n', expected_length - start);
    int printed_line_length =
        printed_end ? (int)(printed_end - printed - start) : (int)strlen(printed + start);
    int expected_line_length =
        expected_end ? (int)(expected_end - expected - start) : (int)(expected_length - start);

    print_error("%s: text format differs from protoc at line %zu\n"
                "  printed:  %.*s\n  expected: %.*s\n",
                file, line, printed_line_length > 200 ? 200 : printed_line_length, printed + start,
                expected_line_length > 200 ? 200 : expected_line_length, expected + start);
}

/* Checks one .bin file against its .txt file; returns 0 when they match. */
static int check_message(const char *file, const char *type_name)
{
    const ProtobufCMessageDescriptor *descriptor = api_message_descriptor_find(type_name);
    _cleanup_free_ char *text_file = NULL;
    _cleanup_free_ uint8_t *wire = NULL;
    _cleanup_free_ uint8_t *expected = NULL;
    _cleanup_strbuf_ struct strbuf printed = STRBUF_INIT;
    size_t wire_length = 0, expected_length = 0;
    ProtobufCMessage *message;
    size_t unknown;

    if (descriptor == NULL) {
        print_error("%s: message type %s not found in api.proto\n", file, type_name);
        return -1;
    }
    wire = read_corpus_file(file, &wire_length);
    text_file = xasprintf("%.*s.txt", (int)(strlen(file) - 4), file);
    expected = read_corpus_file(text_file, &expected_length);
    if (wire == NULL || expected == NULL) {
        print_error("%s: cannot read it or %s\n", file, text_file);
        return -1;
    }

    message = protobuf_c_message_unpack(descriptor, NULL, wire_length, wire);
    if (message == NULL) {
        print_error("%s: protobuf-c cannot unpack it as %s\n", file, type_name);
        return -1;
    }
    unknown = api_unknown_field_count(message);
    api_text_format(message, &printed);
    protobuf_c_message_free_unpacked(message, NULL);

    if (unknown != 0) {
        print_error("%s: %zu unknown field(s) for %s\n", file, unknown, type_name);
        return -1;
    }
    const char *text = printed.data ? printed.data : "";

    if (printed.length != expected_length || memcmp(text, expected, expected_length) != 0) {
        report_first_difference(file, text, (const char *)expected, expected_length);
        return -1;
    }
    return 0;
}

static void test_corpus_matches_protoc(void **state)
{
    size_t index_length = 0;
    _cleanup_free_ char *index = (char *)read_corpus_file("index.tsv", &index_length);
    char *save = NULL;
    size_t checked = 0, failures = 0, rows = 0;

    assert_non_null(index);

    char *line = strtok_r(index, "\n", &save); /* the header line */
    assert_non_null(line);
    assert_true(str_has_prefix(line, "seq\t"));

    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        struct corpus_row row = {0};
        char *file_save = NULL;

        assert_int_equal(split_row(line, &row), 0);
        rows++;
        for (char *file = strtok_r(row.files, ",", &file_save); file != NULL;
             file = strtok_r(NULL, ",", &file_save)) {
            const char *type = file_message_type(&row, file);

            if (type == NULL)
                continue;
            checked++;
            if (check_message(file, type) != 0)
                failures++;
        }
    }
    assert_int_equal(rows, 83);
    assert_int_equal(checked, CORPUS_MESSAGE_COUNT);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_matches_protoc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
