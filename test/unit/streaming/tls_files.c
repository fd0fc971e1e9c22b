#include "tls_files.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/util.h"

void tls_files_write(struct tls_files *files, EVP_PKEY *cert_key, EVP_PKEY *file_key)
{
    X509 *x509 = X509_new();
    FILE *f;

    strcpy(files->dir, "/tmp/hostcri-tls-XXXXXX");
    assert_non_null(mkdtemp(files->dir));
    files->cert_file = xasprintf("%s/cert.pem", files->dir);
    files->key_file = xasprintf("%s/key.pem", files->dir);

    X509_set_version(x509, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
    X509_gmtime_adj(X509_getm_notBefore(x509), 0);
    X509_gmtime_adj(X509_getm_notAfter(x509), 3600);
    X509_set_pubkey(x509, cert_key);
    X509_NAME *name = X509_get_subject_name(x509);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1,
                               0);
    X509_set_issuer_name(x509, name);
    assert_true(X509_sign(x509, cert_key, EVP_sha256()) > 0);

    f = fopen(files->cert_file, "w");
    assert_non_null(f);
    PEM_write_X509(f, x509);
    fclose(f);
    f = fopen(files->key_file, "w");
    assert_non_null(f);
    PEM_write_PrivateKey(f, file_key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x509);
}

void tls_files_make(struct tls_files *files)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");

    assert_non_null(key);
    tls_files_write(files, key, key);
    EVP_PKEY_free(key);
}

void tls_files_remove(struct tls_files *files)
{
    unlink(files->cert_file);
    unlink(files->key_file);
    rmdir(files->dir);
    free(files->cert_file);
    free(files->key_file);
}
