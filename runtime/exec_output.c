#include "runtime/exec_output.h"

/* The bytes of a protobuf varint holding value. */
static uint64_t varint_size(uint64_t value)
{
    uint64_t size = 1;

    while (value >= 0x80) {
        value >>= 7;
        size++;
    }
    return size;
}

/* A bytes field: one tag byte (field numbers 1 and 2), the length and the data. protobuf-c packs
 * no empty proto3 field. */
static uint64_t bytes_field_size(size_t length)
{
    return length == 0 ? 0 : 1 + varint_size(length) + length;
}

uint64_t exec_output_response_size(size_t stdout_length, size_t stderr_length, int exit_code)
{
    /* An int32 field: a negative value is sign-extended to 64 bits, so it takes 10 bytes. */
    uint64_t exit_field = exit_code == 0 ? 0 : 1 + varint_size((uint64_t)(int64_t)exit_code);

    return bytes_field_size(stdout_length) + bytes_field_size(stderr_length) + exit_field;
}

void exec_output_fit(size_t *stdout_length, size_t *stderr_length, int exit_code,
                     uint64_t max_message)
{
    uint64_t overhead;
    uint64_t room;
    uint64_t half;

    if (exec_output_response_size(*stdout_length, *stderr_length, exit_code) <= max_message)
        return;
    /*
     * The tags and length prefixes of the current lengths: shorter streams need no more, so the
     * data below fits, at most a few bytes under the limit.
     */
    overhead = exec_output_response_size(0, 0, exit_code) + 1 + varint_size(*stdout_length) + 1 +
               varint_size(*stderr_length);
    room = max_message > overhead ? max_message - overhead : 0;
    half = room / 2;
    if (*stdout_length <= half) {
        *stderr_length = room - *stdout_length;
    } else if (*stderr_length <= half) {
        *stdout_length = room - *stderr_length;
    } else {
        *stdout_length = room - half;
        *stderr_length = half;
    }
}
