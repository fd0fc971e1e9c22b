#include "api/text_format.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static void print_message_body(const ProtobufCMessage *message, struct strbuf *out, unsigned depth);

static void append_indent(struct strbuf *out, unsigned depth)
{
    for (unsigned i = 0; i < depth; i++)
        strbuf_append_str(out, "  ");
}

/* Appends data as a quoted string with the escapes of protoc's CEscape. */
static void append_quoted(struct strbuf *out, const uint8_t *data, size_t length)
{
    strbuf_append_char(out, '"');
    for (size_t i = 0; i < length; i++) {
        uint8_t c = data[i];

        switch (c) {
        case '\n':
            strbuf_append_str(out, "\\n");
            break;
        case '\r':
            strbuf_append_str(out, "\\r");
            break;
        case '\t':
            strbuf_append_str(out, "\\t");
            break;
        case '"':
            strbuf_append_str(out, "\\\"");
            break;
        case '\'':
            strbuf_append_str(out, "\\'");
            break;
        case '\\':
            strbuf_append_str(out, "\\\\");
            break;
        default:
            if (c < 0x20 || c >= 0x7f)
                strbuf_appendf(out, "\\%03o", c);
            else
                strbuf_append_char(out, (char)c);
        }
    }
    strbuf_append_char(out, '"');
}

/*
 * Appends a double the way protoc's SimpleDtoa does: the shortest of %.15g and %.17g that
 * reads back as the same value, and inf, -inf or nan.
 */
static void append_double(struct strbuf *out, double value)
{
    char text[64];

    if (isnan(value)) {
        strbuf_append_str(out, "nan");
        return;
    }
    if (isinf(value)) {
        strbuf_append_str(out, value < 0 ? "-inf" : "inf");
        return;
    }
    snprintf(text, sizeof(text), "%.*g", DBL_DIG, value);
    if (strtod(text, NULL) != value)
        snprintf(text, sizeof(text), "%.*g", DBL_DIG + 2, value);
    strbuf_append_str(out, text);
}

/* Appends a float the way protoc's SimpleFtoa does (%.6g, else %.9g). */
static void append_float(struct strbuf *out, float value)
{
    char text[64];

    if (isnan(value)) {
        strbuf_append_str(out, "nan");
        return;
    }
    if (isinf(value)) {
        strbuf_append_str(out, value < 0 ? "-inf" : "inf");
        return;
    }
    snprintf(text, sizeof(text), "%.*g", FLT_DIG, (double)value);
    if (strtof(text, NULL) != value)
        snprintf(text, sizeof(text), "%.*g", FLT_DIG + 3, (double)value);
    strbuf_append_str(out, text);
}

static void append_enum(struct strbuf *out, const ProtobufCEnumDescriptor *descriptor, int value)
{
    const ProtobufCEnumValue *known = protobuf_c_enum_descriptor_get_value(descriptor, value);

    if (known != NULL)
        strbuf_append_str(out, known->name);
    else
        strbuf_appendf(out, "%d", value);
}

/* Appends one non-message value; member points to its storage in the C struct or array. */
static void append_scalar(struct strbuf *out, const ProtobufCFieldDescriptor *field,
                          const void *member)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        strbuf_appendf(out, "%" PRId32, *(const int32_t *)member);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        strbuf_appendf(out, "%" PRIu32, *(const uint32_t *)member);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        strbuf_appendf(out, "%" PRId64, *(const int64_t *)member);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        strbuf_appendf(out, "%" PRIu64, *(const uint64_t *)member);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        append_float(out, *(const float *)member);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        append_double(out, *(const double *)member);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        strbuf_append_str(out, *(const protobuf_c_boolean *)member ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_ENUM:
        append_enum(out, field->descriptor, *(const int *)member);
        break;
    case PROTOBUF_C_TYPE_STRING: {
        const char *text = *(char *const *)member;

        append_quoted(out, (const uint8_t *)(text ? text : ""), text ? strlen(text) : 0);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bytes = member;

        append_quoted(out, bytes->data, bytes->len);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
}

/* Size of one element of a repeated field's array. */
static size_t element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return sizeof(int32_t);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(int64_t);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

/* True when a proto3 field without presence contains a value other than its default. */
static bool value_differs_from_default(const ProtobufCFieldDescriptor *field, const void *member)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *text = *(char *const *)member;

        return text != NULL && text[0] != '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)member)->len > 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)member != NULL;
    default: {
        /* protoc compares the raw bits, so a double -0.0 counts as set. */
        static const uint8_t zero[sizeof(ProtobufCBinaryData)];

        return memcmp(member, zero, element_size(field->type)) != 0;
    }
    }
}

