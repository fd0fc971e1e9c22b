#ifndef HOSTCRI_CRI_RPC_H
#define HOSTCRI_CRI_RPC_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common/error.h"

/*
 * The interface between the gRPC server and the RPC handlers.
 *
 * Every call runs on the loop thread. The server decodes the request and calls the method's
 * handler with it; the request belongs to the call and stays valid until the call completes.
 * A handler completes its call exactly once, at once or later from a loop callback:
 *   - unary: rpc_call_reply(call, response) or rpc_call_fail(call, err);
 *   - server streaming: any number of rpc_call_send(call, message), then rpc_call_finish(call, err)
 *     with err NULL or clear for OK.
 * After the call completes the handler must not touch it again.
 *
 * When the client cancels (RST_STREAM, disconnect, expired grpc-timeout), the server runs the
 * cancel callback set with rpc_call_on_cancel, if any. The handler must still complete the call
 * (the reply is then discarded), so that exactly one party frees its state.
 */

struct rpc_call;
struct strbuf;
struct cri_services;

typedef void (*rpc_handler)(struct rpc_call *call, const void *request);
typedef void (*rpc_cancel_cb)(struct rpc_call *call, void *data);

enum rpc_kind {
    RPC_UNARY,
    RPC_SERVER_STREAMING,
};

/* One row of the method table. A call to a method without a handler fails with UNIMPLEMENTED. */
struct rpc_method {
    const char *path; /* "/runtime.v1.RuntimeService/Version" */
    enum rpc_kind kind;
    const ProtobufCMessageDescriptor *request_descriptor;
    const ProtobufCMessageDescriptor *response_descriptor;
    rpc_handler handler;
};

/* Sends the response (owned by the caller; it is serialized before this returns) and status OK. */
void rpc_call_reply(struct rpc_call *call, const void *response);

/*
 * For a unary handler that serializes its response itself, without a protobuf-c message.
 * rpc_call_response_buffer returns the call's output buffer, and the handler appends the protobuf
 * encoding of the method's response type to it. rpc_call_reply_appended then sends it, or fails
 * the call with RESOURCE_EXHAUSTED like rpc_call_reply when it is over the maximum send size.
 * The message is written once, in place, which matters for responses of hundreds of KiB.
 */
struct strbuf *rpc_call_response_buffer(struct rpc_call *call);
void rpc_call_reply_appended(struct rpc_call *call);

/* Sends err's code and message as grpc-status and grpc-message. */
void rpc_call_fail(struct rpc_call *call, const struct error *err);

/* Shorthand for rpc_call_fail with a formatted message. */
void rpc_call_failf(struct rpc_call *call, enum error_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Streams one message of a server-streaming call. Returns 0, or -1 when the call is already
 * cancelled or the client's queue is over its limit. After -1 the handler finishes the call;
 * a call cancelled for its queue does not run the cancel callback.
 */
int rpc_call_send(struct rpc_call *call, const void *message);

/* Ends a server-streaming call with OK (err NULL or clear) or with err. */
void rpc_call_finish(struct rpc_call *call, const struct error *err);

/* Sets the callback run once if the client cancels before the call completes. */
void rpc_call_on_cancel(struct rpc_call *call, rpc_cancel_cb cb, void *data);

int rpc_call_is_cancelled(const struct rpc_call *call);

/* The deadline from grpc-timeout in CLOCK_MONOTONIC nanoseconds, or 0 when there is none. */
uint64_t rpc_call_deadline(const struct rpc_call *call);

/* The daemon's subsystems (configuration, runtime, images), for the handler. */
struct cri_services *rpc_call_services(const struct rpc_call *call);

/* The method being served (for logs). */
const struct rpc_method *rpc_call_method(const struct rpc_call *call);

#endif
