#include "cri/grpc_wire.h"

#include <string.h>

void grpc_reader_init(struct grpc_reader *reader, size_t max_message_size)
{
    memset(reader, 0, sizeof(*reader));
    reader->max_message_size = max_message_size;
}

void grpc_reader_free(struct grpc_reader *reader)
{
    strbuf_free(&reader->message);
    strbuf_free(&reader->first);
}

static uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Checks a complete prefix and prepares for the message body it announces. */
static int begin_message(struct grpc_reader *reader, struct error *err)
{
    uint8_t flags = reader->prefix[0];

    reader->message_length = read_be32(reader->prefix + 1);
    if (flags & 1)
        return error_set(err, ERROR_UNIMPLEMENTED,
                         "compressed messages are not supported: send messages uncompressed "
                         "(grpc-encoding identity)");
    if (flags & ~1)
        return error_set(err, ERROR_INTERNAL, "invalid gRPC message flags 0x%02x", flags);
    if (reader->message_length > reader->max_message_size)
        return error_set(err, ERROR_RESOURCE_EXHAUSTED,
                         "received message larger than max (%zu vs. %zu bytes)",
                         reader->message_length, reader->max_message_size);
    strbuf_reset(&reader->message);
    return 0;
}

static void end_message(struct grpc_reader *reader)
{
    if (reader->messages == 0) {
        strbuf_free(&reader->first);
        reader->first = reader->message;
        memset(&reader->message, 0, sizeof(reader->message));
        /* An empty message still needs a buffer so that first.data is never NULL. */
        if (reader->first.data == NULL)
            strbuf_reserve(&reader->first, 0);
    } else {
        strbuf_reset(&reader->message);
    }
    reader->messages++;
    reader->prefix_length = 0;
    reader->message_length = 0;
}

int grpc_reader_feed(struct grpc_reader *reader, const uint8_t *data, size_t length,
                     struct error *err)
{
    while (length > 0) {
        if (reader->prefix_length < GRPC_PREFIX_SIZE) {
            size_t take = GRPC_PREFIX_SIZE - reader->prefix_length;

            if (take > length)
                take = length;
            memcpy(reader->prefix + reader->prefix_length, data, take);
            reader->prefix_length += take;
            data += take;
            length -= take;
            if (reader->prefix_length < GRPC_PREFIX_SIZE)
                return 0;
            if (begin_message(reader, err) < 0)
                return -1;
        } else {
            size_t missing = reader->message_length - reader->message.length;
            size_t take = missing < length ? missing : length;

            strbuf_append(&reader->message, data, take);
            data += take;
            length -= take;
        }
        if (reader->prefix_length == GRPC_PREFIX_SIZE &&
            reader->message.length == reader->message_length)
            end_message(reader);
    }
    return 0;
}

int grpc_reader_has_partial(const struct grpc_reader *reader)
{
    return reader->prefix_length > 0;
}

void grpc_write_prefix(uint8_t prefix[GRPC_PREFIX_SIZE], uint32_t length)
{
    prefix[0] = 0;
    prefix[1] = (uint8_t)(length >> 24);
    prefix[2] = (uint8_t)(length >> 16);
    prefix[3] = (uint8_t)(length >> 8);
    prefix[4] = (uint8_t)length;
}

int grpc_timeout_parse(const char *value, size_t length, uint64_t *timeout_ns)
{
    uint64_t amount = 0;
    uint64_t unit_ns;

    if (length < 2 || length > GRPC_TIMEOUT_MAX_DIGITS + 1)
        return -1;
    for (size_t i = 0; i + 1 < length; i++) {
        if (value[i] < '0' || value[i] > '9')
            return -1;
        amount = amount * 10 + (uint64_t)(value[i] - '0');
    }
    switch (value[length - 1]) {
    case 'H':
        unit_ns = 3600ULL * 1000000000ULL;
        break;
    case 'M':
        unit_ns = 60ULL * 1000000000ULL;
        break;
    case 'S':
        unit_ns = 1000000000ULL;
        break;
    case 'm':
        unit_ns = 1000000ULL;
        break;
    case 'u':
        unit_ns = 1000ULL;
        break;
    case 'n':
        unit_ns = 1;
        break;
    default:
        return -1;
    }
    if (amount != 0 && unit_ns > UINT64_MAX / amount)
        *timeout_ns = UINT64_MAX;
    else
        *timeout_ns = amount * unit_ns;
    return 0;
}

void grpc_percent_encode(struct strbuf *out, const char *message)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)message; *p; p++) {
        if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
            strbuf_append_char(out, (char)*p);
        } else {
            char escaped[3] = {'%', hex[*p >> 4], hex[*p & 0xf]};

            strbuf_append(out, escaped, sizeof(escaped));
        }
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void grpc_percent_decode(struct strbuf *out, const char *value, size_t length)
{
    for (size_t i = 0; i < length; i++) {
        if (value[i] == '%' && i + 2 < length && hex_value(value[i + 1]) >= 0 &&
            hex_value(value[i + 2]) >= 0) {
            strbuf_append_char(out, (char)(hex_value(value[i + 1]) << 4 | hex_value(value[i + 2])));
            i += 2;
        } else {
            strbuf_append_char(out, value[i]);
        }
    }
}

int grpc_content_type_is_valid(const char *value, size_t length)
{
    static const char base[] = "application/grpc";
    size_t base_length = sizeof(base) - 1;

    if (length < base_length || strncmp(value, base, base_length) != 0)
        return 0;
    /* "application/grpc", "application/grpc+proto", "application/grpc;charset=..." */
    if (length == base_length)
        return 1;
    if (value[base_length] == ';')
        return 1;
    return length == base_length + 6 && strncmp(value + base_length, "+proto", 6) == 0;
}
