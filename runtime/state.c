#include "runtime/state.h"

#define STATE(name) RUNTIME__V1__CONTAINER_STATE__CONTAINER_##name

bool container_state_transition_allowed(Runtime__V1__ContainerState from,
                                        Runtime__V1__ContainerState to)
{
    switch (from) {
    case STATE(CREATED):
        return to == STATE(RUNNING) || to == STATE(EXITED);
    case STATE(RUNNING):
        return to == STATE(EXITED) || to == STATE(UNKNOWN);
    case STATE(UNKNOWN):
        return to == STATE(EXITED);
    case STATE(EXITED):
    default:
        return false;
    }
}

bool sandbox_state_transition_allowed(Runtime__V1__PodSandboxState from,
                                      Runtime__V1__PodSandboxState to)
{
    return from == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY &&
           to == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
}

const char *container_state_name(Runtime__V1__ContainerState state)
{
    switch (state) {
    case STATE(CREATED):
        return "CONTAINER_CREATED";
    case STATE(RUNNING):
        return "CONTAINER_RUNNING";
    case STATE(EXITED):
        return "CONTAINER_EXITED";
    case STATE(UNKNOWN):
        return "CONTAINER_UNKNOWN";
    default:
        return "invalid";
    }
}

const char *sandbox_state_name(Runtime__V1__PodSandboxState state)
{
    switch (state) {
    case RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY:
        return "SANDBOX_READY";
    case RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY:
        return "SANDBOX_NOTREADY";
    default:
        return "invalid";
    }
}

const char *container_exit_reason(int exit_code, bool oom_killed)
{
    if (oom_killed)
        return CONTAINER_REASON_OOM_KILLED;
    return exit_code == 0 ? CONTAINER_REASON_COMPLETED : CONTAINER_REASON_ERROR;
}
