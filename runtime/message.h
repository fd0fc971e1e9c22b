#ifndef HOSTCRI_RUNTIME_MESSAGE_H
#define HOSTCRI_RUNTIME_MESSAGE_H

#include <protobuf-c/protobuf-c.h>

/*
 * Heap protobuf-c messages built by the runtime. Every message, string and array in them is
 * allocated with malloc, so protobuf_c_message_free_unpacked frees a whole response.
 */

/* Returns a new message of desc's type with its default values. Aborts when out of memory. */
void *message_new(const ProtobufCMessageDescriptor *desc);

/* Returns a deep copy of message (packed and unpacked again), or NULL for NULL. */
void *message_copy(const ProtobufCMessage *message);

/* Returns a heap copy of s for a string field ("" for NULL). */
char *message_strdup(const char *s);

/* Returns s for a string field that borrows it, or "" for NULL (protobuf-c's empty string). */
const char *message_view(const char *s);

/* Replaces a string field's value with a heap copy of value ("" for NULL). */
void message_set_string(char **field, const char *value);

#endif
