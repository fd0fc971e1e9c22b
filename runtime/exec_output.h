#ifndef HOSTCRI_RUNTIME_EXEC_OUTPUT_H
#define HOSTCRI_RUNTIME_EXEC_OUTPUT_H

/* The size limits of ExecSync output: pure functions, shared by container_exec.c and its tests. */

#include <stddef.h>
#include <stdint.h>

/*
 * The output an ExecSync keeps of each stream. containerd 2.x (internal/cri/server/
 * container_execsync.go, maxStreamSize) keeps 16 MiB of stdout and 16 MiB of stderr, and notes
 * that a response over its gRPC limit then reaches the kubelet as an error without output. CRI-O
 * keeps 16 MiB (maxExecSyncSize, since its CVE-2022-1708 fix), the amount dockershim kept. The
 * kubelet's CRI client (maxMsgSize in k8s.io/cri-client) accepts messages of up to 16 MiB, so
 * hostcri trims both streams further until the response fits the send limit, and the kubelet
 * still gets the first bytes of each.
 */
#define EXEC_OUTPUT_MAX_STREAM ((size_t)16 * 1024 * 1024)

/* Returns the packed size in bytes of an ExecSyncResponse with these stream lengths. */
uint64_t exec_output_response_size(size_t stdout_length, size_t stderr_length, int exit_code);

/*
 * Shortens *stdout_length and *stderr_length, when needed, so that the response packs into at
 * most max_message bytes; the caller keeps the first bytes of each stream. The streams share the
 * room evenly, and a stream that needs less than half leaves the rest to the other. Both become 0
 * when max_message cannot hold even the exit code.
 */
void exec_output_fit(size_t *stdout_length, size_t *stderr_length, int exit_code,
                     uint64_t max_message);

#endif
