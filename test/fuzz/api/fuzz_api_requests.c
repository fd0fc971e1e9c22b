/*
 * libFuzzer target: unpacks the input as every CRI request type, prints each message that
 * unpacks with the text format printer and frees it. Catches crashes, leaks and undefined
 * behaviour in protobuf-c's unpacking of the generated descriptors and in the printer.
 * The recorded requests make a good seed corpus: copy test/data/cri-wire/NNN-*.request.bin
 * into a folder and pass that folder to the fuzzer.
 */
#include <stddef.h>
#include <stdint.h>

#include "api/descriptors.h"
#include "api/text_format.h"
#include "common/strbuf.h"

static void unpack_and_print(const ProtobufCMessageDescriptor *descriptor, const uint8_t *data,
                             size_t size)
{
    struct strbuf text = STRBUF_INIT;
    ProtobufCMessage *message = protobuf_c_message_unpack(descriptor, NULL, size, data);

    if (message == NULL)
        return;
    api_text_format(message, &text);
    (void)api_unknown_field_count(message);
    protobuf_c_message_free_unpacked(message, NULL);
    strbuf_free(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < API_SERVICE_COUNT; i++) {
        const ProtobufCServiceDescriptor *service = api_service_descriptor(i);

        for (unsigned j = 0; j < service->n_methods; j++)
            unpack_and_print(service->methods[j].input, data, size);
    }
    return 0;
}
