#include "api/descriptors.h"

#include <stdbool.h>
#include <string.h>

#include "api/api.pb-c.h"

/* More than the number of message types in api.proto (about 230, map entries included). */
#define MAX_VISITED 512

static const ProtobufCServiceDescriptor *const services[API_SERVICE_COUNT] = {
    &runtime__v1__runtime_service__descriptor,
    &runtime__v1__image_service__descriptor,
};

const ProtobufCServiceDescriptor *api_service_descriptor(size_t index)
{
    return index < API_SERVICE_COUNT ? services[index] : NULL;
}

const ProtobufCMethodDescriptor *api_method_find(const char *path)
{
    if (path == NULL || path[0] != '/')
        return NULL;

    const char *service_name = path + 1;
    const char *slash = strchr(service_name, '/');

    if (slash == NULL)
        return NULL;

    size_t service_length = (size_t)(slash - service_name);

    for (size_t i = 0; i < API_SERVICE_COUNT; i++) {
        const ProtobufCServiceDescriptor *service = services[i];

        if (strlen(service->name) != service_length ||
            strncmp(service->name, service_name, service_length) != 0)
            continue;
        for (unsigned j = 0; j < service->n_methods; j++) {
            if (strcmp(service->methods[j].name, slash + 1) == 0)
                return &service->methods[j];
        }
    }
    return NULL;
}

/* Depth-first search state: the descriptors seen so far, so that each is searched once. */
struct search {
    const char *full_name;
    const ProtobufCMessageDescriptor *visited[MAX_VISITED];
    size_t n_visited;
};

static bool mark_visited(struct search *search, const ProtobufCMessageDescriptor *descriptor)
{
    for (size_t i = 0; i < search->n_visited; i++) {
        if (search->visited[i] == descriptor)
            return false;
    }
    if (search->n_visited == MAX_VISITED)
        return false;
    search->visited[search->n_visited++] = descriptor;
    return true;
}

static const ProtobufCMessageDescriptor *search_from(struct search *search,
                                                     const ProtobufCMessageDescriptor *descriptor)
{
    if (!mark_visited(search, descriptor))
        return NULL;
    if (strcmp(descriptor->name, search->full_name) == 0)
        return descriptor;

    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        const ProtobufCMessageDescriptor *found;

        if (field->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        found = search_from(search, field->descriptor);
        if (found != NULL)
            return found;
    }
    return NULL;
}

const ProtobufCMessageDescriptor *api_message_descriptor_find(const char *full_name)
{
    struct search search = {.full_name = full_name, .n_visited = 0};

    if (full_name == NULL)
        return NULL;
    for (size_t i = 0; i < API_SERVICE_COUNT; i++) {
        const ProtobufCServiceDescriptor *service = services[i];

        for (unsigned j = 0; j < service->n_methods; j++) {
            const ProtobufCMessageDescriptor *found;

            found = search_from(&search, service->methods[j].input);
            if (found == NULL)
                found = search_from(&search, service->methods[j].output);
            if (found != NULL)
                return found;
        }
    }
    return NULL;
}
