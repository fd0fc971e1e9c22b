/*
 * Attach connections of hostcri-monitor.exe: clients that sent "attach" on the control pipe
 * keep the connection and exchange the frames of runtime/job.h. Output goes to every client
 * through queued overlapped writes, so a slow client never stalls the container, and a client
 * whose queue passes MONITOR_ATTACH_QUEUE_MAX is disconnected. STDIN frames go to init's
 * stdin the same way.
 */
#include "runtime/windows/monitor_windows.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/windows/process_windows.h"

/* ---- Writers --------------------------------------------------------------------------------- */

/* Starts the next write when none is in flight. Returns -1 when the pipe failed. */
static int writer_flush(struct monitor_writer *writer, HANDLE pipe, int *pending)
{
    struct strbuf swap;

    if (writer->busy || writer->queued.length == 0)
        return 0;
    swap = writer->in_flight;
    writer->in_flight = writer->queued;
    writer->queued = swap;
    strbuf_reset(&writer->queued);
    memset(&writer->overlapped, 0, sizeof(writer->overlapped));
    if (!WriteFile(pipe, writer->in_flight.data, (DWORD)writer->in_flight.length, NULL,
                   &writer->overlapped) &&
        GetLastError() != ERROR_IO_PENDING)
        return -1;
    writer->busy = true;
    if (pending != NULL)
        (*pending)++;
    return 0;
}

static void writer_free(struct monitor_writer *writer)
{
    strbuf_free(&writer->in_flight);
    strbuf_free(&writer->queued);
    memset(writer, 0, sizeof(*writer));
}

/* ---- Clients --------------------------------------------------------------------------------- */

static bool client_active(const struct monitor_attach_client *client)
{
    return client->pipe != NULL && !client->closing;
}

static void client_release_if_done(struct monitor_attach_client *client)
{
    if (!client->closing || client->pending > 0)
        return;
    writer_free(&client->writer);
    memset(client, 0, sizeof(*client));
}

/* Closes the connection. Pending operations complete with ERROR_OPERATION_ABORTED, and the
 * slot is free once they have. */
static void client_close(struct monitor *monitor, struct monitor_attach_client *client)
{
    if (!client_active(client))
        return;
    CancelIoEx(client->pipe, NULL);
    CloseHandle(client->pipe);
    client->closing = true;
    log_info("container %s: attach client disconnected", monitor->spec.id);
    /* With stdin_once, init's stdin ends with the first attach session. */
    if (monitor->spec.stdin_once)
        monitor_close_stdin(monitor);
    client_release_if_done(client);
}

int monitor_attach_add(struct monitor *monitor, HANDLE pipe)
{
    for (size_t i = 0; i < MONITOR_MAX_ATTACH; i++) {
        struct monitor_attach_client *client = &monitor->clients[i];

        if (client->pipe != NULL)
            continue;
        memset(client, 0, sizeof(*client));
        client->pipe = pipe;
        log_info("container %s: attach client connected", monitor->spec.id);
        return 0;
    }
    return -1;
}

void monitor_attach_read(struct monitor *monitor, struct monitor_attach_client *client)
{
    size_t room = sizeof(client->input) - client->length;

    memset(&client->read_overlapped, 0, sizeof(client->read_overlapped));
    if (!ReadFile(client->pipe, client->input + client->length, (DWORD)room, NULL,
                  &client->read_overlapped) &&
        GetLastError() != ERROR_IO_PENDING) {
        client_close(monitor, client);
        return;
    }
    client->pending++;
}

void monitor_attach_send(struct monitor *monitor, enum crilog_stream stream, const char *data,
                         size_t length)
{
    /* With a tty all output is STDOUT. */
    unsigned char type =
        monitor->spec.tty || stream == CRILOG_STDOUT ? JOB_ATTACH_STDOUT : JOB_ATTACH_STDERR;

    for (size_t i = 0; i < MONITOR_MAX_ATTACH; i++) {
        struct monitor_attach_client *client = &monitor->clients[i];
        size_t done = 0;

        if (!client_active(client))
            continue;
        while (done < length) {
            size_t chunk =
                length - done > JOB_ATTACH_MAX_PAYLOAD ? JOB_ATTACH_MAX_PAYLOAD : length - done;
            unsigned char header[JOB_ATTACH_HEADER_SIZE] = {
                type, (unsigned char)(chunk >> 24), (unsigned char)(chunk >> 16),
                (unsigned char)(chunk >> 8), (unsigned char)chunk};

            strbuf_append(&client->writer.queued, header, sizeof(header));
            strbuf_append(&client->writer.queued, data + done, chunk);
            done += chunk;
        }
        if (client->writer.queued.length > MONITOR_ATTACH_QUEUE_MAX ||
            writer_flush(&client->writer, client->pipe, &client->pending) < 0)
            client_close(monitor, client);
    }
}

