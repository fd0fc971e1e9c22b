#include "runtime/pbjson.h"

#include <stdbool.h>
#include <string.h>

#include "common/util.h"

static json_t *field_value(const ProtobufCFieldDescriptor *field, const void *member);

static json_t *bytes_value(const ProtobufCBinaryData *data)
{
    if (data->len > 0 && memchr(data->data, '\0', data->len) == NULL)
        return json_stringn((const char *)data->data, data->len);
    return json_integer((json_int_t)data->len); /* binary: only its length is shown */
}

static json_t *enum_value(const ProtobufCFieldDescriptor *field, int value)
{
    const ProtobufCEnumValue *named =
        protobuf_c_enum_descriptor_get_value(field->descriptor, value);

    return named ? json_string(named->name) : json_integer(value);
}

static json_t *field_value(const ProtobufCFieldDescriptor *field, const void *member)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)member);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)member);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)member);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_integer((json_int_t) * (const uint64_t *)member);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)member);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)member);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)member);
    case PROTOBUF_C_TYPE_ENUM:
        return enum_value(field, *(const int *)member);
    case PROTOBUF_C_TYPE_STRING:
        return json_string(*(char *const *)member ? *(char *const *)member : "");
    case PROTOBUF_C_TYPE_BYTES:
        return bytes_value(member);
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)member
                   ? pbjson_from_message(*(ProtobufCMessage *const *)member)
                   : json_null();
    }
    return json_null();
}

static size_t field_size(const ProtobufCFieldDescriptor *field)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    default:
        return 4;
    }
}

static bool is_map_entry(const ProtobufCFieldDescriptor *field)
{
    const ProtobufCMessageDescriptor *desc = field->descriptor;

    return field->type == PROTOBUF_C_TYPE_MESSAGE && desc->n_fields == 2 &&
           strcmp(desc->fields[0].name, "key") == 0 && strcmp(desc->fields[1].name, "value") == 0 &&
           strstr(desc->name, "Entry") != NULL;
}

static json_t *repeated_value(const ProtobufCFieldDescriptor *field, const void *array, size_t n)
{
    json_t *result = is_map_entry(field) ? json_object() : json_array();
    size_t size = field_size(field);

    for (size_t i = 0; i < n; i++) {
        const void *member = (const char *)array + i * size;

        if (json_is_object(result)) {
            const ProtobufCMessage *entry = *(ProtobufCMessage *const *)member;
            const ProtobufCMessageDescriptor *desc = entry->descriptor;
            const char *key = *(char *const *)((const char *)entry + desc->fields[0].offset);

            json_object_set_new(
                result, key ? key : "",
                field_value(&desc->fields[1], (const char *)entry + desc->fields[1].offset));
        } else {
            json_array_append_new(result, field_value(field, member));
        }
    }
    return result;
}

static bool is_default(const ProtobufCFieldDescriptor *field, const void *member)
{
    static const char zeros[16];

    if (field->type == PROTOBUF_C_TYPE_STRING)
        return str_empty(*(char *const *)member);
    if (field->type == PROTOBUF_C_TYPE_BYTES)
        return ((const ProtobufCBinaryData *)member)->len == 0;
    return memcmp(member, zeros, field_size(field)) == 0;
}

json_t *pbjson_from_message(const ProtobufCMessage *message)
{
    const ProtobufCMessageDescriptor *desc = message->descriptor;
    json_t *object = json_object();

    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &desc->fields[i];
        const char *member = (const char *)message + field->offset;

        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)message + field->quantifier_offset);

            if (n > 0)
                json_object_set_new(object, field->name,
                                    repeated_value(field, *(void *const *)member, n));
            continue;
        }
        if (field->quantifier_offset &&
            !*(const protobuf_c_boolean *)((const char *)message + field->quantifier_offset))
            continue;
        if (is_default(field, member))
            continue;
        json_object_set_new(object, field->name, field_value(field, member));
    }
    return object;
}
