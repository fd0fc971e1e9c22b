/* Unit tests of runtime/store.c: round trip, deletes and unreadable rows. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/util.h"
#include "runtime/store.h"

struct loaded {
    struct store_sandbox_record sandboxes[4];
    size_t n_sandboxes;
    struct store_container_record containers[4];
    size_t n_containers;
};

static void sandbox_cb(struct store_sandbox_record *record, void *data)
{
    struct loaded *loaded = data;

    assert_true(loaded->n_sandboxes < 4);
    loaded->sandboxes[loaded->n_sandboxes++] = *record;
    memset(record, 0, sizeof(*record));
}

static void container_cb(struct store_container_record *record, void *data)
{
    struct loaded *loaded = data;

    assert_true(loaded->n_containers < 4);
    loaded->containers[loaded->n_containers++] = *record;
    memset(record, 0, sizeof(*record));
}

static void loaded_clear(struct loaded *loaded)
{
    for (size_t i = 0; i < loaded->n_sandboxes; i++)
        store_sandbox_record_clear(&loaded->sandboxes[i]);
    for (size_t i = 0; i < loaded->n_containers; i++)
        store_container_record_clear(&loaded->containers[i]);
    memset(loaded, 0, sizeof(*loaded));
}

static char *temp_db(void)
{
    char dir[] = "/tmp/hostcri-store-XXXXXX";

    assert_non_null(mkdtemp(dir));
    return xasprintf("%s/runtime.db", dir);
}

static void remove_db(char *path)
{
    char *dir = xstrdup(path);
    char *wal = xasprintf("%s-wal", path);
    char *shm = xasprintf("%s-shm", path);

    unlink(path);
    unlink(wal);
    unlink(shm);
    *strrchr(dir, '/') = '\0';
    rmdir(dir);
    free(dir);
    free(wal);
    free(shm);
    free(path);
}

static void put_records(struct store *store)
{
    Runtime__V1__PodSandboxMetadata sandbox_md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    Runtime__V1__PodSandboxConfig sandbox_config = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__ContainerMetadata container_md = RUNTIME__V1__CONTAINER_METADATA__INIT;
    Runtime__V1__ContainerConfig container_config = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    struct store_sandbox_record sandbox = {
        .id = "s1", .config = &sandbox_config, .created_at = 42, .runtime_handler = ""};
    struct store_container_record container = {
        .id = "c1",
        .sandbox_id = "s1",
        .config = &container_config,
        .state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED,
        .created_at = 1,
        .started_at = 2,
        .finished_at = 3,
        .exit_code = 137,
        .reason = "Error",
        .message = "killed",
        .image = "test/busybox:1.0",
        .image_id = "sha256:abc",
        .image_ref = "test/busybox@sha256:def",
        .log_path = "/var/log/pods/x/0.log",
        .process = "{}",
    };
    _cleanup_error_ struct error err = ERROR_INIT;

    sandbox_md.name = "pod";
    sandbox_md.namespace_ = "ns";
    sandbox_md.attempt = 2;
    sandbox_config.metadata = &sandbox_md;
    sandbox_config.log_directory = "/var/log/pods/x";
    container_md.name = "ctr";
    container_config.metadata = &container_md;
    assert_int_equal(store_put_sandbox(store, &sandbox, &err), 0);
    assert_int_equal(store_put_container(store, &container, &err), 0);
}

static void round_trip(void **state)
{
    char *path = temp_db();
    struct store *store = NULL;
    struct loaded loaded = {0};
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(store_open(path, &store, &err), 0);
    put_records(store);
    store_close(store);

    assert_int_equal(store_open(path, &store, &err), 0);
    assert_int_equal(store_load(store, sandbox_cb, container_cb, &loaded, &err), 0);
    assert_int_equal(loaded.n_sandboxes, 1);
    assert_string_equal(loaded.sandboxes[0].id, "s1");
    assert_string_equal(loaded.sandboxes[0].config->metadata->name, "pod");
    assert_int_equal(loaded.sandboxes[0].config->metadata->attempt, 2);
    assert_string_equal(loaded.sandboxes[0].config->log_directory, "/var/log/pods/x");
    assert_int_equal(loaded.sandboxes[0].created_at, 42);
    assert_int_equal(loaded.n_containers, 1);
    assert_string_equal(loaded.containers[0].config->metadata->name, "ctr");
    assert_int_equal(loaded.containers[0].state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED);
    assert_int_equal(loaded.containers[0].finished_at, 3);
    assert_int_equal(loaded.containers[0].exit_code, 137);
    assert_string_equal(loaded.containers[0].message, "killed");
    assert_string_equal(loaded.containers[0].image_ref, "test/busybox@sha256:def");
    assert_string_equal(loaded.containers[0].process, "{}");
    assert_int_equal(store_count_set_aside(store, &err), 0);
    loaded_clear(&loaded);

    assert_int_equal(store_delete_sandbox(store, "s1", &err), 0);
    assert_int_equal(store_load(store, sandbox_cb, container_cb, &loaded, &err), 0);
    assert_int_equal(loaded.n_sandboxes, 0);
    assert_int_equal(loaded.n_containers, 0);
    store_close(store);
    remove_db(path);
}

static void corrupt(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void unreadable_rows_set_aside(void **state)
{
    char *path = temp_db();
    struct store *store = NULL;
    struct loaded loaded = {0};
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(store_open(path, &store, &err), 0);
    put_records(store);
    store_close(store);
    /* A sandbox whose config is not a protobuf message, a container with a bad state and a
     * container whose sandbox is missing. */
    corrupt(path, "INSERT INTO sandboxes (id, config, state, created_at) "
                  "VALUES ('bad', x'ffffffff', 0, 1);"
                  "INSERT INTO containers (id, sandbox_id, config, state) "
                  "VALUES ('c2', 's1', x'', 99);"
                  "INSERT INTO containers (id, sandbox_id, config, state) "
                  "VALUES ('c3', 'bad', x'', 0);");

    assert_int_equal(store_open(path, &store, &err), 0);
    assert_int_equal(store_load(store, sandbox_cb, container_cb, &loaded, &err), 0);
    assert_int_equal(loaded.n_sandboxes, 1);
    assert_string_equal(loaded.sandboxes[0].id, "s1");
    assert_int_equal(loaded.n_containers, 1);
    assert_string_equal(loaded.containers[0].id, "c1");
    assert_int_equal(store_count_set_aside(store, &err), 3);
    loaded_clear(&loaded);

    /* The rows were moved, so a second load reads only the good ones and sets nothing aside. */
    assert_int_equal(store_load(store, sandbox_cb, container_cb, &loaded, &err), 0);
    assert_int_equal(loaded.n_sandboxes, 1);
    assert_int_equal(loaded.n_containers, 1);
    assert_int_equal(store_count_set_aside(store, &err), 3);
    loaded_clear(&loaded);
    store_close(store);
    remove_db(path);
}

