#ifndef HOSTCRI_TEST_STREAMING_TLS_FILES_H
#define HOSTCRI_TEST_STREAMING_TLS_FILES_H

#include <openssl/evp.h>

/* A certificate file and a key file in a temporary directory of their own. */
struct tls_files {
    char dir[64];
    char *cert_file;
    char *key_file;
};

/*
 * Writes a self-signed certificate of cert_key for 127.0.0.1 and file_key as the key file, to a
 * new directory. A file_key other than cert_key gives a key that does not match the certificate.
 */
void tls_files_write(struct tls_files *files, EVP_PKEY *cert_key, EVP_PKEY *file_key);

/* Writes a self-signed P-256 certificate for 127.0.0.1 and its key to a new directory. */
void tls_files_make(struct tls_files *files);

/* Removes the files and their directory. */
void tls_files_remove(struct tls_files *files);

#endif
