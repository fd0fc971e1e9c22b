/*
 * streaming_tls_check: the Windows test of the streaming server with TLS. hostcri.exe runs with
 * a streaming certificate (made by the test script for 127.0.0.1). Over the daemon's named
 * pipe this program runs a HostProcess pod with one container, requests an Exec URL, and runs
 * the exec over SPDY/3.1 inside TLS, with Schannel as the client: the handshake, the server's
 * certificate, the HTTP upgrade, and the frames that come back (cri/streaming/spdy.c writes and
 * parses them). A client that speaks plain HTTP to the TLS port must get no HTTP response.
 * Prints one "PASS", "FAIL" or "XFAIL" line per check and a summary.
 *
 * Usage:
 *   streaming_tls_check.exe run \\.\pipe\NAME IMAGE TEST_DIR CERT_FILE
 *   streaming_tls_check.exe sleep     (the container's command)
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winsock2.h>
#include <ws2tcpip.h>

#define SECURITY_WIN32
#include <schannel.h>
#include <security.h>
#include <wincrypt.h>

#include "checks.h"
#include "api/api.pb-c.h"
#include "cri/streaming/spdy.h"
#include "streaming_common.h"

/* What Wine 8.0 lacks: its schannel has no AcceptSecurityContext, so no TLS server. */
#define WINE_NO_TLS_SERVER                                                                         \
    "Wine 8.0's schannel implements only the client side of TLS: AcceptSecurityContext "           \
    "returns SEC_E_UNSUPPORTED_FUNCTION"

static const char *cert_file;

/* ---- A Schannel client -------------------------------------------------------------------- */

struct tls_client {
    SOCKET sock;
    CredHandle credentials;
    bool credentials_valid;
    CtxtHandle context;
    bool context_valid;
    SecPkgContext_StreamSizes sizes;
    struct strbuf input; /* ciphertext not yet decrypted */
};

static void tls_client_free(struct tls_client *client)
{
    if (client->context_valid)
        DeleteSecurityContext(&client->context);
    if (client->credentials_valid)
        FreeCredentialsHandle(&client->credentials);
    if (client->sock != INVALID_SOCKET)
        closesocket(client->sock);
    strbuf_free(&client->input);
}

/* Keeps the last extra bytes of the input, which belong to the next record. */
static void keep_extra(struct strbuf *input, const SecBuffer *buffer)
{
    size_t extra = buffer->BufferType == SECBUFFER_EXTRA ? buffer->cbBuffer : 0;

    strbuf_consume(input, input->length - extra);
}

/*
 * Runs the client side of the handshake on client->sock. The server's certificate is checked
 * by the caller (SCH_CRED_MANUAL_CRED_VALIDATION), because Wine 8's Schannel does not match
 * IP address entries. Returns false with the reason in error.
 */