/* True when a singular field is present and protoc would print it. */
static bool singular_field_is_set(const ProtobufCMessage *message,
                                  const ProtobufCFieldDescriptor *field, const void *member)
{
    const char *base = (const char *)message;

    /* NOTE: api.proto has no oneof and no optional fields, so no test reaches these branches. */
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + field->quantifier_offset) == field->id;

    switch (field->label) {
    case PROTOBUF_C_LABEL_REQUIRED:
        return true;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (field->type == PROTOBUF_C_TYPE_STRING || field->type == PROTOBUF_C_TYPE_MESSAGE)
            return *(const void *const *)member != NULL;
        return *(const protobuf_c_boolean *)(base + field->quantifier_offset);
    default:
        return value_differs_from_default(field, member);
    }
}

/* True for the key/value messages that protoc-c generates for map fields. */
static bool is_map_entry(const ProtobufCMessageDescriptor *descriptor)
{
    size_t name_length = strlen(descriptor->name);

    return descriptor->n_fields == 2 && name_length > 5 &&
           strcmp(descriptor->name + name_length - 5, "Entry") == 0 &&
           descriptor->fields[0].id == 1 && strcmp(descriptor->fields[0].name, "key") == 0 &&
           descriptor->fields[1].id == 2 && strcmp(descriptor->fields[1].name, "value") == 0;
}

/* Prints one value of a field: a `name: value` line or a `name {` block. */
static void print_value(const ProtobufCFieldDescriptor *field, const void *member,
                        struct strbuf *out, unsigned depth)
{
    append_indent(out, depth);
    strbuf_append_str(out, field->name);

    if (field->type == PROTOBUF_C_TYPE_MESSAGE) {
        strbuf_append_str(out, " {\n");
        print_message_body(*(ProtobufCMessage *const *)member, out, depth + 1);
        append_indent(out, depth);
        strbuf_append_str(out, "}\n");
        return;
    }
    strbuf_append_str(out, ": ");
    append_scalar(out, field, member);
    strbuf_append_char(out, '\n');
}

/* One map entry to sort: the entry, the descriptor of its key and its position on the wire. */
struct map_item {
    const ProtobufCMessage *entry;
    const ProtobufCFieldDescriptor *key_field;
    size_t position;
};

static int compare_signed(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

static int compare_map_keys(const ProtobufCMessage *a, const ProtobufCMessage *b,
                            const ProtobufCFieldDescriptor *key_field)
{
    const void *key_a = (const char *)a + key_field->offset;
    const void *key_b = (const char *)b + key_field->offset;

    switch (key_field->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *text_a = *(char *const *)key_a;
        const char *text_b = *(char *const *)key_b;

        /* strcmp compares as unsigned char, like std::string in protoc. */
        return strcmp(text_a ? text_a : "", text_b ? text_b : "");
    }
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return compare_signed(*(const int32_t *)key_a, *(const int32_t *)key_b);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return compare_signed(*(const uint32_t *)key_a, *(const uint32_t *)key_b);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return compare_signed(*(const int64_t *)key_a, *(const int64_t *)key_b);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t value_a = *(const uint64_t *)key_a, value_b = *(const uint64_t *)key_b;

        return (value_a > value_b) - (value_a < value_b);
    }
    case PROTOBUF_C_TYPE_BOOL:
        return compare_signed(*(const protobuf_c_boolean *)key_a != 0,
                              *(const protobuf_c_boolean *)key_b != 0);
    default:
        return 0;
    }
}

/* Orders by key, then by wire position, which makes qsort stable as protoc's sort is. */
static int compare_map_items(const void *a, const void *b)
{
    const struct map_item *item_a = a, *item_b = b;
    int order = compare_map_keys(item_a->entry, item_b->entry, item_a->key_field);

    if (order != 0)
        return order;
    return (item_a->position > item_b->position) - (item_a->position < item_b->position);
}

/*
 * Prints the entries of a map field sorted by key as protoc does, which also keeps
 * entries with the same key, in wire order.
 */
