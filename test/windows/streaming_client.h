#ifndef HOSTCRI_TEST_WINDOWS_STREAMING_CLIENT_H
#define HOSTCRI_TEST_WINDOWS_STREAMING_CLIENT_H

/* The WebSocket checks of streaming_ws.c, which streaming_client.c runs. The client code that
 * both use is in streaming_common.h. */

/* Each prints its check lines. */
void streaming_ws_test_exec(const char *container_id);
void streaming_ws_test_attach(const char *container_id);
void streaming_ws_test_port_forward(const char *pod_id);

#endif