static bool tls_handshake(struct tls_client *client, char *error, size_t error_size)
{
    SCHANNEL_CRED credentials = {
        .dwVersion = SCHANNEL_CRED_VERSION,
        .dwFlags = SCH_CRED_MANUAL_CRED_VALIDATION | SCH_CRED_NO_DEFAULT_CREDS,
        /* TLS 1.2 only: a TLS 1.3 server's session tickets would need renegotiation handling
         * (SEC_I_RENEGOTIATE) in tls_receive. */
        .grbitEnabledProtocols = SP_PROT_TLS1_2_CLIENT,
    };
    ULONG flags = ISC_REQ_SEQUENCE_DETECT | ISC_REQ_REPLAY_DETECT | ISC_REQ_CONFIDENTIALITY |
                  ISC_REQ_ALLOCATE_MEMORY | ISC_REQ_STREAM | ISC_REQ_MANUAL_CRED_VALIDATION;
    ULONG attributes;
    SECURITY_STATUS status;

    status = AcquireCredentialsHandleW(NULL, (SEC_WCHAR *)UNISP_NAME_W, SECPKG_CRED_OUTBOUND, NULL,
                                       &credentials, NULL, NULL, &client->credentials, NULL);
    if (status != SEC_E_OK) {
        snprintf(error, error_size, "AcquireCredentialsHandle: 0x%08lx", (unsigned long)status);
        return false;
    }
    client->credentials_valid = true;
    for (int round = 0; round < 20; round++) {
        SecBuffer input[2] = {{(ULONG)client->input.length, SECBUFFER_TOKEN, client->input.data},
                              {0, SECBUFFER_EMPTY, NULL}};
        SecBuffer output[1] = {{0, SECBUFFER_TOKEN, NULL}};
        SecBufferDesc input_desc = {SECBUFFER_VERSION, 2, input};
        SecBufferDesc output_desc = {SECBUFFER_VERSION, 1, output};

        status = InitializeSecurityContextW(
            &client->credentials, client->context_valid ? &client->context : NULL, L"127.0.0.1",
            flags, 0, 0, client->context_valid ? &input_desc : NULL, 0, &client->context,
            &output_desc, &attributes, NULL);
        client->context_valid = true;
        if (output[0].pvBuffer != NULL) {
            bool sent = streaming_send_all(client->sock, output[0].pvBuffer, output[0].cbBuffer);

            FreeContextBuffer(output[0].pvBuffer);
            if (!sent) {
                snprintf(error, error_size, "sending the handshake failed");
                return false;
            }
        }
        if (status == SEC_E_OK) {
            keep_extra(&client->input, &input[1]);
            QueryContextAttributesW(&client->context, SECPKG_ATTR_STREAM_SIZES, &client->sizes);
            return true;
        }
        if (status == SEC_I_CONTINUE_NEEDED)
            keep_extra(&client->input, &input[1]);
        else if (status != SEC_E_INCOMPLETE_MESSAGE) {
            snprintf(error, error_size, "InitializeSecurityContext: 0x%08lx",
                     (unsigned long)status);
            return false;
        }
        if ((status == SEC_E_INCOMPLETE_MESSAGE || client->input.length == 0) &&
            !streaming_receive(client->sock, &client->input)) {
            snprintf(error, error_size,
                     "the server closed the connection during the handshake (see the "
                     "daemon's log)");
            return false;
        }
    }
    snprintf(error, error_size, "the handshake did not end after 20 rounds");
    return false;
}

static bool tls_send(struct tls_client *client, const void *data, size_t length)
{
    const SecPkgContext_StreamSizes *sizes = &client->sizes;
    const char *bytes = data;

    while (length > 0) {
        size_t chunk = length < sizes->cbMaximumMessage ? length : sizes->cbMaximumMessage;
        char *record = malloc(sizes->cbHeader + chunk + sizes->cbTrailer);
        SecBuffer buffers[4] = {
            {sizes->cbHeader, SECBUFFER_STREAM_HEADER, record},
            {(ULONG)chunk, SECBUFFER_DATA, record + sizes->cbHeader},
            {sizes->cbTrailer, SECBUFFER_STREAM_TRAILER, record + sizes->cbHeader + chunk},
            {0, SECBUFFER_EMPTY, NULL},
        };
        SecBufferDesc desc = {SECBUFFER_VERSION, 4, buffers};

        memcpy(record + sizes->cbHeader, bytes, chunk);
        bool ok =
            EncryptMessage(&client->context, 0, &desc, 0) == SEC_E_OK &&
            streaming_send_all(client->sock, record,
                               buffers[0].cbBuffer + buffers[1].cbBuffer + buffers[2].cbBuffer);
        free(record);
        if (!ok)
            return false;
        bytes += chunk;
        length -= chunk;
    }
    return true;
}

