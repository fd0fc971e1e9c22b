#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/util.h"
#include "runtime/windows/winuser.h"

#define CONTAINER_ID "0123456789abcdef0123456789abcdef"

/* Fake Windows account calls: a call log, a few switches and the state they change. */
struct fake {
    struct strbuf calls;
    bool is_group;
    bool fail_user_add;
    bool fail_logon;
    bool fail_token_sid;
    const char *token_sid; /* NULL: the SID of the account that logged on */
    char *logged_on;       /* the SID the last logon's token belongs to */
    char *record;          /* the recorded temporary user */
    int users;             /* users created minus deleted */
    int open_tokens;
};

static int fake_token = 1;

/* Appends "<operation> <a>[ <b>];" to the call log. */
static void log_call(struct fake *fake, const char *operation, const char *a, const char *b)
{
    strbuf_appendf(&fake->calls, "%s %s%s%s;", operation, a, b ? " " : "", b ? b : "");
}

static int group_exists(void *data, const char *name, bool *exists, struct error *err)
{
    struct fake *fake = data;

    (void)err;
    log_call(fake, "group_exists", name, NULL);
    *exists = fake->is_group;
    return 0;
}

static int user_add(void *data, const char *user, const char *password, struct error *err)
{
    struct fake *fake = data;

    log_call(fake, "user_add", user, NULL);
    assert_true(strlen(password) >= 8);
    if (fake->fail_user_add)
        return error_set(err, ERROR_INTERNAL, "NetUserAdd failed");
    fake->users++;
    return 0;
}

static int group_add_member(void *data, const char *group, const char *user, struct error *err)
{
    (void)err;
    log_call(data, "group_add_member", group, user);
    return 0;
}

static int user_delete(void *data, const char *user, struct error *err)
{
    struct fake *fake = data;

    (void)err;
    log_call(fake, "user_delete", user, NULL);
    fake->users--;
    return 0;
}

static const char *sid_of(const char *user)
{
    if (strcmp(user, "SYSTEM") == 0)
        return "S-1-5-18";
    if (strcmp(user, "LOCAL SERVICE") == 0)
        return "S-1-5-19";
    if (strcmp(user, "NETWORK SERVICE") == 0)
        return "S-1-5-20";
    return "S-1-5-21-1-2-3-1001";
}

static int logon(void *data, const char *user, const char *domain, const char *password,
                 bool service, void **token, struct error *err)
{
    struct fake *fake = data;

    _cleanup_free_ char *account = xasprintf("%s\\%s", domain, user);

    log_call(fake, "logon", account, NULL);
    assert_true(service == (password == NULL));
    if (fake->fail_logon)
        return error_set(err, ERROR_PERMISSION_DENIED, "LogonUserW: access denied");
    free(fake->logged_on);
    fake->logged_on = xstrdup(sid_of(user));
    fake->open_tokens++;
    *token = &fake_token;
    return 0;
}

static int token_sid(void *data, void *token, char **sid, struct error *err)
{
    struct fake *fake = data;

    assert_ptr_equal(token, &fake_token);
    if (fake->fail_token_sid)
        return error_set(err, ERROR_INTERNAL, "read the token's user: invalid handle");
    *sid = xstrdup(fake->token_sid ? fake->token_sid : fake->logged_on);
    return 0;
}

static int account_sid(void *data, const char *name, char **sid, struct error *err)
{
    (void)data;
    (void)err;
    *sid = xstrdup(sid_of(name));
    return 0;
}

static void token_close(void *data, void *token)
{
    struct fake *fake = data;

    assert_ptr_equal(token, &fake_token);
    fake->open_tokens--;
}

static int random_password(void *data, char *password, size_t size, struct error *err)
{
    (void)data;
    (void)err;
    memset(password, 'x', size - 1);
    password[size - 1] = '\0';
    return 0;
}

static int record_user(void *data, const char *user, struct error *err)
{
    struct fake *fake = data;

    (void)err;
    free(fake->record);
    fake->record = user ? xstrdup(user) : NULL;
    return 0;
}