static void damaged_file_set_aside(void **state)
{
    char *path = temp_db();
    struct store *store = NULL;
    struct loaded loaded = {0};
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *command = NULL;
    FILE *file = fopen(path, "w");

    assert_non_null(file);
    fputs("this is not an SQLite database, but it is long enough to have a header page......",
          file);
    fclose(file);

    assert_int_equal(store_open(path, &store, &err), 0);
    assert_int_equal(store_load(store, sandbox_cb, container_cb, &loaded, &err), 0);
    assert_int_equal(loaded.n_sandboxes, 0);
    put_records(store);
    store_close(store);

    /* The damaged file stays next to the new store. */
    command = xasprintf("ls %s.corrupt-* >/dev/null && rm -f %s.corrupt-*", path, path);
    assert_int_equal(system(command), 0);
    remove_db(path);
}

static void open_fails_on_bad_path(void **state)
{
    struct store *store = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(store_open("/nonexistent-dir/x/runtime.db", &store, &err), -1);
    assert_int_equal(err.code, ERROR_INTERNAL);
    assert_non_null(strstr(err.message, "/nonexistent-dir/x/runtime.db"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(unreadable_rows_set_aside),
        cmocka_unit_test(damaged_file_set_aside),
        cmocka_unit_test(open_fails_on_bad_path),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
