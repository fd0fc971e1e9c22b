/*
 * PEM blocks and private keys for the Schannel side of the streaming server's TLS
 * (cri/streaming/tls_pem.c). OpenSSL writes the keys in every form that OpenSSL and kubeadm
 * write, and reads back what tls_pem produced, so the conversions are checked by an
 * independent implementation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/base64.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "cri/streaming/tls_pem.h"

enum key_form {
    FORM_PKCS8,       /* "PRIVATE KEY", as openssl genpkey writes */
    FORM_TRADITIONAL, /* "RSA PRIVATE KEY" or "EC PRIVATE KEY", as kubeadm writes */
};

/* Writes key as PEM text in form; the caller frees the result. */
static char *key_pem(EVP_PKEY *key, enum key_form form)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;

    if (form == FORM_PKCS8)
        assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
    else
        assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL, NULL),
                         1);
    long length = BIO_get_mem_data(bio, &data);
    char *text = xstrndup(data, (size_t)length);
    BIO_free(bio);
    return text;
}

/* Parses text and converts its key, expecting both to succeed. */
static void load_key(const char *text, struct tls_private_key *key)
{
    struct tls_pem_block *blocks = NULL;
    size_t count = 0;
    struct error err = ERROR_INIT;

    assert_int_equal(tls_pem_parse(text, strlen(text), &blocks, &count, &err), 0);
    if (tls_private_key_from_pem(blocks, count, key, &err) < 0)
        fail_msg("tls_private_key_from_pem: %s", err.message);
    tls_pem_blocks_free(blocks, count);
}

/* Parses text and converts its key, expecting one of the two to fail with expected. */
static void expect_key_error(const char *text, const char *expected)
{
    struct tls_pem_block *blocks = NULL;
    size_t count = 0;
    struct tls_private_key key;
    struct error err = ERROR_INIT;

    if (tls_pem_parse(text, strlen(text), &blocks, &count, &err) == 0) {
        assert_int_equal(tls_private_key_from_pem(blocks, count, &key, &err), -1);
        tls_pem_blocks_free(blocks, count);
    }
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    if (strstr(err.message, expected) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err.message, expected);
    error_clear(&err);
}

/* Checks that key contains original as PKCS#1 (RSA) or PKCS#8 (EC). */
static void assert_same_key(const struct tls_private_key *key, EVP_PKEY *original)
{
    const unsigned char *der = key->der;
    EVP_PKEY *decoded = NULL;

    if (key->type == TLS_KEY_RSA) {
        decoded = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &der, (long)key->length);
    } else {
        PKCS8_PRIV_KEY_INFO *info = d2i_PKCS8_PRIV_KEY_INFO(NULL, &der, (long)key->length);

        assert_non_null(info);
        decoded = EVP_PKCS82PKEY(info);
        PKCS8_PRIV_KEY_INFO_free(info);
    }
    assert_non_null(decoded);
    assert_ptr_equal(der, key->der + key->length); /* no trailing bytes */
    assert_int_equal(EVP_PKEY_eq(decoded, original), 1);
    EVP_PKEY_free(decoded);
}

/* Loads key in its PKCS#8 and traditional PEM forms and checks each against key. */
static void check_both_forms(EVP_PKEY *key, int expected_type)
{
    enum key_form forms[] = {FORM_PKCS8, FORM_TRADITIONAL};

    for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
        _cleanup_free_ char *text = key_pem(key, forms[i]);
        struct tls_private_key loaded;

        load_key(text, &loaded);
        assert_int_equal(loaded.type, expected_type);
        assert_same_key(&loaded, key);
        tls_private_key_clear(&loaded);
    }
}

static void test_pem_rsa_forms(void **state)
{
    EVP_PKEY *rsa = EVP_RSA_gen(2048);

    assert_non_null(rsa);
    check_both_forms(rsa, TLS_KEY_RSA);
    EVP_PKEY_free(rsa);
}

static void test_pem_ec_forms(void **state)
{
    const char *curves[] = {"P-256", "P-384"};

    for (size_t c = 0; c < ARRAY_SIZE(curves); c++) {
        EVP_PKEY *ec = EVP_EC_gen(curves[c]);

        assert_non_null(ec);
        check_both_forms(ec, TLS_KEY_EC);
        EVP_PKEY_free(ec);
    }
}

static void test_pem_skips_other_blocks(void **state)
{
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    _cleanup_free_ char *key_text = key_pem(ec, FORM_TRADITIONAL);
    /* openssl ecparam -genkey writes the curve's parameters before the key. */
    _cleanup_free_ char *text = xasprintf("-----BEGIN EC PARAMETERS-----\r\nBggqhkjOPQMBBw==\r\n"
                                          "-----END EC PARAMETERS-----\r\n%s",
                                          key_text);
    struct tls_pem_block *blocks = NULL;
    size_t count = 0;
    struct tls_private_key key;
    struct error err = ERROR_INIT;

    assert_int_equal(tls_pem_parse(text, strlen(text), &blocks, &count, &err), 0);
    assert_int_equal(count, 2);
    assert_string_equal(blocks[0].label, "EC PARAMETERS");
    assert_int_equal(blocks[0].length, 10);
    assert_string_equal(blocks[1].label, "EC PRIVATE KEY");
    assert_int_equal(tls_private_key_from_pem(blocks, count, &key, &err), 0);
    assert_same_key(&key, ec);
    tls_private_key_clear(&key);
    tls_pem_blocks_free(blocks, count);
    EVP_PKEY_free(ec);
}

