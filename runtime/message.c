#include "runtime/message.h"

#include <stdlib.h>

#include "common/util.h"

void *message_new(const ProtobufCMessageDescriptor *desc)
{
    void *message = xmalloc(desc->sizeof_message);

    protobuf_c_message_init(desc, message);
    return message;
}

void *message_copy(const ProtobufCMessage *message)
{
    size_t size;
    _cleanup_free_ uint8_t *bytes = NULL;
    ProtobufCMessage *copy;

    if (message == NULL)
        return NULL;
    size = protobuf_c_message_get_packed_size(message);
    bytes = xmalloc(size);
    protobuf_c_message_pack(message, bytes);
    copy = protobuf_c_message_unpack(message->descriptor, NULL, size, bytes);
    if (copy == NULL)
        abort(); /* bytes packed by protobuf-c itself always unpack unless memory ran out */
    return copy;
}

char *message_strdup(const char *s)
{
    return xstrdup(s ? s : "");
}

const char *message_view(const char *s)
{
    return s ? s : "";
}

void message_set_string(char **field, const char *value)
{
    if (*field && *field != protobuf_c_empty_string)
        free(*field);
    *field = message_strdup(value);
}
