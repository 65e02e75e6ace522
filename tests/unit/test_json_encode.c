/* test_json_encode.c - the hand-written wire encoder checked by an independent
 * JSON parser (cJSON): exactly the seven fields, in order, with the values. */
#include "base/ids.h"
#include "base/json_encode.h"
#include "base/money.h"
#include "base/regions.h"
#include "base/rng.h"
#include "base/txn.h"

#include <cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *const field_order[7] = {
    "id_transacao",         "id_usuario_pagador", "id_usuario_recebedor", "id_regiao",
    "modalidade_pagamento", "data_horario",       "valor_transacao"};

static void random_txn(rng_t *r, txn_t *t, int i)
{
    memset(t, 0, sizeof *t);
    rng_uuid(r, t->id);
    rng_uuid(r, t->payer);
    rng_uuid(r, t->receiver);
    t->region = (uint8_t)rng_below(r, REGION_COUNT);
    t->modality = (uint8_t)rng_below(r, MOD_COUNT);
    /* Epoch ms between 1970 and ~2100, at whole milliseconds. */
    t->time_us = (int64_t)(rng_next(r) % 4102444800000ULL) * 1000;
    switch (i % 4) {
    case 0:
        t->amount_cents = (int64_t)rng_below(r, 1000);
        break; /* 0.00 .. 9.99 */
    case 1:
        t->amount_cents = (int64_t)(rng_exponential(r, 100000.0)) + 1;
        break;
    case 2:
        t->amount_cents = (int64_t)(rng_next(r) % (uint64_t)MONEY_MAX_CENTS);
        break;
    default:
        t->amount_cents = (int64_t)(rng_next(r) % (uint64_t)(MONEY_MAX_CENTS + 1));
        break;
    }
}

static void check_uuid(const cJSON *item, const uint8_t want[16])
{
    assert_true(cJSON_IsString(item));
    uint8_t got[16];
    assert_int_equal(ids_parse(item->valuestring, strlen(item->valuestring), got), 0);
    assert_memory_equal(got, want, 16);
}

/* Decode buf with cJSON and compare every field with *t. */
static void check_encoded(const txn_t *t, const char *buf, int len)
{
    assert_int_equal(len, (int)strlen(buf));
    assert_null(strchr(buf, ' '));
    assert_null(strchr(buf, '\n'));
    cJSON *root = cJSON_ParseWithLength(buf, (size_t)len);
    if (root == NULL) fail_msg("cJSON cannot parse: %s", buf);
    assert_true(cJSON_IsObject(root));
    assert_int_equal(cJSON_GetArraySize(root), 7);

    int k = 0;
    for (const cJSON *c = root->child; c != NULL; c = c->next, k++)
        assert_string_equal(c->string, field_order[k]);

    check_uuid(cJSON_GetObjectItemCaseSensitive(root, "id_transacao"), t->id);
    check_uuid(cJSON_GetObjectItemCaseSensitive(root, "id_usuario_pagador"), t->payer);
    check_uuid(cJSON_GetObjectItemCaseSensitive(root, "id_usuario_recebedor"), t->receiver);

    const cJSON *reg = cJSON_GetObjectItemCaseSensitive(root, "id_regiao");
    assert_true(cJSON_IsString(reg));
    assert_int_equal(region_index(reg->valuestring, strlen(reg->valuestring)), t->region);

    const cJSON *mod = cJSON_GetObjectItemCaseSensitive(root, "modalidade_pagamento");
    assert_true(cJSON_IsString(mod));
    assert_int_equal(modality_index(mod->valuestring, strlen(mod->valuestring)), t->modality);

    const cJSON *when = cJSON_GetObjectItemCaseSensitive(root, "data_horario");
    assert_true(cJSON_IsNumber(when));
    assert_true((double)(t->time_us / 1000) == when->valuedouble);

    const cJSON *val = cJSON_GetObjectItemCaseSensitive(root, "valor_transacao");
    assert_true(cJSON_IsNumber(val));
    int64_t cents = -1;
    assert_int_equal(money_from_double(val->valuedouble, &cents), MONEY_OK);
    if (cents != t->amount_cents)
        fail_msg("valor %lld cents encoded as %s", (long long)t->amount_cents, buf);

    /* The text itself: an integer data_horario, exactly two decimals. */
    const char *d = strstr(buf, "\"data_horario\":");
    assert_non_null(d);
    d += strlen("\"data_horario\":");
    while (*d >= '0' && *d <= '9')
        d++;
    assert_int_equal(*d, ',');
    const char *v = strstr(buf, "\"valor_transacao\":");
    assert_non_null(v);
    const char *dot = strchr(v, '.');
    assert_non_null(dot);
    assert_true(dot[1] >= '0' && dot[1] <= '9' && dot[2] >= '0' && dot[2] <= '9');
    assert_int_equal(dot[3], '}');
    assert_int_equal(dot[4], '\0');
    cJSON_Delete(root);
}

