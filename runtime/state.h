#ifndef HOSTCRI_RUNTIME_STATE_H
#define HOSTCRI_RUNTIME_STATE_H

#include <stdbool.h>

#include "api/api.pb-c.h"

/*
 * The container and sandbox state machines.
 *
 * Containers: CREATED -> RUNNING -> EXITED, and CREATED -> EXITED when the start fails.
 * UNKNOWN is reported only for a record whose state cannot be worked out; it may move to
 * EXITED. EXITED is final. Sandboxes: READY -> NOTREADY, which is final.
 */

/* Returns true when a container may move from state from to state to. */
bool container_state_transition_allowed(Runtime__V1__ContainerState from,
                                        Runtime__V1__ContainerState to);

/* Returns true when a sandbox may move from state from to state to. */
bool sandbox_state_transition_allowed(Runtime__V1__PodSandboxState from,
                                      Runtime__V1__PodSandboxState to);

/* The CRI name of a state, for messages ("CONTAINER_RUNNING"); "invalid" for other values. */
const char *container_state_name(Runtime__V1__ContainerState state);
const char *sandbox_state_name(Runtime__V1__PodSandboxState state);

/* Exit reasons reported in ContainerStatus.reason. */
#define CONTAINER_REASON_COMPLETED "Completed"
#define CONTAINER_REASON_ERROR "Error"
#define CONTAINER_REASON_OOM_KILLED "OOMKilled"
#define CONTAINER_REASON_START_ERROR "StartError"
#define CONTAINER_REASON_UNKNOWN "Unknown"

/* The exit code recorded when a container fails to start (as containerd records it). */
#define CONTAINER_START_ERROR_EXIT_CODE 128

/* Returns the reason for an exit: OOMKilled when oom_killed, else Completed or Error. */
const char *container_exit_reason(int exit_code, bool oom_killed);

#endif