static struct winuser_ops fake_ops(struct fake *fake)
{
    return (struct winuser_ops){
        .data = fake,
        .group_exists = group_exists,
        .user_add = user_add,
        .group_add_member = group_add_member,
        .user_delete = user_delete,
        .logon = logon,
        .token_sid = token_sid,
        .account_sid = account_sid,
        .token_close = token_close,
        .random_password = random_password,
        .record_user = record_user,
    };
}

static int setup(void **state)
{
    *state = xcalloc(1, sizeof(struct fake));
    return 0;
}

static int teardown(void **state)
{
    struct fake *fake = *state;

    assert_int_equal(fake->open_tokens, 0);
    strbuf_free(&fake->calls);
    free(fake->logged_on);
    free(fake->record);
    free(fake);
    return 0;
}

/* Logs on as name; returns the error code and keeps the message in message. */
static enum error_code try_logon(struct fake *fake, const char *name, struct winuser_logon *out,
                                 char *message, size_t size)
{
    struct winuser_ops ops = fake_ops(fake);
    struct error err = ERROR_INIT;
    enum error_code code;

    winuser_logon(&ops, name, CONTAINER_ID, out, &err);
    code = err.code;
    snprintf(message, size, "%s", err.message ? err.message : "");
    error_clear(&err);
    return code;
}

static void service_accounts_any_case(void **state)
{
    static const char *const names[][2] = {
        {"NT AUTHORITY\\SYSTEM", "logon NT AUTHORITY\\SYSTEM;"},
        {"nt authority\\system", "logon NT AUTHORITY\\SYSTEM;"},
        {"NT Authority\\Local Service", "logon NT AUTHORITY\\LOCAL SERVICE;"},
        {"NT AUTHORITY\\network service", "logon NT AUTHORITY\\NETWORK SERVICE;"},
    };
    struct fake *fake = *state;
    struct winuser_ops ops = fake_ops(fake);
    char message[256];

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        struct winuser_logon out;

        strbuf_reset(&fake->calls);
        assert_int_equal(try_logon(fake, names[i][0], &out, message, sizeof(message)), ERROR_OK);
        assert_string_equal(fake->calls.data, names[i][1]);
        assert_ptr_equal(out.token, &fake_token);
        assert_null(out.temporary_user);
        winuser_logon_clear(&ops, &out);
    }
}

static void token_of_other_account_rejected(void **state)
{
    struct fake *fake = *state;
    struct winuser_logon out;
    char message[256];

    fake->token_sid = "S-1-5-21-9-9-9-500";
    assert_int_equal(try_logon(fake, "NT AUTHORITY\\SYSTEM", &out, message, sizeof(message)),
                     ERROR_PERMISSION_DENIED);
    assert_non_null(strstr(message, "S-1-5-21-9-9-9-500 instead of S-1-5-18"));
    assert_null(out.token);
}

static void unreadable_token_rejected(void **state)
{
    struct fake *fake = *state;
    struct winuser_logon out;
    char message[256];

    fake->fail_token_sid = true;
    assert_int_equal(try_logon(fake, "NT AUTHORITY\\LOCAL SERVICE", &out, message, sizeof(message)),
                     ERROR_PERMISSION_DENIED);
    assert_non_null(strstr(message, "check the logon token"));
    assert_null(out.token);
}

static void failed_logon_reported(void **state)
{
    struct fake *fake = *state;
    struct winuser_logon out;
    char message[256];

    fake->fail_logon = true;
    assert_int_equal(try_logon(fake, "NT AUTHORITY\\SYSTEM", &out, message, sizeof(message)),
                     ERROR_PERMISSION_DENIED);
    assert_non_null(strstr(message, "log on as NT AUTHORITY\\SYSTEM"));
}

