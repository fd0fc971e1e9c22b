#ifndef HOSTCRI_RUNTIME_PBJSON_H
#define HOSTCRI_RUNTIME_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/*
 * Converts a protobuf-c message to a JSON object for the verbose info of status responses:
 * field names as in the .proto file, enums by name, bytes as text when printable, maps as
 * objects. Fields at their default value are left out. Returns a new reference.
 */
json_t *pbjson_from_message(const ProtobufCMessage *message);

#endif