/* Decrypts what arrives into plain until the server closes or a read times out. */
static void tls_receive(struct tls_client *client, struct strbuf *plain)
{
    for (;;) {
        SecBuffer buffers[4] = {
            {(ULONG)client->input.length, SECBUFFER_DATA, client->input.data},
            {0, SECBUFFER_EMPTY, NULL},
            {0, SECBUFFER_EMPTY, NULL},
            {0, SECBUFFER_EMPTY, NULL},
        };
        SecBufferDesc desc = {SECBUFFER_VERSION, 4, buffers};
        SECURITY_STATUS status = client->input.length > 0
                                     ? DecryptMessage(&client->context, &desc, 0, NULL)
                                     : SEC_E_INCOMPLETE_MESSAGE;

        if (status == SEC_E_INCOMPLETE_MESSAGE) {
            if (!streaming_receive(client->sock, &client->input))
                return;
            continue;
        }
        if (status != SEC_E_OK && status != SEC_I_CONTEXT_EXPIRED)
            return;
        for (int i = 1; i < 4; i++) {
            if (buffers[i].BufferType == SECBUFFER_DATA)
                strbuf_append(plain, buffers[i].pvBuffer, buffers[i].cbBuffer);
        }
        SecBuffer *extra = NULL;
        for (int i = 1; i < 4; i++) {
            if (buffers[i].BufferType == SECBUFFER_EXTRA)
                extra = &buffers[i];
        }
        strbuf_consume(&client->input, client->input.length - (extra ? extra->cbBuffer : 0));
        if (status == SEC_I_CONTEXT_EXPIRED)
            return;
    }
}

/* Checks that the server sent the certificate of cert_file. */
static void check_server_certificate(struct tls_client *client)
{
    const CERT_CONTEXT *remote = NULL;
    char text[16384];
    BYTE der[8192];
    DWORD der_length = sizeof(der);
    FILE *file = fopen(cert_file, "rb");
    size_t n = file ? fread(text, 1, sizeof(text) - 1, file) : 0;

    if (file)
        fclose(file);
    text[n] = '\0';
    bool decoded =
        CryptStringToBinaryA(text, 0, CRYPT_STRING_BASE64HEADER, der, &der_length, NULL, NULL);
    SECURITY_STATUS status =
        QueryContextAttributesW(&client->context, SECPKG_ATTR_REMOTE_CERT_CONTEXT, &remote);
    check(decoded && status == SEC_E_OK && remote != NULL && remote->cbCertEncoded == der_length &&
              memcmp(remote->pbCertEncoded, der, der_length) == 0,
          "the server presents the configured certificate", "decoded %d, status 0x%08lx", decoded,
          (unsigned long)status);
    if (remote)
        CertFreeCertificateContext(remote);

    SecPkgContext_ConnectionInfo info = {0};
    QueryContextAttributesW(&client->context, SECPKG_ATTR_CONNECTION_INFO, &info);
    check((info.dwProtocol & (SP_PROT_TLS1_2_CLIENT | SP_PROT_TLS1_3_CLIENT)) != 0,
          "the connection uses TLS 1.2 or later", "protocol 0x%lx", (unsigned long)info.dwProtocol);
}

/* ---- The checks ----------------------------------------------------------------------------- */

/* Requests an exec of cmd /c echo hello and returns its URL (free), or NULL. */
static char *exec_url(const char *container_id)
{
    char *command[] = {"cmd", "/c", "echo hello"};
    char error[512];
    char *url = NULL;
    Runtime__V1__ExecResponse *response =
        streaming_request_exec(container_id, command, 3, false, false, error, sizeof(error));

    if (check(response && strncmp(response->url, "https://127.0.0.1:", 18) == 0,
              "Exec issues an https URL of the streaming server", "%s %s", error,
              response ? response->url : ""))
        url = strdup(response->url);
    streaming_free_message(response);
    return url;
}

