/*
 * image_pipe_client: the ImageService checks of the Windows tests. It calls hostcri over its
 * named pipe and prints one "PASS <check>" or "FAIL <check>: <detail>" line per check and a
 * summary line. The exit status is the number of failed checks.
 *
 * Usage: image_pipe_client.exe pull \\.\pipe\NAME REF [EXPECTED_ID]
 *            PullImage, then ImageStatus, ListImages and ImageFsInfo see the image
 *        image_pipe_client.exe remove \\.\pipe\NAME REF
 *            RemoveImage, then ImageStatus and ListImages no longer see it
 *        image_pipe_client.exe pull-fails \\.\pipe\NAME REF GRPC_CODE
 *            PullImage fails with GRPC_CODE
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "api/api.pb-c.h"
#include "pipe_grpc.h"

#define GRPC_OK 0
#define IMAGE_SERVICE "/runtime.v1.ImageService/"

/*
 * Runs the call method with request and returns its unpacked response (free with
 * protobuf_c_message_free_unpacked), or NULL after a FAIL line when the status is not
 * expected_status or the response does not parse. With a non-OK expected_status, returns
 * NULL after a PASS line.
 */
static ProtobufCMessage *call(const char *pipe, const char *method, const ProtobufCMessage *request,
                              const ProtobufCMessageDescriptor *response_type, int expected_status,
                              const char *name)
{
    char path[128];
    char error[256] = "";
    struct pipe_grpc_call grpc;
    ProtobufCMessage *response = NULL;
    const uint8_t *message;
    size_t length = 0;

    snprintf(path, sizeof(path), IMAGE_SERVICE "%s", method);
    pipe_grpc_call_init(&grpc, path, request);
    if (!pipe_grpc_call_once(pipe, &grpc, error, sizeof(error))) {
        check(false, name, "%s", error);
    } else if (grpc.grpc_status != expected_status) {
        check(false, name, "gRPC status %d (%s), expected %d", grpc.grpc_status, grpc.grpc_message,
              expected_status);
    } else if (expected_status != GRPC_OK) {
        check(true, name, NULL);
    } else if ((message = pipe_grpc_call_message(&grpc, &length)) == NULL ||
               (response = protobuf_c_message_unpack(response_type, NULL, length, message)) ==
                   NULL) {
        check(false, name, "no valid %s in the response", response_type->name);
    } else {
        check(true, name, NULL);
    }
    pipe_grpc_call_free(&grpc);
    return response;
}

static Runtime__V1__Image *image_status(const char *pipe, const char *ref, const char *name,
                                        Runtime__V1__ImageStatusResponse **response)
{
    Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    Runtime__V1__ImageStatusRequest request = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;

    spec.image = (char *)ref;
    request.image = &spec;
    *response = (Runtime__V1__ImageStatusResponse *)call(
        pipe, "ImageStatus", &request.base, &runtime__v1__image_status_response__descriptor,
        GRPC_OK, name);
    return *response ? (*response)->image : NULL;
}

/* True when ListImages lists an image with id. */
static bool listed(const char *pipe, const char *id, const char *name)
{
    Runtime__V1__ListImagesRequest request = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
    Runtime__V1__ListImagesResponse *response = (Runtime__V1__ListImagesResponse *)call(
        pipe, "ListImages", &request.base, &runtime__v1__list_images_response__descriptor, GRPC_OK,
        name);
    bool found = false;

    for (size_t i = 0; response && i < response->n_images; i++)
        found = found || strcmp(response->images[i]->id, id) == 0;
    if (response)
        protobuf_c_message_free_unpacked(&response->base, NULL);
    return found;
}

static bool has_tag(const Runtime__V1__Image *image, const char *ref)
{
    for (size_t i = 0; i < image->n_repo_tags; i++)
        if (strcmp(image->repo_tags[i], ref) == 0)
            return true;
    return false;
}

static void check_fs_info(const char *pipe)
{
    Runtime__V1__ImageFsInfoRequest request = RUNTIME__V1__IMAGE_FS_INFO_REQUEST__INIT;
    Runtime__V1__ImageFsInfoResponse *response = (Runtime__V1__ImageFsInfoResponse *)call(
        pipe, "ImageFsInfo", &request.base, &runtime__v1__image_fs_info_response__descriptor,
        GRPC_OK, "ImageFsInfo succeeds");
    const Runtime__V1__FilesystemUsage *usage =
        response && response->n_image_filesystems > 0 ? response->image_filesystems[0] : NULL;

    if (response == NULL)
        return;
    check(usage && usage->used_bytes && usage->used_bytes->value > 0,
          "ImageFsInfo reports used bytes", "no image file system with used bytes");
    check(usage && usage->inodes_used && usage->inodes_used->value > 0,
          "ImageFsInfo reports used inodes", "no image file system with used inodes");
    check(usage && usage->fs_id && usage->fs_id->mountpoint && usage->fs_id->mountpoint[0],
          "ImageFsInfo names the image directory", "no mountpoint");
    protobuf_c_message_free_unpacked(&response->base, NULL);
}