static void invalid_names(void **state)
{
    struct fake *fake = *state;
    struct winuser_logon out;
    char message[256];

    assert_int_equal(try_logon(fake, "", &out, message, sizeof(message)), ERROR_INVALID_ARGUMENT);
    assert_int_equal(try_logon(fake, "a\\b\\c", &out, message, sizeof(message)),
                     ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(message, "more than one backslash"));
    assert_int_equal(try_logon(fake, "NT AUTHORITY\\bogus", &out, message, sizeof(message)),
                     ERROR_NOT_FOUND);
    assert_non_null(strstr(message, "SYSTEM, LOCAL SERVICE and NETWORK SERVICE"));
    assert_int_equal(try_logon(fake, "DOMAIN\\alice", &out, message, sizeof(message)),
                     ERROR_NOT_FOUND);
    assert_int_equal(try_logon(fake, "Guest", &out, message, sizeof(message)), ERROR_NOT_FOUND);
    assert_non_null(strstr(message, "user Guest not found"));
    /* Only the last name was looked up as a group; no logon was tried. */
    assert_string_equal(fake->calls.data, "group_exists Guest;");
}

static void group_through_temporary_user(void **state)
{
    struct fake *fake = *state;
    struct winuser_ops ops = fake_ops(fake);
    struct winuser_logon out;
    struct error err = ERROR_INIT;
    char message[256];

    fake->is_group = true;
    assert_int_equal(try_logon(fake, "hpc-admins", &out, message, sizeof(message)), ERROR_OK);
    assert_string_equal(fake->calls.data, "group_exists hpc-admins;user_add 0123456789abcdef0123;"
                                          "group_add_member hpc-admins 0123456789abcdef0123;"
                                          "logon .\\0123456789abcdef0123;");
    assert_string_equal(out.temporary_user, "0123456789abcdef0123");
    assert_string_equal(fake->record, "0123456789abcdef0123");
    assert_int_equal(fake->users, 1);
    assert_int_equal(winuser_delete_temporary(&ops, out.temporary_user, &err), 0);
    assert_int_equal(fake->users, 0);
    assert_null(fake->record);
    winuser_logon_clear(&ops, &out);
}

static void group_failure_deletes_user(void **state)
{
    struct fake *fake = *state;
    struct winuser_logon out;
    char message[256];

    fake->is_group = true;
    fake->fail_logon = true;
    assert_int_equal(try_logon(fake, "hpc-admins", &out, message, sizeof(message)),
                     ERROR_PERMISSION_DENIED);
    assert_non_null(strstr(message, "temporary user 0123456789abcdef0123"));
    assert_int_equal(fake->users, 0);
    assert_null(fake->record);
    assert_null(out.temporary_user);
}

static void group_user_add_failure(void **state)
{
    struct fake *fake = *state;
    struct winuser_logon out;
    char message[256];

    fake->is_group = true;
    fake->fail_user_add = true;
    assert_int_equal(try_logon(fake, "hpc-admins", &out, message, sizeof(message)), ERROR_INTERNAL);
    assert_non_null(strstr(message, "create temporary user"));
    assert_null(fake->record);
    assert_null(strstr(fake->calls.data, "user_delete"));
}

static void temporary_name_is_20_characters(void **state)
{
    _cleanup_free_ char *long_name = winuser_temporary_name(CONTAINER_ID);
    _cleanup_free_ char *short_name = winuser_temporary_name("abc");

    (void)state;
    assert_string_equal(long_name, "0123456789abcdef0123");
    assert_string_equal(short_name, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(service_accounts_any_case, setup, teardown),
        cmocka_unit_test_setup_teardown(token_of_other_account_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(unreadable_token_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_logon_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_names, setup, teardown),
        cmocka_unit_test_setup_teardown(group_through_temporary_user, setup, teardown),
        cmocka_unit_test_setup_teardown(group_failure_deletes_user, setup, teardown),
        cmocka_unit_test_setup_teardown(group_user_add_failure, setup, teardown),
        cmocka_unit_test(temporary_name_is_20_characters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