/* Runs the exec of url over SPDY/3.1 (v4.channel.k8s.io) inside TLS. */
static void test_exec_over_tls(const char *url)
{
    struct tls_client client = {.sock = INVALID_SOCKET};
    struct strbuf request = STRBUF_INIT, plain = STRBUF_INIT;
    struct strbuf streams[STREAMING_SPDY_STREAMS];
    struct spdy_parser parser;
    const char *path;
    char error[256] = "cannot connect";

    memset(streams, 0, sizeof(streams));
    client.sock = streaming_connect_url(url, "https", &path);
    bool connected = client.sock != INVALID_SOCKET && tls_handshake(&client, error, sizeof(error));
    if (!check_api(connected, "TLS handshake with the streaming server", WINE_NO_TLS_SERVER, "%s",
                   error))
        goto out;
    check_server_certificate(&client);

    streaming_append_spdy_upgrade(&request, path, "v4.channel.k8s.io");
    streaming_append_exec_streams(&request);
    check(tls_send(&client, request.data, request.length), "send the upgrade and SPDY frames",
          "EncryptMessage or send failed");
    tls_receive(&client, &plain);
    if (!check(plain.data && strncmp(plain.data, "HTTP/1.1 101", 12) == 0,
               "the exec URL upgrades to SPDY/3.1 inside TLS", "%.60s",
               plain.data ? plain.data : "(nothing)"))
        goto out;
    /* The SPDY frames follow the 101 response's head: stream 3 is stdout, 1 the v4 status. */
    const char *frames = strstr(plain.data, "\r\n\r\n") + 4;
    spdy_parser_init(&parser, NULL);
    spdy_parser_feed(&parser, frames, plain.length - (size_t)(frames - plain.data));
    streaming_collect_spdy_data(&parser, streams);
    spdy_parser_free(&parser);
    const char *out_text = streams[3].data ? streams[3].data : "";
    check(strcmp(out_text, "hello\r\n") == 0 || strcmp(out_text, "hello\n") == 0,
          "exec over TLS writes hello on stdout", "stdout \"%s\"", out_text);
    check(streams[1].data && strstr(streams[1].data, "\"Success\"") != NULL,
          "exec over TLS reports Success", "status \"%s\"", streams[1].data ? streams[1].data : "");
out:
    tls_client_free(&client);
    strbuf_free(&request);
    strbuf_free(&plain);
    for (size_t i = 0; i < STREAMING_SPDY_STREAMS; i++)
        strbuf_free(&streams[i]);
}

/* A client that sends plain HTTP to the TLS port gets no HTTP response. */
static void test_plain_http_rejected(const char *url)
{
    const char *path;
    SOCKET sock = streaming_connect_url(url, "https", &path);
    struct strbuf answer = STRBUF_INIT;
    static const char request[] = "POST /exec/abcdefgh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

    if (!check(sock != INVALID_SOCKET, "connect to the TLS port", "%s", url))
        return;
    streaming_send_all(sock, request, strlen(request));
    while (streaming_receive(sock, &answer)) {
    }
    closesocket(sock);
    check(answer.length < 5 || memcmp(answer.data, "HTTP/", 5) != 0,
          "plain HTTP to the TLS port gets no HTTP response", "%.40s", answer.data);
    strbuf_free(&answer);
}

/* The container's command: sleeps until it is stopped. */
static __attribute__((noreturn)) void run_sleep(void)
{
    for (;;)
        Sleep(1000);
}

static void run_all(const char *image, const char *test_dir)
{
    struct streaming_pod pod;
    char *container_id;

    if (!streaming_pod_run(&pod, image, "streaming-tls", test_dir, "RunPodSandbox of the TLS pod"))
        return;
    container_id = streaming_pod_start_sleeper(&pod, "tls-sleeper");
    if (container_id != NULL) {
        char *url = exec_url(container_id);

        if (url != NULL) {
            test_exec_over_tls(url);
            free(url);
        }
        url = exec_url(container_id);
        if (url != NULL) {
            test_plain_http_rejected(url);
            free(url);
        }
        free(container_id);
    }
    streaming_pod_remove(&pod);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 2 && strcmp(argv[1], "sleep") == 0)
        run_sleep();
    if (argc != 6 || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: %s run \\\\.\\pipe\\NAME IMAGE TEST_DIR CERT_FILE\n", argv[0]);
        return 2;
    }
    cert_file = argv[5];
    streaming_init(argv[2]);
    run_all(argv[3], argv[4]);
    WSACleanup();
    return checks_finish();
}
