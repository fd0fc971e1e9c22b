/*
 * PEM blocks and the DER of private keys, for the Schannel side of tls.h. The DER reader
 * handles the definite-length encodings that key files use and rejects everything else.
 */
#include "cri/streaming/tls_pem.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/strbuf.h"
#include "common/util.h"

#define DER_INTEGER 0x02
#define DER_OCTET_STRING 0x04
#define DER_OID 0x06
#define DER_SEQUENCE 0x30
#define DER_CONTEXT_0 0xa0

/* rsaEncryption (1.2.840.113549.1.1.1) and id-ecPublicKey (1.2.840.10045.2.1). */
static const unsigned char oid_rsa[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const unsigned char oid_ec[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};

/* ---- PEM ---------------------------------------------------------------------------------- */

/* The next line of text from *cursor, without its line break; false at the end. */
static bool next_line(const char **cursor, const char *end, const char **line, size_t *length)
{
    const char *start = *cursor;

    if (start >= end)
        return false;
    const char *newline = memchr(start, '\n', (size_t)(end - start));
    const char *stop = newline ? newline : end;
    *cursor = newline ? newline + 1 : end;
    while (stop > start && (stop[-1] == '\r' || stop[-1] == ' ' || stop[-1] == '\t'))
        stop--;
    *line = start;
    *length = (size_t)(stop - start);
    return true;
}

/* Returns the label of a "-----<marker> <label>-----" line as a new string, or NULL. */
static char *marker_label(const char *line, size_t length, const char *marker)
{
    size_t prefix = 5 + strlen(marker) + 1;

    if (length < prefix + 5 || strncmp(line, "-----", 5) != 0 ||
        strncmp(line + 5, marker, strlen(marker)) != 0 || line[prefix - 1] != ' ' ||
        strncmp(line + length - 5, "-----", 5) != 0)
        return NULL;
    return xstrndup(line + prefix, length - prefix - 5);
}

/* Reads the body of a block up to its END line; *line_number counts the lines read. */
static int read_block(const char **cursor, const char *end, struct tls_pem_block *block,
                      size_t *line_number, struct error *err)
{
    _cleanup_strbuf_ struct strbuf base64 = STRBUF_INIT;
    size_t begin_line = *line_number;
    const char *line;
    size_t length;

    while (next_line(cursor, end, &line, &length)) {
        (*line_number)++;
        _cleanup_free_ char *end_label = marker_label(line, length, "END");
        if (end_label != NULL) {
            if (strcmp(end_label, block->label) != 0)
                return error_set(err, ERROR_INVALID_ARGUMENT,
                                 "line %zu: \"END %s\" closes the \"BEGIN %s\" block of line %zu",
                                 *line_number, end_label, block->label, begin_line);
            int rc = base64_decode(base64.data ? base64.data : "", base64.length, &block->der,
                                   &block->length);
            base64_wipe(base64.data, base64.length);
            if (rc < 0)
                return error_set(err, ERROR_INVALID_ARGUMENT,
                                 "line %zu: the %s block holds invalid base64", begin_line,
                                 block->label);
            return 0;
        }
        if (memchr(line, ':', length) != NULL) {
            /* An RFC 1421 header, such as "Proc-Type: 4,ENCRYPTED" or "DEK-Info: ...". */
            _cleanup_free_ char *header = xstrndup(line, length);

            if (str_has_prefix(header, "Proc-Type:") && strstr(header, "ENCRYPTED") != NULL)
                return error_set(err, ERROR_INVALID_ARGUMENT,
                                 "line %zu: the %s block is encrypted, which is not supported: "
                                 "write the key without a passphrase",
                                 begin_line, block->label);
            continue;
        }
        for (size_t i = 0; i < length; i++) {
            if (line[i] != ' ' && line[i] != '\t')
                strbuf_append_char(&base64, line[i]);
        }
    }
    return error_set(err, ERROR_INVALID_ARGUMENT, "line %zu: \"BEGIN %s\" has no END line",
                     begin_line, block->label);
}

int tls_pem_parse(const char *text, size_t length, struct tls_pem_block **blocks, size_t *count,
                  struct error *err)
{
    const char *cursor = text, *end = text + length, *line;
    struct tls_pem_block *found = NULL;
    size_t found_count = 0, line_number = 0, line_length;

    while (next_line(&cursor, end, &line, &line_length)) {
        line_number++;
        char *label = marker_label(line, line_length, "BEGIN");
        if (label == NULL)
            continue;
        found = xrealloc(found, (found_count + 1) * sizeof(*found));
        found[found_count] = (struct tls_pem_block){.label = label};
        found_count++;
        if (read_block(&cursor, end, &found[found_count - 1], &line_number, err) < 0) {
            tls_pem_blocks_free(found, found_count);
            return -1;
        }
    }
    *blocks = found;
    *count = found_count;
    return 0;
}

void tls_pem_blocks_free(struct tls_pem_block *blocks, size_t count)
{
    for (size_t i = 0; blocks != NULL && i < count; i++) {
        free(blocks[i].label);
        if (blocks[i].der != NULL)
            base64_wipe(blocks[i].der, blocks[i].length);
        free(blocks[i].der);
    }
    free(blocks);
}

/* ---- DER ---------------------------------------------------------------------------------- */

struct der {
    const unsigned char *data;
    size_t length;
};

/* Reads the next element if it has tag: its content goes to *content and *der moves past it. */
static bool der_read(struct der *der, unsigned char tag, struct der *content)
{
    size_t length, header = 2;

    if (der->length < 2 || der->data[0] != tag)
        return false;
    length = der->data[1];
    if (length & 0x80) {
        size_t bytes = length & 0x7f;

        if (bytes == 0 || bytes > 4 || der->length < 2 + bytes)
            return false;
        length = 0;
        for (size_t i = 0; i < bytes; i++)
            length = length << 8 | der->data[2 + i];
        header += bytes;
    }
    if (length > der->length - header)
        return false;
    content->data = der->data + header;
    content->length = length;
    der->data += header + length;
    der->length -= header + length;
    return true;
}

/* Appends a DER element of tag with length bytes of content. */
static void der_write(struct strbuf *out, unsigned char tag, const void *content, size_t length)
{
    unsigned char header[6] = {tag};
    size_t header_length = 2;

    if (length < 0x80) {
        header[1] = (unsigned char)length;
    } else {
        size_t bytes = 1;

        /* The fewest big-endian bytes that hold length, at most the 4 that header has room for. */
        while (bytes < 4 && (length >> (8 * bytes)) != 0)
            bytes++;

        header[1] = (unsigned char)(0x80 | bytes);
        for (size_t i = 0; i < bytes; i++)
            header[2 + i] = (unsigned char)(length >> (8 * (bytes - 1 - i)));
        header_length += bytes;
    }
    strbuf_append(out, header, header_length);
    strbuf_append(out, content, length);
}

static bool oid_equal(const struct der *oid, const unsigned char *expected, size_t length)
{
    return oid->length == length && memcmp(oid->data, expected, length) == 0;
}

/* Writes an object identifier in dotted form ("1.3.101.112") into buffer. */
static void oid_to_text(const struct der *oid, char *buffer, size_t size)
{
    unsigned long value = 0;
    size_t used = 0;

    buffer[0] = '\0';
    for (size_t i = 0; i < oid->length && used + 24 < size; i++) {
        value = value << 7 | (oid->data[i] & 0x7f);
        if (oid->data[i] & 0x80)
            continue;
        if (used == 0)
            used += (size_t)snprintf(buffer, size, "%lu.%lu", value < 80 ? value / 40 : 2,
                                     value < 80 ? value % 40 : value - 80);
        else
            used += (size_t)snprintf(buffer + used, size - used, ".%lu", value);
        value = 0;
    }
}

/* ---- Private keys ------------------------------------------------------------------------- */

static void set_key(struct tls_private_key *key, enum tls_key_type type, const void *der,
                    size_t length)
{
    key->type = type;
    key->der = xmemdup(der, length);
    key->length = length;
}

/* Checks the outer SEQUENCE of a PKCS#1 RSAPrivateKey: version, then the modulus. */
static int load_pkcs1(const struct der *der, struct tls_private_key *key, struct error *err)
{
    struct der rest = *der, sequence, version, modulus;

    if (!der_read(&rest, DER_SEQUENCE, &sequence) || rest.length != 0 ||
        !der_read(&sequence, DER_INTEGER, &version) || !der_read(&sequence, DER_INTEGER, &modulus))
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid DER in the RSA private key");
    set_key(key, TLS_KEY_RSA, der->data, der->length);
    return 0;
}

/* Wraps a SEC1 ECPrivateKey into a PKCS#8 PrivateKeyInfo, with the curve of its parameters. */
static int load_sec1(const struct der *der, struct tls_private_key *key, struct error *err)
{
    struct der rest = *der, sequence, version, secret, parameters, curve;

    if (!der_read(&rest, DER_SEQUENCE, &sequence) || rest.length != 0 ||
        !der_read(&sequence, DER_INTEGER, &version) ||
        !der_read(&sequence, DER_OCTET_STRING, &secret))
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid DER in the EC private key");
    if (!der_read(&sequence, DER_CONTEXT_0, &parameters) || !der_read(&parameters, DER_OID, &curve))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "the EC private key does not name its curve: write it with its "
                         "parameters (openssl pkey writes PKCS#8, which does)");

    _cleanup_strbuf_ struct strbuf algorithm = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf content = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf pkcs8 = STRBUF_INIT;
    static const unsigned char version_0[] = {0};
    der_write(&algorithm, DER_OID, oid_ec, sizeof(oid_ec));
    der_write(&algorithm, DER_OID, curve.data, curve.length);
    der_write(&content, DER_INTEGER, version_0, sizeof(version_0));
    der_write(&content, DER_SEQUENCE, algorithm.data, algorithm.length);
    der_write(&content, DER_OCTET_STRING, der->data, der->length);
    der_write(&pkcs8, DER_SEQUENCE, content.data, content.length);
    set_key(key, TLS_KEY_EC, pkcs8.data, pkcs8.length);
    base64_wipe(content.data, content.length);
    base64_wipe(pkcs8.data, pkcs8.length);
    return 0;
}