/* ---- Input ----------------------------------------------------------------------------------- */

static DWORD WINAPI close_console_thread(LPVOID console)
{
    process_windows_conpty()->close(console);
    return 0;
}

void monitor_close_pseudo_console(struct monitor *monitor)
{
    void *console = monitor->pseudo_console;
    HANDLE thread;

    if (console == NULL)
        return;
    monitor->pseudo_console = NULL;
    thread = CreateThread(NULL, 0, close_console_thread, console, 0, NULL);
    if (thread != NULL)
        CloseHandle(thread);
    else
        process_windows_conpty()->close(console);
}

void monitor_close_stdin(struct monitor *monitor)
{
    if (monitor->stdin_pipe == NULL)
        return;
    CancelIoEx(monitor->stdin_pipe, NULL);
    CloseHandle(monitor->stdin_pipe);
    monitor->stdin_pipe = NULL;
}

void monitor_write_stdin(struct monitor *monitor, const void *data, size_t length)
{
    if (monitor->stdin_pipe == NULL)
        return;
    strbuf_append(&monitor->stdin_writer.queued, data, length);
    if (writer_flush(&monitor->stdin_writer, monitor->stdin_pipe, NULL) < 0)
        monitor_close_stdin(monitor);
}

/* Handles the complete frames at the start of client->input and keeps the rest. */
static void handle_frames(struct monitor *monitor, struct monitor_attach_client *client)
{
    size_t offset = 0;

    while (client->length - offset >= JOB_ATTACH_HEADER_SIZE) {
        const unsigned char *frame = client->input + offset;
        size_t payload = ((size_t)frame[1] << 24) | ((size_t)frame[2] << 16) |
                         ((size_t)frame[3] << 8) | frame[4];

        if (payload > JOB_ATTACH_MAX_PAYLOAD) {
            log_warn("container %s: attach frame of %zu bytes is too long", monitor->spec.id,
                     payload);
            client_close(monitor, client);
            return;
        }
        if (client->length - offset < JOB_ATTACH_HEADER_SIZE + payload)
            break;
        if (frame[0] == JOB_ATTACH_STDIN)
            monitor_write_stdin(monitor, frame + JOB_ATTACH_HEADER_SIZE, payload);
        else if (frame[0] == JOB_ATTACH_CLOSE_STDIN && monitor->stdin_writer.queued.length == 0 &&
                 !monitor->stdin_writer.busy)
            monitor_close_stdin(monitor);
        else if (frame[0] == JOB_ATTACH_RESIZE && payload == 4 && monitor->pseudo_console)
            process_windows_conpty()->resize(monitor->pseudo_console,
                                             (COORD){.X = (SHORT)((frame[7] << 8) | frame[8]),
                                                     .Y = (SHORT)((frame[5] << 8) | frame[6])});
        offset += JOB_ATTACH_HEADER_SIZE + payload;
    }
    memmove(client->input, client->input + offset, client->length - offset);
    client->length -= offset;
}

static struct monitor_attach_client *find_client(struct monitor *monitor, OVERLAPPED *overlapped,
                                                 bool *is_read)
{
    for (size_t i = 0; i < MONITOR_MAX_ATTACH; i++) {
        struct monitor_attach_client *client = &monitor->clients[i];

        if (overlapped == &client->read_overlapped || overlapped == &client->writer.overlapped) {
            *is_read = overlapped == &client->read_overlapped;
            return client;
        }
    }
    return NULL;
}

bool monitor_attach_done(struct monitor *monitor, OVERLAPPED *overlapped, BOOL ok, DWORD bytes)
{
    struct monitor_attach_client *client;
    bool is_read = false;

    if (overlapped == &monitor->stdin_writer.overlapped) {
        monitor->stdin_writer.busy = false;
        if (!ok || (monitor->stdin_pipe != NULL &&
                    writer_flush(&monitor->stdin_writer, monitor->stdin_pipe, NULL) < 0))
            monitor_close_stdin(monitor);
        return true;
    }
    client = find_client(monitor, overlapped, &is_read);
    if (client == NULL)
        return false;
    client->pending--;
    if (!is_read)
        client->writer.busy = false;
    if (client->closing) {
        client_release_if_done(client);
        return true;
    }
    if (!ok || (is_read && bytes == 0)) {
        client_close(monitor, client);
        return true;
    }
    if (is_read) {
        client->length += bytes;
        handle_frames(monitor, client);
        if (client_active(client))
            monitor_attach_read(monitor, client);
    } else if (writer_flush(&client->writer, client->pipe, &client->pending) < 0) {
        client_close(monitor, client);
    }
    return true;
}