static void test_random_transactions(void **state)
{
    rng_t r;
    rng_seed(&r, 1234, 77);
    char buf[JSON_ENCODE_TXN_MAX];
    for (int i = 0; i < 50000; i++) {
        txn_t t;
        random_txn(&r, &t, i);
        int len = json_encode_txn(&t, buf, sizeof buf);
        assert_true(len > 0 && len < JSON_ENCODE_TXN_MAX);
        check_encoded(&t, buf, len);
    }
}

static void test_exact_text(void **state)
{
    txn_t t;
    memset(&t, 0, sizeof t);
    assert_int_equal(ids_parse("00112233-4455-4677-8899-aabbccddeeff", 36, t.id), 0);
    assert_int_equal(ids_parse("123e4567-e89b-42d3-a456-426614174000", 36, t.payer), 0);
    assert_int_equal(ids_parse("ffffffff-ffff-4fff-bfff-ffffffffffff", 36, t.receiver), 0);
    t.region = (uint8_t)region_index("SP", 2);
    t.modality = MOD_PIX;
    t.time_us = 1718892191123LL * 1000 + 999; /* sub-ms part is dropped */
    t.amount_cents = 12340;
    char buf[JSON_ENCODE_TXN_MAX];
    int len = json_encode_txn(&t, buf, sizeof buf);
    const char *want = "{\"id_transacao\":\"00112233-4455-4677-8899-aabbccddeeff\","
                       "\"id_usuario_pagador\":\"123e4567-e89b-42d3-a456-426614174000\","
                       "\"id_usuario_recebedor\":\"ffffffff-ffff-4fff-bfff-ffffffffffff\","
                       "\"id_regiao\":\"SP\",\"modalidade_pagamento\":\"PIX\","
                       "\"data_horario\":1718892191123,\"valor_transacao\":123.40}";
    assert_string_equal(buf, want);
    assert_int_equal(len, (int)strlen(want));
    check_encoded(&t, buf, len);
}

static void test_extremes(void **state)
{
    rng_t r;
    rng_seed(&r, 5, 77);
    char buf[JSON_ENCODE_TXN_MAX];
    static const int64_t amounts[] = {
        0, 1, 9, 10, 99, 100, 101, 1000, 100000000000LL, MONEY_MAX_CENTS};
    for (size_t a = 0; a < sizeof amounts / sizeof amounts[0]; a++) {
        for (int reg = 0; reg < REGION_COUNT; reg++) {
            for (int mod = 0; mod < MOD_COUNT; mod++) {
                txn_t t;
                random_txn(&r, &t, 0);
                t.amount_cents = amounts[a];
                t.region = (uint8_t)reg;
                t.modality = (uint8_t)mod;
                t.time_us = (a % 2) ? 0 : 253402300799999LL * 1000; /* 1970 and year 9999 */
                int len = json_encode_txn(&t, buf, sizeof buf);
                check_encoded(&t, buf, len);
            }
        }
    }
}

static void test_small_buffer(void **state)
{
    txn_t t;
    memset(&t, 0, sizeof t);
    char buf[JSON_ENCODE_TXN_MAX];
    memset(buf, 'x', sizeof buf);
    assert_int_equal(json_encode_txn(&t, buf, JSON_ENCODE_TXN_MAX - 1), -1);
    assert_int_equal(buf[0], 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_text),
        cmocka_unit_test(test_random_transactions),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
