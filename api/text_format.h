#ifndef HOSTCRI_API_TEXT_FORMAT_H
#define HOSTCRI_API_TEXT_FORMAT_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "common/strbuf.h"

/*
 * Appends message to out in protobuf text format, byte for byte as
 * `protoc --decode` (protoc 3.21) prints it:
 * - fields in field-number order, nested messages as `name {` ... `}` indented by two spaces;
 * - proto3 scalars only when they differ from their default, sub-messages whenever they are
 *   present, even when empty;
 * - map fields as repeated `name { key: ... value: ... }` entries, always with both key and
 *   value, sorted by key (strings byte-wise) with entries of equal keys kept in wire order,
 *   because protoc sorts map entries before printing them;
 * - strings and bytes C-escaped, with octal escapes for bytes outside printable ASCII;
 * - enums by value name (the number when the value is unknown), 64-bit integers in decimal;
 * - unknown fields last, as `<number>: <value>` lines (protoc prints them the same way
 *   except that it may show a length-delimited unknown field as a nested message).
 * A NULL message appends nothing. Never fails.
 */
void api_text_format(const ProtobufCMessage *message, struct strbuf *out);

/* Returns the number of unknown fields in message and in all its sub-messages. */
size_t api_unknown_field_count(const ProtobufCMessage *message);

#endif
