/* Test certificates made with OpenSSL's API (no openssl command needed): a CA, and leaf
 * certificates it signs for servers (with IP and DNS subject alternative names) and for
 * clients, written as PEM files. Keys are P-256. For tests only: a day's validity. */
#ifndef TT_TEST_CERTS_H
#define TT_TEST_CERTS_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct tc_ca {
    EVP_PKEY *key;
    X509 *cert;
} tc_ca;

static inline EVP_PKEY *tc_key(void)
{
    return EVP_EC_gen("P-256");
}

static inline bool tc_write(const char *path, EVP_PKEY *key, X509 *cert)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    bool ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1 : PEM_write_X509(f, cert) == 1;
    return fclose(f) == 0 && ok;
}

static inline bool tc_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return false;
    bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

static inline X509 *tc_cert(EVP_PKEY *key, const char *cn, long serial)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    return x;
}

/* A CA; its certificate is written to ca_path. */
static inline bool tc_ca_make(tc_ca *ca, const char *cn, const char *ca_path)
{
    ca->key = tc_key();
    ca->cert = tc_cert(ca->key, cn, 1);
    X509_set_issuer_name(ca->cert, X509_get_subject_name(ca->cert));
    bool ok = tc_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE") &&
              tc_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign") &&
              tc_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash") &&
              X509_sign(ca->cert, ca->key, EVP_sha256()) > 0;
    return ok && tc_write(ca_path, NULL, ca->cert);
}

/* A leaf signed by ca: san like "IP:127.0.0.1,DNS:localhost" (NULL for none); server or
 * client usage. Writes cert_path and key_path. */
static inline bool tc_leaf(const tc_ca *ca, const char *cn, const char *san, bool server, const char *cert_path,
                           const char *key_path)
{
    static long serial = 100;
    EVP_PKEY *key = tc_key();
    X509 *x = tc_cert(key, cn, ++serial);
    X509_set_issuer_name(x, X509_get_subject_name(ca->cert));
    bool ok = tc_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") &&
              tc_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
              tc_ext(x, ca->cert, NID_ext_key_usage, server ? "serverAuth,clientAuth" : "clientAuth") &&
              tc_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always") &&
              (!san || tc_ext(x, ca->cert, NID_subject_alt_name, san)) &&
              X509_sign(x, ca->key, EVP_sha256()) > 0 && tc_write(cert_path, NULL, x) && tc_write(key_path, key, NULL);
    X509_free(x);
    EVP_PKEY_free(key);
    return ok;
}

static inline void tc_ca_free(tc_ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    memset(ca, 0, sizeof *ca);
}

#endif
