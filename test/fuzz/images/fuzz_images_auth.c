/*
 * Feeds arbitrary bytes to the parsers of registry input outside the manifests: the
 * WWW-Authenticate challenge, the token response, the base64 auth of a CRI AuthConfig, and
 * a per-host hosts.toml file.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "images/auth.h"
#include "images/hosts_toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *text = xstrndup((const char *)data, size);
    struct auth_challenge challenge;
    struct auth_credentials creds;
    struct hosts_toml toml;
    char *token = NULL;
    int64_t expires_in = 0;

    if (auth_challenge_parse(text, &challenge, NULL) == 0 && challenge.realm != NULL) {
        char *url = auth_token_get_url(&challenge, challenge.scope);

        free(url);
    }
    auth_challenge_clear(&challenge);

    if (auth_token_parse_response((const char *)data, size, &token, &expires_in, NULL) == 0)
        free(token);

    if (auth_credentials_from_cri(NULL, NULL, text, NULL, NULL, &creds, NULL) == 0)
        auth_credentials_clear(&creds);

    if (hosts_toml_parse(text, "fuzz.toml", &toml, NULL) == 0)
        hosts_toml_clear(&toml);
    return 0;
}