static void print_map(const ProtobufCFieldDescriptor *field, ProtobufCMessage *const *entries,
                      size_t count, struct strbuf *out, unsigned depth)
{
    const ProtobufCMessageDescriptor *entry_descriptor = field->descriptor;
    struct map_item *items = xcalloc(count ? count : 1, sizeof(*items));
    size_t n_items = 0;

    for (size_t i = 0; i < count; i++) {
        /* Unpacked messages never hold NULL entries; a hand-built one may. */
        if (entries[i] == NULL)
            continue;
        items[n_items].entry = entries[i];
        items[n_items].key_field = &entry_descriptor->fields[0];
        items[n_items].position = i;
        n_items++;
    }
    qsort(items, n_items, sizeof(*items), compare_map_items);
    for (size_t i = 0; i < n_items; i++)
        print_value(field, &items[i].entry, out, depth);
    free(items);
}

static void print_field(const ProtobufCMessage *message, const ProtobufCFieldDescriptor *field,
                        bool always, struct strbuf *out, unsigned depth)
{
    const char *member = (const char *)message + field->offset;

    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t count = *(const size_t *)((const char *)message + field->quantifier_offset);
        const char *array = *(char *const *)member;
        size_t size = element_size(field->type);

        if (field->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(field->descriptor)) {
            print_map(field, (ProtobufCMessage *const *)array, count, out, depth);
            return;
        }
        for (size_t i = 0; i < count; i++)
            print_value(field, array + i * size, out, depth);
        return;
    }
    if (always || singular_field_is_set(message, field, member))
        print_value(field, member, out, depth);
}

/* Decodes the base-128 varint that protobuf-c keeps as raw bytes for an unknown field. */
static uint64_t decode_varint(const uint8_t *data, size_t length)
{
    uint64_t value = 0;

    for (size_t i = 0; i < length && i < 10; i++)
        value |= (uint64_t)(data[i] & 0x7f) << (7 * i);
    return value;
}

static uint64_t decode_little_endian(const uint8_t *data, size_t length)
{
    uint64_t value = 0;

    for (size_t i = length; i > 0; i--)
        value = (value << 8) | data[i - 1];
    return value;
}

/* protobuf-c keeps the length prefix in the data of a length-delimited unknown field. */
static void append_length_delimited(struct strbuf *out, const uint8_t *data, size_t length)
{
    size_t prefix = 0;

    while (prefix < length && prefix < 10 && (data[prefix] & 0x80))
        prefix++;
    prefix = prefix < length ? prefix + 1 : length;
    append_quoted(out, data + prefix, length - prefix);
}

static void print_unknown_field(const ProtobufCMessageUnknownField *field, struct strbuf *out,
                                unsigned depth)
{
    append_indent(out, depth);
    strbuf_appendf(out, "%" PRIu32 ": ", field->tag);

    switch (field->wire_type) {
    case PROTOBUF_C_WIRE_TYPE_VARINT:
        strbuf_appendf(out, "%" PRIu64, decode_varint(field->data, field->len));
        break;
    case PROTOBUF_C_WIRE_TYPE_32BIT:
        strbuf_appendf(out, "0x%08" PRIx64, decode_little_endian(field->data, field->len));
        break;
    case PROTOBUF_C_WIRE_TYPE_64BIT:
        strbuf_appendf(out, "0x%016" PRIx64, decode_little_endian(field->data, field->len));
        break;
    default:
        append_length_delimited(out, field->data, field->len);
        break;
    }
    strbuf_append_char(out, '\n');
}

/* Prints the fields of message, one indentation level per depth; NULL prints nothing. */
static void print_message_body(const ProtobufCMessage *message, struct strbuf *out, unsigned depth)
{
    if (message == NULL)
        return;

    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    bool map_entry = is_map_entry(descriptor);

    /* protoc-c emits the field table sorted by field number, the order protoc prints in. */
    for (unsigned i = 0; i < descriptor->n_fields; i++)
        print_field(message, &descriptor->fields[i], map_entry, out, depth);

    for (unsigned i = 0; i < message->n_unknown_fields; i++)
        print_unknown_field(&message->unknown_fields[i], out, depth);
}

void api_text_format(const ProtobufCMessage *message, struct strbuf *out)
{
    print_message_body(message, out, 0);
}

size_t api_unknown_field_count(const ProtobufCMessage *message)
{
    if (message == NULL)
        return 0;

    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    size_t count = message->n_unknown_fields;

    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        const char *member = (const char *)message + field->offset;

        if (field->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (field->label != PROTOBUF_C_LABEL_REPEATED) {
            count += api_unknown_field_count(*(ProtobufCMessage *const *)member);
            continue;
        }

        size_t n = *(const size_t *)((const char *)message + field->quantifier_offset);
        ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *)member;

        for (size_t j = 0; j < n; j++)
            count += api_unknown_field_count(items[j]);
    }
    return count;
}