/* Reads a PKCS#8 PrivateKeyInfo: RSA keys become PKCS#1, EC keys stay PKCS#8. */
static int load_pkcs8(const struct der *der, struct tls_private_key *key, struct error *err)
{
    struct der rest = *der, sequence, version, algorithm, oid, secret;

    if (!der_read(&rest, DER_SEQUENCE, &sequence) || rest.length != 0 ||
        !der_read(&sequence, DER_INTEGER, &version) ||
        !der_read(&sequence, DER_SEQUENCE, &algorithm) || !der_read(&algorithm, DER_OID, &oid) ||
        !der_read(&sequence, DER_OCTET_STRING, &secret))
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid DER in the PKCS#8 private key");
    if (oid_equal(&oid, oid_rsa, sizeof(oid_rsa)))
        return load_pkcs1(&secret, key, err);
    if (oid_equal(&oid, oid_ec, sizeof(oid_ec))) {
        set_key(key, TLS_KEY_EC, der->data, der->length);
        return 0;
    }

    char text[128];
    oid_to_text(&oid, text, sizeof(text));
    return error_set(err, ERROR_INVALID_ARGUMENT,
                     "the private key's algorithm %s is not supported: use an RSA or ECDSA key",
                     text);
}

int tls_private_key_from_pem(const struct tls_pem_block *blocks, size_t count,
                             struct tls_private_key *key, struct error *err)
{
    memset(key, 0, sizeof(*key));
    for (size_t i = 0; i < count; i++) {
        const char *label = blocks[i].label;
        struct der der = {blocks[i].der, blocks[i].length};

        if (strcmp(label, "PRIVATE KEY") == 0)
            return load_pkcs8(&der, key, err);
        if (strcmp(label, "RSA PRIVATE KEY") == 0)
            return load_pkcs1(&der, key, err);
        if (strcmp(label, "EC PRIVATE KEY") == 0)
            return load_sec1(&der, key, err);
        if (strcmp(label, "ENCRYPTED PRIVATE KEY") == 0)
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "the private key is encrypted, which is not supported: write the "
                             "key without a passphrase");
    }
    return error_set(err, ERROR_INVALID_ARGUMENT,
                     "no private key found (expected a PEM block \"BEGIN PRIVATE KEY\", "
                     "\"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\")");
}

void tls_private_key_clear(struct tls_private_key *key)
{
    if (key->der != NULL)
        base64_wipe(key->der, key->length);
    free(key->der);
    key->der = NULL;
    key->length = 0;
}