static void test_pull(const char *pipe, const char *ref, const char *expected_id)
{
    Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    Runtime__V1__PullImageRequest request = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
    Runtime__V1__PullImageResponse *pulled;
    Runtime__V1__ImageStatusResponse *status = NULL;
    const Runtime__V1__Image *image;
    char id[160];

    spec.image = (char *)ref;
    request.image = &spec;
    pulled = (Runtime__V1__PullImageResponse *)call(pipe, "PullImage", &request.base,
                                                    &runtime__v1__pull_image_response__descriptor,
                                                    GRPC_OK, "PullImage succeeds");
    if (pulled == NULL)
        return;
    snprintf(id, sizeof(id), "%s", pulled->image_ref);
    protobuf_c_message_free_unpacked(&pulled->base, NULL);
    check(strncmp(id, "sha256:", 7) == 0, "PullImage returns an image id", "got \"%s\"", id);
    if (expected_id)
        check(strcmp(id, expected_id) == 0, "PullImage chooses the expected manifest",
              "got %s, expected %s", id, expected_id);

    image = image_status(pipe, ref, "ImageStatus succeeds", &status);
    check(image && strcmp(image->id, id) == 0, "ImageStatus finds the pulled image", "image %s",
          image ? image->id : "missing");
    check(image && has_tag(image, ref), "ImageStatus lists the reference as a tag", "tag %s", ref);
    check(image && image->size > 0, "ImageStatus reports a size", "size 0");
    if (status)
        protobuf_c_message_free_unpacked(&status->base, NULL);

    check(listed(pipe, id, "ListImages succeeds"), "ListImages lists the pulled image",
          "%s missing", id);
    check_fs_info(pipe);
}

static void test_remove(const char *pipe, const char *ref)
{
    Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    Runtime__V1__RemoveImageRequest request = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
    Runtime__V1__ImageStatusResponse *status = NULL;
    ProtobufCMessage *removed;
    const Runtime__V1__Image *image;
    char id[160] = "";

    image = image_status(pipe, ref, "ImageStatus before RemoveImage succeeds", &status);
    if (image)
        snprintf(id, sizeof(id), "%s", image->id);
    check(image != NULL, "the image exists before RemoveImage", "ImageStatus has no image");
    if (status)
        protobuf_c_message_free_unpacked(&status->base, NULL);

    spec.image = (char *)ref;
    request.image = &spec;
    removed =
        call(pipe, "RemoveImage", &request.base, &runtime__v1__remove_image_response__descriptor,
             GRPC_OK, "RemoveImage succeeds");
    if (removed)
        protobuf_c_message_free_unpacked(removed, NULL);

    image = image_status(pipe, ref, "ImageStatus after RemoveImage succeeds", &status);
    check(image == NULL, "ImageStatus has no image after RemoveImage", "still %s",
          image ? image->id : "");
    if (status)
        protobuf_c_message_free_unpacked(&status->base, NULL);
    check(id[0] && !listed(pipe, id, "ListImages after RemoveImage succeeds"),
          "ListImages no longer lists the image", "%s still listed", id);
}

static void test_pull_fails(const char *pipe, const char *ref, int code)
{
    Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    Runtime__V1__PullImageRequest request = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
    const char *repository = strchr(ref, '/') ? strchr(ref, '/') + 1 : ref;
    char name[256];

    spec.image = (char *)ref;
    request.image = &spec;
    snprintf(name, sizeof(name), "PullImage of %s fails with gRPC status %d", repository, code);
    call(pipe, "PullImage", &request.base, &runtime__v1__pull_image_response__descriptor, code,
         name);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 4 && strcmp(argv[1], "pull") == 0)
        test_pull(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
    else if (argc == 4 && strcmp(argv[1], "remove") == 0)
        test_remove(argv[2], argv[3]);
    else if (argc == 5 && strcmp(argv[1], "pull-fails") == 0)
        test_pull_fails(argv[2], argv[3], atoi(argv[4]));
    else {
        fprintf(stderr, "usage: %s pull|remove|pull-fails \\\\.\\pipe\\NAME REF [ID|CODE]\n",
                argv[0]);
        return 2;
    }
    return checks_finish();
}