static void test_pem_certificate_chain(void **state)
{
    static const char text[] = "subject=CN = leaf\n"
                               "-----BEGIN CERTIFICATE-----\n"
                               "AAEC\n"
                               "AwQF\n"
                               "-----END CERTIFICATE-----\n"
                               "\n"
                               "-----BEGIN CERTIFICATE-----\n"
                               "BgcI\n"
                               "-----END CERTIFICATE-----\n";
    struct tls_pem_block *blocks = NULL;
    size_t count = 0;
    struct error err = ERROR_INIT;
    static const unsigned char first[] = {0, 1, 2, 3, 4, 5};

    assert_int_equal(tls_pem_parse(text, strlen(text), &blocks, &count, &err), 0);
    assert_int_equal(count, 2);
    assert_string_equal(blocks[0].label, "CERTIFICATE");
    assert_int_equal(blocks[0].length, sizeof(first));
    assert_memory_equal(blocks[0].der, first, sizeof(first));
    assert_string_equal(blocks[1].label, "CERTIFICATE");
    assert_int_equal(blocks[1].length, 3);
    tls_pem_blocks_free(blocks, count);

    assert_int_equal(tls_pem_parse("no PEM here\n", 12, &blocks, &count, &err), 0);
    assert_int_equal(count, 0);
    tls_pem_blocks_free(blocks, count);
}

static void test_pem_invalid_blocks(void **state)
{
    expect_key_error("line one\n-----BEGIN PRIVATE KEY-----\nAAEC\n",
                     "line 2: \"BEGIN PRIVATE KEY\" has no END line");
    expect_key_error("-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
                     "line 1: the PRIVATE KEY block holds invalid base64");
    expect_key_error("-----BEGIN PRIVATE KEY-----\nAAEC\n-----END CERTIFICATE-----\n",
                     "\"END CERTIFICATE\" closes the \"BEGIN PRIVATE KEY\" block of line 1");
    expect_key_error("just text\n", "no private key found");
    expect_key_error("-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n",
                     "invalid DER in the PKCS#8 private key");
    expect_key_error("-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n",
                     "invalid DER in the RSA private key");
}

static void test_pem_encrypted_keys(void **state)
{
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;

    /* Traditional encryption: Proc-Type and DEK-Info headers inside the block. */
    assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, ec, EVP_aes_128_cbc(),
                                                          (unsigned char *)"secret", 6, NULL, NULL),
                     1);
    long length = BIO_get_mem_data(bio, &data);
    _cleanup_free_ char *traditional = xstrndup(data, (size_t)length);
    expect_key_error(traditional, "the EC PRIVATE KEY block is encrypted");

    /* PKCS#8 encryption: an "ENCRYPTED PRIVATE KEY" block. */
    BIO_reset(bio);
    assert_int_equal(
        PEM_write_bio_PKCS8PrivateKey(bio, ec, EVP_aes_128_cbc(), "secret", 6, NULL, NULL), 1);
    length = BIO_get_mem_data(bio, &data);
    _cleanup_free_ char *pkcs8 = xstrndup(data, (size_t)length);
    expect_key_error(pkcs8, "the private key is encrypted");
    BIO_free(bio);
    EVP_PKEY_free(ec);
}

static void test_pem_unsupported_keys(void **state)
{
    EVP_PKEY *ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    _cleanup_free_ char *text = key_pem(ed25519, FORM_PKCS8);

    expect_key_error(text, "the private key's algorithm 1.3.101.112 is not supported");
    EVP_PKEY_free(ed25519);

    /* A SEC1 key without its curve: SEQUENCE { INTEGER 1, OCTET STRING (32 bytes) }. */
    unsigned char sec1[39] = {0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20};
    memset(sec1 + 7, 0x11, 32);
    _cleanup_free_ char *base64 = base64_encode(sec1, sizeof(sec1));
    _cleanup_free_ char *no_curve =
        xasprintf("-----BEGIN EC PRIVATE KEY-----\n%s\n-----END EC PRIVATE KEY-----\n", base64);
    expect_key_error(no_curve, "the EC private key does not name its curve");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pem_rsa_forms),          cmocka_unit_test(test_pem_ec_forms),
        cmocka_unit_test(test_pem_skips_other_blocks), cmocka_unit_test(test_pem_certificate_chain),
        cmocka_unit_test(test_pem_invalid_blocks),     cmocka_unit_test(test_pem_encrypted_keys),
        cmocka_unit_test(test_pem_unsupported_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
