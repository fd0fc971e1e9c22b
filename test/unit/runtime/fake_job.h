#ifndef HOSTCRI_TEST_FAKE_JOB_H
#define HOSTCRI_TEST_FAKE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/job.h"

/* What the fake backend records about one container id, and how it behaves. */
struct fake_job_container {
    char *id;
    bool has_state;          /* job_runtime_list_containers lists it */
    bool ignore_stop_signal; /* the init process survives the stop signal */
    bool lose_exit;          /* a kill empties the job but no exit report follows */
    bool removed;
    int started;
    int signals_sent;
    int last_signal;
    int kills;
    int log_reopens;
    char last_argv0[256];
    char last_working_dir[256];
    char last_env[1024];        /* the environment of the last start, one "KEY=value" per line */
    char last_username[64];     /* the user name of the last start, "" for none */
    bool last_has_uid;          /* the last start asked for a uid */
    char last_mount_point[256]; /* the rootfs mount point of the last start, "" for the default */
    /* What job_container_open finds after a restart. */
    bool reopen_running;
    int exit_code;
    int64_t finished_at;
    enum job_exit_reason exit_reason;
    char *exit_message;
};

struct fake_job_state {
    struct fake_job_container *containers;
    size_t n_containers;
    int pods_created;
    int pods_removed;
    bool pods_lost; /* job_pod_open fails with NOT_FOUND, as after a reboot */
};

extern struct fake_job_state fake_job;

/* Returns the record of id, creating it. */
struct fake_job_container *fake_job_container(const char *id);

/* Forgets every record. */
void fake_job_reset(void);

#endif
